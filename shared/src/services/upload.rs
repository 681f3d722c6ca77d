//! Uploads: initiate (a pending file and a signed upload), confirm (verify the stored bytes,
//! make the file available) and the proxied save (the seed's local flow).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::declaration::{declaration, name_and_type, Planned};
use super::{FileView, ServiceError, Views};
use crate::auth::Caller;
use crate::config::{UploadSettings, LAMBDA_MAX_BODY_BYTES};
use crate::db::{ConfirmOutcome, FileRepository, MultipartRecord, MultipartRepository, Verified};
use crate::file::{FileRecord, FileStatus, NewFile, OwnerEntity, StorageLocation};
use crate::keys::FileKey;
use crate::outbox::{hand_over, IndexQueue};
use crate::storage::multipart::{MultipartStore, UploadId};
use crate::storage::{
    ByteStream, ObjectStore, PutConstraints, SignDownloads, StorageError, UploadGrantRequest, UploadMethod,
};

/// `POST /files/initiate-upload` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitiateUploadRequest {
    /// The user's file name.
    pub filename: String,
    /// The content type the bytes will be sent with.
    pub content_type: String,
    /// The exact size in bytes.
    pub size: i64,
    /// Base64 SHA-256 of the bytes, binding the upload to them.
    #[serde(default)]
    pub checksum_sha256: Option<String>,
    /// The business entity the file belongs to.
    #[serde(default)]
    pub owner: Option<OwnerEntity>,
    /// `put`: a pre-signed PUT; `post`: a browser form POST with a signed policy; `multipart`:
    /// numbered parts. Unset: `multipart` above `UPLOAD_MULTIPART_ABOVE_BYTES` or with a
    /// `part_size`, else `put`.
    #[serde(default)]
    pub upload_method: Option<RequestedUploadMethod>,
    /// The size of each part but the last (multipart), 5 MiB to 5 GiB; by default the smallest
    /// S3 allows for the file.
    #[serde(default)]
    pub part_size: Option<i64>,
    /// Base64 CRC-64/NVME of the whole file (multipart uploads): the full-object checksum S3
    /// keeps of a multipart object, checked at confirm-upload without reading the object back.
    #[serde(default)]
    pub checksum_crc64nvme: Option<String>,
}

/// The `upload_method` of initiate-upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestedUploadMethod {
    /// A pre-signed PUT.
    #[default]
    Put,
    /// A browser form POST.
    Post,
    /// A multipart upload.
    Multipart,
}

/// The answer to initiate-upload: where and how to send the bytes.
#[derive(Debug, Clone, Serialize)]
pub struct InitiatedUpload {
    /// The new file's id.
    pub file_id: Uuid,
    /// The key to confirm afterwards.
    pub file_key: FileKey,
    /// The HTTP method to send the bytes with (`MULTIPART`: sign the parts with
    /// `POST /files/upload-parts`).
    pub method: UploadMethod,
    /// The signed URL (PUT and POST).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Headers the request must carry, exactly (PUT).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The multipart upload: its id, part size and part count.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub multipart: Option<MultipartAnswer>,
    /// Form fields to send before the file, which goes last in a field named `file` (POST).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
}

/// What initiate-upload answers of a multipart upload.
#[derive(Debug, Clone, Serialize)]
pub struct MultipartAnswer {
    /// The store's upload id.
    pub upload_id: UploadId,
    /// Bytes in each part but the last.
    pub part_size: u64,
    /// Parts in all.
    pub part_count: u32,
}

/// initiate-upload: signs uploads and records pending files.
#[derive(Debug, Clone)]
pub struct InitiateUpload {
    views: Views,
    repo: Arc<dyn FileRepository>,
    multipart: Multipart,
    location: StorageLocation,
    limits: UploadSettings,
}

/// The multipart side of the workflows that start or finish uploads: the uploads' rows and the
/// store's side (confirm-upload's: `Multipart<dyn CompleteMultipart>`, completion only).
#[derive(Debug)]
pub struct Multipart<S: ?Sized = dyn MultipartStore> {
    /// The rows.
    pub repo: Arc<dyn MultipartRepository>,
    /// The store.
    pub store: Arc<S>,
}

