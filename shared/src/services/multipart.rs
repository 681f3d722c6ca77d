//! The multipart routes: signing part URLs in batches, listing what is stored to resume,
//! aborting, and `sign-request`, which signs any one S3 request of an upload for a client that
//! speaks S3 itself (Uppy's `@uppy/aws-s3` asks through its `signRequest` hook). Every
//! signature is scoped to the caller's own pending upload: another caller's key or upload id is
//! 404, as a key that was never issued.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::upload::Multipart;
use super::{Field, ServiceError, Views};
use crate::auth::Caller;
use crate::config::UploadSettings;
use crate::db::FileRepository;
use crate::file::{FileRecord, FileStatus, OwnerEntity, StorageLocation};
use crate::keys::FileKey;
use crate::outbox::{hand_over, IndexQueue};
use crate::storage::multipart::{MultipartOp, PartPlan, UploadId, UploadedPart, MAX_PARTS_PER_SIGNING};
use crate::storage::{ObjectStore, StorageError};

/// `POST /files/upload-parts` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignPartsRequest {
    /// The upload's key.
    pub file_key: String,
    /// The upload's id.
    pub upload_id: String,
    /// The parts to sign (up to 1,000); by default the first 1,000.
    #[serde(default)]
    pub part_numbers: Option<Vec<i64>>,
}

/// One signed part.
#[derive(Debug, Clone, Serialize)]
pub struct SignedPart {
    /// Its number.
    pub part_number: u32,
    /// The URL to PUT it to.
    pub url: String,
    /// Headers the PUT must carry, exactly.
    pub headers: BTreeMap<String, String>,
}

/// The answer to `POST /files/upload-parts`.
#[derive(Debug, Clone, Serialize)]
pub struct SignedParts {
    /// The upload's id.
    pub upload_id: UploadId,
    /// Bytes in each part but the last.
    pub part_size: u64,
    /// Parts in all.
    pub part_count: u32,
    /// The signed parts, in the order asked.
    pub parts: Vec<SignedPart>,
    /// When the URLs stop working.
    pub expires_at: DateTime<Utc>,
}

/// The answer to `GET /files/upload-parts`.
#[derive(Debug, Clone, Serialize)]
pub struct PartListing {
    /// The upload's id.
    pub upload_id: UploadId,
    /// Bytes in each part but the last.
    pub part_size: u64,
    /// Parts in all.
    pub part_count: u32,
    /// The parts stored so far.
    pub parts: Vec<UploadedPart>,
}

/// `POST /files/abort-upload` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortUploadRequest {
    /// The upload's key.
    pub file_key: String,
    /// The upload's id (multipart uploads); checked when given.
    #[serde(default)]
    pub upload_id: Option<String>,
}

/// `POST /files/sign-request` body: one S3 request of an upload, as Uppy's `signRequest` hook
/// describes it, with the file's declaration for the requests that start an upload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// `PUT`, `POST`, `GET` or `DELETE`.
    pub method: String,
    /// The object key: the upload's, or (starting one) whatever the client proposes, ignored.
    pub key: String,
    /// The multipart upload's id.
    #[serde(default, alias = "uploadId")]
    pub upload_id: Option<String>,
    /// The part's number (an `UploadPart`).
    #[serde(default, alias = "partNumber")]
    pub part_number: Option<i64>,
    /// The content type (starting an upload).
    #[serde(default, alias = "contentType")]
    pub content_type: Option<String>,
    /// The lifetime the client would like, in seconds; the service's own applies.
    #[serde(default, alias = "expiresIn")]
    pub expires_in: Option<serde_json::Value>,
    /// The user's file name (starting an upload).
    #[serde(default)]
    pub filename: Option<String>,
    /// The exact size (starting an upload).
    #[serde(default)]
    pub size: Option<i64>,
    /// Base64 SHA-256 of the bytes (starting an upload).
    #[serde(default)]
    pub checksum_sha256: Option<String>,
    /// Base64 CRC-64/NVME of the bytes (starting a multipart upload).
    #[serde(default)]
    pub checksum_crc64nvme: Option<String>,
    /// The business entity the file belongs to (starting an upload).
    #[serde(default)]
    pub owner: Option<OwnerEntity>,
}

