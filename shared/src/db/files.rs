//! [`FileRepository`] on PostgreSQL: file records to rows and back. The only place a
//! [`FileRecord`] becomes columns.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::outbox::queued_of;
use super::pool::{classify, DbPool};
use super::{ConfirmOutcome, Confirmed, FileRepository, KeyState, Queued, RepositoryError, Verified};
use crate::config::StorageBackendKind;
use crate::file::{FileRecord, FileStatus, ObjectVersion, OwnerEntity};
use crate::keys::{Checksum, ContentType, FileKey, OriginalFilename};

/// The columns of a file record, in the order [`record_of`] reads them (prefixed with a table
/// alias when given).
macro_rules! columns {
    () => {
        "id, file_key, original_filename, content_type, size, checksum_sha256, status, storage_backend, \
         bucket_name, uploaded_by, organization_id, owner_entity_type, owner_entity_id, created_at, updated_at, \
         confirmed_at, object_version"
    };
    (f) => {
        "f.id, f.file_key, f.original_filename, f.content_type, f.size, f.checksum_sha256, f.status, \
         f.storage_backend, f.bucket_name, f.uploaded_by, f.organization_id, f.owner_entity_type, \
         f.owner_entity_id, f.created_at, f.updated_at, f.confirmed_at, f.object_version"
    };
}
pub(super) use columns;

/// The insert of a file record's columns from `$1` to `$17` (what [`PgFileRepository::insert_file`]
/// binds), also the first part of longer statements.
macro_rules! insert_file {
    () => {
        "INSERT INTO stored_files (id, file_key, original_filename, content_type, size, \
         checksum_sha256, status, storage_backend, bucket_name, uploaded_by, organization_id, owner_entity_type, \
         owner_entity_id, created_at, updated_at, confirmed_at, object_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    };
}
pub(super) use insert_file;

const INSERT: &str = insert_file!();
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM stored_files WHERE id = $1 AND organization_id = $2");
const BY_KEY: &str = concat!("SELECT ", columns!(), " FROM stored_files WHERE file_key = $1 AND organization_id = $2");
// The row lock taken by UPDATE serialises concurrent confirms: one moves the row, the others
// find it no longer pending and read it back.
// The outbox entry is written by the same statement: the change and its way to the index commit
// together. The entry's id and key come first, the file's columns from the third on.
const MARK_AVAILABLE: &str = concat!(
    "WITH f AS (UPDATE stored_files SET status = 'available', size = $3, \
       checksum_sha256 = COALESCE($4, checksum_sha256), object_version = $5, confirmed_at = now(), \
       updated_at = now() \
     WHERE id = $1 AND organization_id = $2 AND status = 'pending' RETURNING *), \
     q AS (INSERT INTO index_outbox (file_key) SELECT file_key FROM f RETURNING id, file_key) \
     SELECT q.id, q.file_key, ",
    columns!(f),
    " FROM f JOIN q ON q.file_key = f.file_key"
);
const DELETE: &str = "WITH gone AS (DELETE FROM stored_files WHERE id = $1 AND organization_id = $2 \
     RETURNING file_key) \
     INSERT INTO index_outbox (file_key) SELECT file_key FROM gone RETURNING id, file_key";
const MANY: &str = concat!("SELECT ", columns!(), " FROM stored_files WHERE id = ANY($1) AND organization_id = $2");
const LIST_AVAILABLE: &str =
    concat!("SELECT ", columns!(), " FROM stored_files WHERE status = 'available' AND id > $1 ORDER BY id LIMIT $2");
const EXPIRE_PENDING: &str = concat!(
    "WITH f AS (UPDATE stored_files SET status = 'expired', updated_at = now() \
       WHERE id IN (SELECT id FROM stored_files \
                    WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1) \
                    ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
       RETURNING *) \
     SELECT ",
    columns!(f),
    " FROM f"
);
const COUNT_AVAILABLE: &str = "SELECT count(*) FROM stored_files WHERE status = 'available'";
// One index lookup per key (LATERAL ... LIMIT 1 keeps the planner from hashing whole tables when
// their statistics lag behind a burst of inserts).
const KEY_STATES: &str = "SELECT k.file_key, f.status, f.object_version, s.version \
     FROM unnest($1::text[]) WITH ORDINALITY AS k(file_key, ord) \
     LEFT JOIN LATERAL (SELECT status, object_version FROM stored_files WHERE file_key = k.file_key LIMIT 1) f \
       ON true \
     LEFT JOIN LATERAL (SELECT version FROM index_state WHERE file_key = k.file_key LIMIT 1) s ON true \
     ORDER BY k.ord";