impl<S: ?Sized> Clone for Multipart<S> {
    fn clone(&self) -> Self {
        Self { repo: self.repo.clone(), store: self.store.clone() }
    }
}

impl InitiateUpload {
    /// The workflow over its capabilities.
    pub fn new(
        views: Views,
        repo: Arc<dyn FileRepository>,
        multipart: Multipart,
        location: StorageLocation,
        limits: UploadSettings,
    ) -> Self {
        Self { views, repo, multipart, location, limits }
    }

    /// Starts a multipart upload in the store and records it with its pending file.
    async fn initiate_multipart(
        &self,
        caller: &Caller,
        file: NewFile,
        planned: Planned,
    ) -> Result<InitiatedUpload, ServiceError> {
        let plan = planned.plan;
        let upload_id = self.multipart.store.create_multipart(&file.key, &file.content_type).await?;
        let record = FileRecord::new(caller, &self.location, file, FileStatus::Pending);
        let upload = MultipartRecord {
            file_id: record.id,
            upload_id: Some(upload_id.clone()),
            plan: planned.plan,
            checksum_crc64nvme: planned.crc,
        };
        if let Err(e) = self.multipart.repo.insert_multipart(&record, &upload).await {
            // Nothing refers to the upload: its parts would be kept for nothing.
            if let Err(abort) = self.multipart.store.abort_multipart(&record.file_key, &upload_id).await {
                tracing::warn!(error = %abort, "could not abort the upload of a file that was not recorded");
            }
            return Err(e.into());
        }
        tracing::info!(file_id = %record.id, parts = plan.count, "multipart upload initiated");
        let seconds = i64::try_from(self.limits.pending_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        Ok(InitiatedUpload {
            file_id: record.id,
            file_key: record.file_key,
            method: UploadMethod::Multipart,
            url: String::new(),
            headers: BTreeMap::new(),
            multipart: Some(MultipartAnswer { upload_id, part_size: plan.part_size, part_count: plan.count }),
            fields: BTreeMap::new(),
            // Parts are signed as they are sent; the upload itself lasts until it expires.
            expires_at: record.created_at + chrono::Duration::seconds(seconds),
        })
    }

    /// Validates the request, records a `pending` file owned by the caller, and returns a
    /// signed upload bound to the declared type, size and checksum. Each call creates a new file.
    ///
    /// # Errors
    /// `Invalid`, `TooLarge` or `TypeNotAllowed` for bad input; `Storage`/`Repository` when a
    /// dependency fails.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn initiate_upload(
        &self,
        caller: &Caller,
        request: InitiateUploadRequest,
    ) -> Result<InitiatedUpload, ServiceError> {
        let (file, method, plan) = declaration(&self.limits, request)?;
        let method = match (method, plan) {
            (RequestedUploadMethod::Multipart, Some(planned)) => {
                return self.initiate_multipart(caller, file, planned).await;
            }
            (RequestedUploadMethod::Post, _) => UploadMethod::Post,
            _ => UploadMethod::Put,
        };
        let grant = UploadGrantRequest {
            method,
            content_type: file.content_type.clone(),
            size: file.size,
            checksum_sha256: file.checksum,
            expires_in: self.views.expiry(),
        };
        let target = self.views.signer().get_presigned_upload_url(&file.key, &grant).await?;
        let record = FileRecord::new(caller, &self.location, file, FileStatus::Pending);
        self.repo.insert(&record).await?;
        tracing::info!(file_id = %record.id, "upload initiated");
        Ok(InitiatedUpload {
            file_id: record.id,
            file_key: record.file_key,
            method: target.method,
            url: target.url,
            headers: target.headers,
            multipart: None,
            fields: target.fields,
            expires_at: target.expires_at,
        })
    }
}

/// What the workflows that make a file available hold: its record, the queue that takes its
/// change to the indexer, and its answer. No text extraction and no search client: the indexer
/// does that work, apart from the request.
#[derive(Debug, Clone)]
pub struct Availability {
    /// Signs the answer's download URL.
    pub views: Views<dyn SignDownloads>,
    /// The file records.
    pub repo: Arc<dyn FileRepository>,
    /// Takes committed outbox entries to the indexer.
    pub queue: Arc<dyn IndexQueue>,
}

