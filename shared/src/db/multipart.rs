//! [`MultipartRepository`] on PostgreSQL: the `multipart_uploads` row of a pending file.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::files::{insert_file, PgFileRepository};
use super::{MultipartRecord, MultipartRepository, RepositoryError};
use crate::file::FileRecord;
use crate::storage::multipart::{PartPlan, UploadId};

// The file and its upload in one statement: both or neither.
const INSERT: &str = concat!(
    "WITH f AS (",
    insert_file!(),
    " RETURNING id) \
     INSERT INTO multipart_uploads (file_id, upload_id, part_size, part_count, checksum_crc64nvme) \
     SELECT id, $18, $19, $20, $21 FROM f"
);
const FIND: &str =
    "SELECT m.upload_id, m.part_size, m.part_count, f.size, m.checksum_crc64nvme FROM multipart_uploads m \
     JOIN stored_files f ON f.id = m.file_id WHERE m.file_id = $1";
// The first upload id used wins; every later call reads it back.
const ADOPT: &str = "WITH a AS (UPDATE multipart_uploads SET upload_id = $2 \
       WHERE file_id = $1 AND upload_id IS NULL RETURNING upload_id) \
     SELECT upload_id FROM a UNION ALL SELECT upload_id FROM multipart_uploads WHERE file_id = $1 LIMIT 1";

fn corrupt(column: &str) -> RepositoryError {
    RepositoryError::Query(format!("multipart_uploads.{column} holds a value this service never writes").into())
}

fn record_of(file_id: Uuid, row: &Row) -> Result<MultipartRecord, RepositoryError> {
    let upload_id: Option<&str> = row.get(0);
    let (part_size, count, size): (i64, i32, i64) = (row.get(1), row.get(2), row.get(3));
    let crc: Option<&str> = row.get(4);
    Ok(MultipartRecord {
        checksum_crc64nvme: crc
            .map(|c| crate::keys::Crc64::parse_base64(c).map_err(|_| corrupt("checksum_crc64nvme")))
            .transpose()?,
        file_id,
        upload_id: upload_id.map(|id| UploadId::parse(id).map_err(|_| corrupt("upload_id"))).transpose()?,
        plan: PartPlan::of_record(
            u64::try_from(size).map_err(|_| corrupt("size"))?,
            u64::try_from(part_size).map_err(|_| corrupt("part_size"))?,
            u32::try_from(count).map_err(|_| corrupt("part_count"))?,
        ),
    })
}

#[async_trait]
impl MultipartRepository for PgFileRepository {
    #[tracing::instrument(skip_all, fields(file_id = %file.id))]
    async fn insert_multipart(&self, file: &FileRecord, upload: &MultipartRecord) -> Result<(), RepositoryError> {
        let upload_id = upload.upload_id.as_ref().map(UploadId::as_str);
        let part_size = i64::try_from(upload.plan.part_size).map_err(|_| corrupt("part_size"))?;
        let count = i32::try_from(upload.plan.count).map_err(|_| corrupt("part_count"))?;
        let crc = upload.checksum_crc64nvme.map(|c| c.to_base64());
        self.insert_file(INSERT, file, &[&upload_id, &part_size, &count, &crc]).await
    }

    #[tracing::instrument(skip(self))]
    async fn find_multipart(&self, file_id: Uuid) -> Result<Option<MultipartRecord>, RepositoryError> {
        self.query_opt(FIND, &[&file_id]).await?.map(|row| record_of(file_id, &row)).transpose()
    }

    #[tracing::instrument(skip(self, upload_id))]
    async fn adopt_upload(&self, file_id: Uuid, upload_id: &UploadId) -> Result<Option<UploadId>, RepositoryError> {
        let row = self.query_opt(ADOPT, &[&file_id, &upload_id.as_str()]).await?;
        Ok(row
            .and_then(|row| row.get::<_, Option<String>>(0))
            .map(|id| UploadId::parse(&id).map_err(|_| corrupt("upload_id")))
            .transpose()?)
    }
}