// Key order on the unique index of file_key: each page starts where the last ended. The bound
// is always given ('' before the first key; `$1 IS NULL OR ...` would keep the planner from the
// index and sort the whole table for every page).
const AVAILABLE_AFTER: &str = "SELECT f.file_key, f.status, f.object_version, s.version \
     FROM stored_files f \
     LEFT JOIN LATERAL (SELECT version FROM index_state WHERE file_key = f.file_key LIMIT 1) s ON true \
     WHERE f.status = 'available' AND f.file_key > $1 \
       AND COALESCE(f.confirmed_at, f.updated_at) < now() - make_interval(secs => $2) \
     ORDER BY f.file_key LIMIT $3";

/// [`FileRepository`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgFileRepository {
    pool: Arc<DbPool>,
}

impl PgFileRepository {
    /// A repository over `pool`.
    pub fn new(pool: Arc<DbPool>) -> Self {
        Self { pool }
    }

    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, RepositoryError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await.map_err(classify)?;
        client.query(&statement, params).await.map_err(classify)
    }

    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, RepositoryError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await.map_err(classify)?;
        client.query_opt(&statement, params).await.map_err(classify)
    }

    async fn record(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<FileRecord>, RepositoryError> {
        self.query_opt(sql, params).await?.as_ref().map(record_of).transpose()
    }
}

fn corrupt(column: &str, value: &str) -> RepositoryError {
    RepositoryError::Query(format!("stored_files.{column} holds `{value}`, which this service never writes").into())
}

fn size_of(size: u64) -> Result<i64, RepositoryError> {
    i64::try_from(size).map_err(|_| RepositoryError::Query(format!("size {size} does not fit a bigint").into()))
}

/// The record of a row read with [`columns!`] (from column `offset` on).
pub(super) fn record_of_at(row: &Row, offset: usize) -> Result<FileRecord, RepositoryError> {
    let text = |i: usize| -> String { row.get(offset + i) };
    // Columns that are parsed are borrowed from the row, not copied first.
    let borrowed = |i: usize| -> &str { row.get(offset + i) };
    let (key, content_type, status, backend) = (borrowed(1), borrowed(3), borrowed(6), borrowed(7));
    let checksum: Option<&str> = row.get(offset + 5);
    let size: i64 = row.get(offset + 4);
    let owner = match (row.get::<_, Option<String>>(offset + 11), row.get::<_, Option<String>>(offset + 12)) {
        (Some(entity_type), Some(id)) => Some(OwnerEntity { entity_type, id }),
        _ => None,
    };
    Ok(FileRecord {
        id: row.get(offset),
        file_key: FileKey::parse(key).map_err(|_| corrupt("file_key", key))?,
        original_filename: OriginalFilename::from_stored(text(2)),
        content_type: ContentType::parse(content_type).map_err(|_| corrupt("content_type", content_type))?,
        size: u64::try_from(size).map_err(|_| corrupt("size", &size.to_string()))?,
        checksum_sha256: checksum
            .map(|c| Checksum::parse_base64(c).map_err(|_| corrupt("checksum_sha256", c)))
            .transpose()?,
        status: FileStatus::parse(status).ok_or_else(|| corrupt("status", status))?,
        storage_backend: StorageBackendKind::parse(backend).ok_or_else(|| corrupt("storage_backend", backend))?,
        bucket_name: row.get(offset + 8),
        uploaded_by: text(9),
        organization_id: text(10),
        owner,
        created_at: row.get(offset + 13),
        updated_at: row.get(offset + 14),
        confirmed_at: row.get(offset + 15),
        object_version: ObjectVersion::from_store(row.get(offset + 16)),
    })
}

fn record_of(row: &Row) -> Result<FileRecord, RepositoryError> {
    record_of_at(row, 0)
}

/// A row `(file_key, status, object_version, index version)`.
fn key_state_of(row: &Row) -> Result<KeyState, RepositoryError> {
    let key: &str = row.get(0);
    let status: Option<&str> = row.get(1);
    Ok(KeyState {
        file_key: FileKey::parse(key).map_err(|_| corrupt("file_key", key))?,
        status: status.map(|s| FileStatus::parse(s).ok_or_else(|| corrupt("status", s))).transpose()?,
        object_version: ObjectVersion::from_store(row.get(2)),
        index_version: row.get(3),
    })
}