/// The answer to `POST /files/sign-request`: Uppy's `PresignedResponse`.
#[derive(Debug, Clone, Serialize)]
pub struct SignedAnswer {
    /// The signed URL.
    pub url: String,
    /// Headers the request must carry (none a browser sets itself).
    pub headers: BTreeMap<String, String>,
    /// The upload's key: the object is stored under it, whatever the client proposed.
    pub key: FileKey,
    /// The file's id.
    pub file_id: Uuid,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
}

/// The multipart routes' workflow.
#[derive(Debug, Clone)]
pub struct UploadParts {
    pub(super) views: Views,
    pub(super) repo: Arc<dyn FileRepository>,
    objects: Arc<dyn ObjectStore>,
    pub(super) multipart: Multipart,
    queue: Arc<dyn IndexQueue>,
    pub(super) location: StorageLocation,
    pub(super) limits: UploadSettings,
}

/// A pending multipart upload of the caller's, with its store id.
pub(super) struct Owned {
    pub(super) file: FileRecord,
    pub(super) plan: PartPlan,
    pub(super) upload_id: UploadId,
}

impl UploadParts {
    /// The workflow over its capabilities.
    pub fn new(
        views: Views,
        repo: Arc<dyn FileRepository>,
        objects: Arc<dyn ObjectStore>,
        multipart: Multipart,
        queue: Arc<dyn IndexQueue>,
        location: StorageLocation,
        limits: UploadSettings,
    ) -> Self {
        Self { views, repo, objects, multipart, queue, location, limits }
    }

    /// The caller's own pending file under `key` (anyone else's, or none, is 404).
    async fn pending_file(&self, caller: &Caller, key: &str) -> Result<FileRecord, ServiceError> {
        let key = FileKey::parse(key).map_err(|e| ServiceError::invalid(Field::FileKey, e))?;
        self.repo
            .find_by_key(&caller.org_id, &key)
            .await?
            .filter(|file| file.uploaded_by == caller.user_id && file.status == FileStatus::Pending)
            .ok_or(ServiceError::UploadNotFound)
    }

    /// The caller's pending multipart upload under `key` with id `upload_id`. An upload the
    /// client created itself (with a signed create) is recorded the first time its id comes
    /// back, once the store confirms it is an upload of this key.
    pub(super) async fn owned(&self, caller: &Caller, key: &str, upload_id: &str) -> Result<Owned, ServiceError> {
        let upload_id = UploadId::parse(upload_id).map_err(|e| ServiceError::invalid(Field::UploadId, e))?;
        let file = self.pending_file(caller, key).await?;
        let record = self.multipart.repo.find_multipart(file.id).await?.ok_or(ServiceError::UploadNotFound)?;
        let recorded = match record.upload_id {
            Some(recorded) => recorded,
            None => {
                match self.multipart.store.list_parts(&file.file_key, &upload_id).await {
                    Ok(_) => {}
                    Err(StorageError::NotFound) => return Err(ServiceError::UploadNotFound),
                    Err(e) => return Err(e.into()),
                }
                match self.multipart.repo.adopt_upload(file.id, &upload_id).await? {
                    Some(adopted) => adopted,
                    // Adopted by a concurrent call this statement could not see: read it back.
                    None => self
                        .multipart
                        .repo
                        .find_multipart(file.id)
                        .await?
                        .and_then(|r| r.upload_id)
                        .ok_or(ServiceError::UploadNotFound)?,
                }
            }
        };
        if recorded != upload_id {
            return Err(ServiceError::UploadNotFound);
        }
        Ok(Owned { file, plan: record.plan, upload_id })
    }