/// upload-local: the proxied save.
#[derive(Debug, Clone)]
pub struct ProxiedUpload {
    parts: Availability,
    objects: Arc<dyn ObjectStore>,
    location: StorageLocation,
    limits: UploadSettings,
}

impl ProxiedUpload {
    /// The workflow over its capabilities.
    pub fn new(
        parts: Availability,
        objects: Arc<dyn ObjectStore>,
        location: StorageLocation,
        limits: UploadSettings,
    ) -> Self {
        Self { parts, objects, location, limits }
    }

    /// Stores a proxied upload (the seed's local flow) and records it as available.
    ///
    /// # Errors
    /// `Invalid`/`TooLarge`/`TypeNotAllowed` for bad input or an oversized body (nothing is
    /// stored); `Storage`/`Repository` when a dependency fails.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn upload_proxied(
        &self,
        caller: &Caller,
        filename: &str,
        content_type: &str,
        body: ByteStream,
    ) -> Result<FileView, ServiceError> {
        let (filename, content_type) = name_and_type(&self.limits, filename, content_type)?;
        let key = FileKey::generate(&filename);
        let limit = self.limits.max_size_bytes.min(LAMBDA_MAX_BODY_BYTES);
        let constraints = PutConstraints {
            content_type: content_type.clone(),
            exact_size: None,
            max_size: limit,
            checksum_sha256: None,
        };
        // The row first, pending: the store's event for the new object (S3) then finds a file
        // under the key, and never takes the bytes for a replay's.
        let file = NewFile { key, filename, content_type, size: 0, checksum: None, owner: None };
        let pending = FileRecord::new(caller, &self.location, file, FileStatus::Pending);
        self.parts.repo.insert(&pending).await?;
        let saved = self.objects.save_proxied_file(&pending.file_key, body, &constraints).await;
        let meta = match saved {
            Ok(meta) => meta,
            Err(e) => {
                self.forget(&pending, false).await;
                return Err(match e {
                    StorageError::TooLarge { limit } => ServiceError::TooLarge { limit },
                    other => other.into(),
                });
            }
        };
        let verified = Verified { size: meta.size, checksum: meta.checksum_sha256, version: meta.version };
        let record = match self.parts.repo.mark_available(&caller.org_id, pending.id, &verified).await {
            Ok(Some(ConfirmOutcome::Confirmed { file, queued })) => {
                hand_over(self.parts.queue.as_ref(), &queued).await;
                file
            }
            Ok(Some(ConfirmOutcome::AlreadyAvailable(record))) if record.is_available() => record,
            Ok(Some(ConfirmOutcome::AlreadyAvailable(_))) => {
                self.forget(&pending, true).await;
                return Err(ServiceError::UploadNotFound);
            }
            Ok(None) => {
                // The row went meanwhile (deleted): its bytes go too.
                self.forget(&pending, true).await;
                return Err(ServiceError::UploadNotFound);
            }
            Err(e) => {
                self.forget(&pending, true).await;
                return Err(e.into());
            }
        };
        tracing::info!(file_id = %record.id, size = record.size, "proxied upload stored");
        self.parts.views.view(record).await
    }

    /// Takes a failed proxied upload back out: its pending row, and its bytes when stored, so
    /// that nothing is orphaned. Failures are logged; the request fails with its own cause.
    async fn forget(&self, pending: &FileRecord, stored: bool) {
        if stored {
            if let Err(e) = self.objects.delete_file(&pending.file_key).await {
                tracing::warn!(error = %e, key = %pending.file_key, "could not remove the object of a failed upload");
            }
        }
        match self.parts.repo.delete(&pending.organization_id, pending.id).await {
            Ok(Some(queued)) => hand_over(self.parts.queue.as_ref(), &queued).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, key = %pending.file_key, "could not remove the row of a failed upload")
            }
        }
    }
}