impl PgFileRepository {
    /// Runs `sql`, an insert of `file` into `$1` to `$17` ([`INSERT`]'s parameters), with
    /// `extra` as `$18` on.
    pub(super) async fn insert_file(
        &self,
        sql: &str,
        file: &FileRecord,
        extra: &[&(dyn ToSql + Sync)],
    ) -> Result<(), RepositoryError> {
        let checksum = file.checksum_sha256.map(|c| c.to_base64());
        let owner = file.owner.as_ref();
        let size = size_of(file.size)?;
        let (entity_type, entity_id) = (owner.map(|o| o.entity_type.as_str()), owner.map(|o| o.id.as_str()));
        let version = file.object_version.as_ref().map(ObjectVersion::as_str);
        let (key, name, content_type) =
            (file.file_key.as_str(), file.original_filename.as_str(), file.content_type.as_str());
        let (status, backend) = (file.status.as_str(), file.storage_backend.as_str());
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &file.id,
            &key,
            &name,
            &content_type,
            &size,
            &checksum,
            &status,
            &backend,
            &file.bucket_name,
            &file.uploaded_by,
            &file.organization_id,
            &entity_type,
            &entity_id,
            &file.created_at,
            &file.updated_at,
            &file.confirmed_at,
            &version,
        ];
        params.extend_from_slice(extra);
        self.query(sql, &params).await?;
        Ok(())
    }
}

#[async_trait]
impl FileRepository for PgFileRepository {
    #[tracing::instrument(skip_all, fields(file_id = %file.id))]
    async fn insert(&self, file: &FileRecord) -> Result<(), RepositoryError> {
        self.insert_file(INSERT, file, &[]).await
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_id(&self, org_id: &str, id: Uuid) -> Result<Option<FileRecord>, RepositoryError> {
        self.record(BY_ID, &[&id, &org_id]).await
    }

    #[tracing::instrument(skip(self), fields(key = %key))]
    async fn find_by_key(&self, org_id: &str, key: &FileKey) -> Result<Option<FileRecord>, RepositoryError> {
        self.record(BY_KEY, &[&key.as_str(), &org_id]).await
    }

    #[tracing::instrument(skip(self, verified))]
    async fn mark_available(&self, org_id: &str, id: Uuid, verified: &Verified) -> Result<Confirmed, RepositoryError> {
        let checksum = verified.checksum.map(|c| c.to_base64());
        let size = size_of(verified.size)?;
        let version = verified.version.as_ref().map(ObjectVersion::as_str);
        if let Some(row) = self.query_opt(MARK_AVAILABLE, &[&id, &org_id, &size, &checksum, &version]).await? {
            let queued = queued_of(&row, 0)?;
            return Ok(Some(ConfirmOutcome::Confirmed { file: record_of_at(&row, 2)?, queued }));
        }
        Ok(self.record(BY_ID, &[&id, &org_id]).await?.map(ConfirmOutcome::AlreadyAvailable))
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, org_id: &str, id: Uuid) -> Result<Option<Queued>, RepositoryError> {
        self.query_opt(DELETE, &[&id, &org_id]).await?.map(|row| queued_of(&row, 0)).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn expire_pending(
        &self,
        older_than: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<FileRecord>, RepositoryError> {
        let seconds = older_than.as_secs_f64();
        self.query(EXPIRE_PENDING, &[&seconds, &limit]).await?.iter().map(record_of).collect()
    }

    #[tracing::instrument(skip(self, ids), fields(ids = ids.len()))]
    async fn find_many(&self, org_id: &str, ids: &[Uuid]) -> Result<Vec<FileRecord>, RepositoryError> {
        self.query(MANY, &[&ids, &org_id]).await?.iter().map(record_of).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn list_available(&self, after: Option<Uuid>, limit: i64) -> Result<Vec<FileRecord>, RepositoryError> {
        // The nil id sorts before every generated one: a bound the index can range over.
        let after = after.unwrap_or_else(Uuid::nil);
        self.query(LIST_AVAILABLE, &[&after, &limit]).await?.iter().map(record_of).collect()
    }

    async fn count_available(&self) -> Result<i64, RepositoryError> {
        let row = self.query_opt(COUNT_AVAILABLE, &[]).await?;
        Ok(row.map(|r| r.get(0)).unwrap_or(0))
    }

    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    async fn key_states(&self, keys: &[FileKey]) -> Result<Vec<KeyState>, RepositoryError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = keys.iter().map(FileKey::as_str).collect();
        self.query(KEY_STATES, &[&keys]).await?.iter().map(key_state_of).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn available_after(
        &self,
        after: Option<&FileKey>,
        settled: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<KeyState>, RepositoryError> {
        let after = after.map_or("", FileKey::as_str);
        let rows = self.query(AVAILABLE_AFTER, &[&after, &settled.as_secs_f64(), &limit]).await?;
        rows.iter().map(key_state_of).collect()
    }
}