    /// Signs part URLs of the caller's upload, each bound to its upload, number and exact size.
    ///
    /// # Errors
    /// `Invalid` for a malformed key, id or part number (or more than 1,000);
    /// `UploadNotFound` when the caller has no such pending upload; `Storage`/`Repository`.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn sign_parts(&self, caller: &Caller, request: SignPartsRequest) -> Result<SignedParts, ServiceError> {
        let numbers = match &request.part_numbers {
            Some(numbers) if numbers.is_empty() || numbers.len() > MAX_PARTS_PER_SIGNING => {
                return Err(ServiceError::invalid(
                    Field::PartNumber,
                    format!("part_numbers must list 1 to {MAX_PARTS_PER_SIGNING} parts"),
                ))
            }
            Some(numbers) => Some(numbers.clone()),
            None => None,
        };
        let owned = self.owned(caller, &request.file_key, &request.upload_id).await?;
        let numbers: Vec<u32> = match numbers {
            Some(numbers) => numbers.iter().map(|&n| part_number(&owned.plan, n)).collect::<Result<_, _>>()?,
            None => (1..=owned.plan.count.min(MAX_PARTS_PER_SIGNING as u32)).collect(),
        };
        let ops: Vec<MultipartOp<'_>> = numbers
            .iter()
            .map(|&number| MultipartOp::Part {
                upload_id: &owned.upload_id,
                number,
                size: owned.plan.part_len(number).unwrap_or_default(),
            })
            .collect();
        let (signed, expires_at) =
            self.views.signer().sign_multipart(&owned.file.file_key, &ops, self.views.expiry()).await?;
        let parts = numbers
            .into_iter()
            .zip(signed)
            .map(|(part_number, s)| SignedPart { part_number, url: s.url, headers: s.headers })
            .collect();
        Ok(SignedParts {
            upload_id: owned.upload_id,
            part_size: owned.plan.part_size,
            part_count: owned.plan.count,
            parts,
            expires_at,
        })
    }

    /// The parts of the caller's upload stored so far, to resume after a reload or a crash.
    ///
    /// # Errors
    /// As [`UploadParts::sign_parts`].
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn list_parts(&self, caller: &Caller, key: &str, upload_id: &str) -> Result<PartListing, ServiceError> {
        let owned = self.owned(caller, key, upload_id).await?;
        let parts = match self.multipart.store.list_parts(&owned.file.file_key, &owned.upload_id).await {
            Ok(parts) => parts,
            Err(StorageError::NotFound) => return Err(ServiceError::UploadNotFound),
            Err(e) => return Err(e.into()),
        };
        Ok(PartListing {
            upload_id: owned.upload_id,
            part_size: owned.plan.part_size,
            part_count: owned.plan.count,
            parts,
        })
    }

    /// Abandons the caller's pending upload: its multipart upload is aborted (its parts go),
    /// and its row is deleted, so its key can never be confirmed. Safe to repeat: an upload that
    /// is gone already is 404.
    ///
    /// # Errors
    /// As [`UploadParts::sign_parts`].
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn abort(&self, caller: &Caller, request: AbortUploadRequest) -> Result<(), ServiceError> {
        let (file, upload_id) = match request.upload_id.as_deref() {
            Some(upload_id) => {
                let owned = self.owned(caller, &request.file_key, upload_id).await?;
                (owned.file, Some(owned.upload_id))
            }
            None => {
                let file = self.pending_file(caller, &request.file_key).await?;
                let recorded = self.multipart.repo.find_multipart(file.id).await?.and_then(|r| r.upload_id);
                (file, recorded)
            }
        };
        if let Some(upload_id) = &upload_id {
            self.multipart.store.abort_multipart(&file.file_key, upload_id).await?;
        }
        // A single PUT's bytes, if any were sent: the delete leaves a tombstone where the store
        // keeps one, so the signed URL cannot bring them back.
        self.objects.delete_file(&file.file_key).await?;
        if let Some(queued) = self.repo.delete(&file.organization_id, file.id).await? {
            hand_over(self.queue.as_ref(), &queued).await;
        }
        tracing::info!(file_id = %file.id, "upload aborted");
        Ok(())
    }
}

/// A part number of `plan`, checked.
pub(super) fn part_number(plan: &PartPlan, raw: i64) -> Result<u32, ServiceError> {
    u32::try_from(raw).ok().filter(|&n| plan.part_len(n).is_some()).ok_or_else(|| {
        ServiceError::invalid(Field::PartNumber, format!("part numbers of this upload are 1 to {}", plan.count))
    })
}

/// The signed headers a browser's script sends itself: `Content-Length` (and `Host`) are the
/// browser's own, and it sends the exact length of the body it was given.
pub(super) fn browser_headers(headers: BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .into_iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("host"))
        .collect()
}
