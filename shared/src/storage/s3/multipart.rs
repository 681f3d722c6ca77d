//! Multipart uploads on S3: [`MultipartStore`] over the SDK client, and the signing of the
//! requests clients send themselves (in [`super::S3UrlSigner`]).

use async_trait::async_trait;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart as SdkPart};

use super::{classify_http, S3ObjectStore};
use crate::keys::{ContentType, FileKey};
use crate::storage::multipart::{CompleteMultipart, CompletedPart, MultipartStore, UploadId, UploadedPart};
use crate::storage::StorageError;

/// Parts of one `ListParts` page, and the most pages read (10,000 parts).
const PARTS_PAGE: i32 = 1_000;
const MAX_PART_PAGES: usize = 10;

/// An upload id S3 does not know for the key, told apart from the rest of the SDK's failures.
/// ListParts and AbortMultipartUpload are requests this service builds itself: whatever else
/// they are refused for is not the client's doing.
fn classify_upload<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> StorageError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        if service.err().code() == Some("NoSuchUpload") {
            return StorageError::NotFound;
        }
    }
    classify_http(err)
}

/// As [`classify_upload`], and parts that do not make up the object (CompleteMultipartUpload:
/// the parts are the client's).
fn classify_completion<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> StorageError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        match service.err().code().unwrap_or_default() {
            "InvalidPart" => {
                return StorageError::InvalidParts("a part is missing or differs from the one listed".into())
            }
            "InvalidPartOrder" => return StorageError::InvalidParts("the parts are not in ascending order".into()),
            "EntityTooSmall" => return StorageError::InvalidParts("a part other than the last is under 5 MiB".into()),
            "BadDigest" | "InvalidRequest" if service.raw().status().as_u16() == 400 => {
                return StorageError::InvalidParts(
                    service.err().message().unwrap_or("the parts were refused").to_owned(),
                )
            }
            // A concurrent completion of the same key (S3's conditional write conflict).
            "ConditionalRequestConflict" => return StorageError::AlreadyExists,
            _ => {}
        }
    }
    classify_upload(err)
}

#[async_trait]
impl CompleteMultipart for S3ObjectStore {
    async fn list_parts(&self, key: &FileKey, upload_id: &UploadId) -> Result<Vec<UploadedPart>, StorageError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PART_PAGES {
            let page = self
                .client()
                .list_parts()
                .bucket(self.bucket())
                .key(key.as_str())
                .upload_id(upload_id.as_str())
                .max_parts(PARTS_PAGE)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(classify_upload)?;
            for part in page.parts() {
                let (Some(number), Some(etag)) = (part.part_number(), part.e_tag()) else { continue };
                parts.push(UploadedPart {
                    part_number: u32::try_from(number).unwrap_or_default(),
                    size: u64::try_from(part.size().unwrap_or_default()).unwrap_or_default(),
                    etag: etag.to_owned(),
                });
            }
            match (page.is_truncated(), page.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    async fn complete_multipart(
        &self,
        key: &FileKey,
        upload_id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        let parts = parts
            .iter()
            .map(|p| {
                SdkPart::builder()
                    .part_number(i32::try_from(p.part_number).unwrap_or(i32::MAX))
                    .e_tag(p.etag.as_str())
                    .build()
            })
            .collect();
        let mut complete = self
            .client()
            .complete_multipart_upload()
            .bucket(self.bucket())
            .key(key.as_str())
            .upload_id(upload_id.as_str())
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        if !self.overwrite() {
            complete = complete.if_none_match("*");
        }
        complete.send().await.map_err(classify_completion)?;
        Ok(())
    }
}

#[async_trait]
impl MultipartStore for S3ObjectStore {
    async fn create_multipart(&self, key: &FileKey, content_type: &ContentType) -> Result<UploadId, StorageError> {
        let created = self
            .client()
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(key.as_str())
            .content_type(content_type.as_str())
            .send()
            .await
            .map_err(classify_http)?;
        let id = created.upload_id().ok_or_else(|| StorageError::Backend("the server returned no upload id".into()))?;
        UploadId::parse(id).map_err(|e| StorageError::Backend(e.0.into()))
    }

    async fn abort_multipart(&self, key: &FileKey, upload_id: &UploadId) -> Result<(), StorageError> {
        let aborted = self
            .client()
            .abort_multipart_upload()
            .bucket(self.bucket())
            .key(key.as_str())
            .upload_id(upload_id.as_str())
            .send()
            .await
            .map_err(classify_upload);
        match aborted {
            Ok(_) | Err(StorageError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn abort_stale(&self, before: chrono::DateTime<chrono::Utc>) -> Result<usize, StorageError> {
        let mut aborted = 0;
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        for _ in 0..MAX_PART_PAGES {
            let page = self
                .client()
                .list_multipart_uploads()
                .bucket(self.bucket())
                .prefix(crate::keys::UPLOAD_PREFIX)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(classify_http)?;
            for upload in page.uploads() {
                let initiated = upload.initiated().and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0));
                let (Some(key), Some(id), Some(initiated)) = (upload.key(), upload.upload_id(), initiated) else {
                    continue;
                };
                if initiated >= before {
                    continue;
                }
                let (Ok(key), Ok(id)) = (FileKey::parse(key), UploadId::parse(id)) else { continue };
                self.abort_multipart(&key, &id).await?;
                aborted += 1;
            }
            match (page.is_truncated(), page.next_key_marker(), page.next_upload_id_marker()) {
                (Some(true), Some(key), id) => {
                    key_marker = Some(key.to_owned());
                    id_marker = id.map(str::to_owned);
                }
                _ => break,
            }
        }
        Ok(aborted)
    }
}
