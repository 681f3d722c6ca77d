//! confirm-upload: verifies that an upload is stored as declared (completing a multipart
//! upload first, create-only) and makes the file available.

use std::sync::Arc;

use serde::Deserialize;

use super::upload::{Availability, Multipart};
use super::{Field, FileView, Mismatch, ServiceError};
use crate::auth::Caller;
use crate::db::{ConfirmOutcome, Verified};
use crate::file::{FileRecord, FileStatus, ObjectVersion};
use crate::keys::{Checksum, Crc64, FileKey};
use crate::outbox::hand_over;
use crate::storage::multipart::{same_etag, CompleteMultipart, CompletedPart, PartPlan};
use crate::storage::{ObjectMeta, ReadObjects, StorageError};

/// `POST /files/confirm-upload` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmUploadRequest {
    /// The key returned by initiate-upload.
    pub file_key: String,
    /// A multipart upload's parts as their PUTs answered (number and entity tag), checked
    /// against the stored ones; by default every part stored.
    #[serde(default)]
    pub parts: Option<Vec<PartTag>>,
}

/// A part as its PUT answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartTag {
    /// Its number.
    pub part_number: u32,
    /// The `ETag` its PUT answered.
    pub etag: String,
}

/// confirm-upload: verifies stored bytes against the declaration.
#[derive(Debug, Clone)]
pub struct ConfirmUpload {
    parts: Availability,
    objects: Arc<dyn ReadObjects>,
    multipart: Multipart<dyn CompleteMultipart>,
}

impl ConfirmUpload {
    /// The workflow over its capabilities.
    pub fn new(
        parts: Availability,
        objects: Arc<dyn ReadObjects>,
        multipart: Multipart<dyn CompleteMultipart>,
    ) -> Self {
        Self { parts, objects, multipart }
    }

    /// Completes the file's multipart upload (create-only) when it has one whose object is not
    /// there yet: every part of the plan must be stored with its exact size (and, when the
    /// client listed them, the entity tags it was answered), or the file stays pending. Answers
    /// the whole file's CRC-64/NVME, when the client declared one, and the object's metadata
    /// when its HEAD found it completed already (verifying it needs no second HEAD).
    async fn complete_multipart(
        &self,
        file: &FileRecord,
        tags: Option<&[PartTag]>,
    ) -> Result<(Option<Crc64>, Option<ObjectMeta>), ServiceError> {
        let Some(upload) = self.multipart.repo.find_multipart(file.id).await? else { return Ok((None, None)) };
        let declared = upload.checksum_crc64nvme;
        // A client that never used its signed create has sent nothing yet.
        let Some(upload_id) = upload.upload_id else { return Err(ServiceError::UploadIncomplete) };
        if let Some(meta) = self.objects.head(&file.file_key).await? {
            // Completed already (by the client's own signed completion, or a retry).
            return Ok((declared, Some(meta)));
        }
        let stored = match self.multipart.store.list_parts(&file.file_key, &upload_id).await {
            Ok(stored) => stored,
            // Completed meanwhile by a concurrent confirm: the object is there now.
            Err(StorageError::NotFound) if self.objects.head(&file.file_key).await?.is_some() => {
                return Ok((declared, None))
            }
            Err(StorageError::NotFound) => return Err(ServiceError::UploadNotFound),
            Err(e) => return Err(e.into()),
        };
        let parts = parts_to_complete(&upload.plan, &stored, tags)?;
        match self.multipart.store.complete_multipart(&file.file_key, &upload_id, &parts).await {
            Ok(()) => Ok((declared, None)),
            Err(StorageError::InvalidParts(_)) => Err(ServiceError::Mismatch(Mismatch::Parts)),
            // Completed by a concurrent confirm, which won the create-only write.
            Err(StorageError::AlreadyExists | StorageError::NotFound)
                if self.objects.head(&file.file_key).await?.is_some() =>
            {
                Ok((declared, None))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Verifies that the caller's pending upload is really stored as declared (size, type,
    /// checksum) and marks it available. Only the caller who initiated the upload may. Safe to repeat and to race: every call answers with the
    /// same file.
    ///
    /// # Errors
    /// `Invalid` for a malformed key; `UploadNotFound` when the caller has no such upload (it
    /// is another user's, or another organization's, or was never issued); `UploadIncomplete` when the bytes are not there yet; `Mismatch` when they
    /// differ from what was declared (the file stays pending); `Storage`/`Repository`.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn confirm_upload(
        &self,
        caller: &Caller,
        request: ConfirmUploadRequest,
    ) -> Result<FileView, ServiceError> {
        let key = FileKey::parse(&request.file_key).map_err(|e| ServiceError::invalid(Field::FileKey, e))?;
        // Only the uploader confirms: anyone else, colleague or not, finds no such upload.
        let file = self
            .parts
            .repo
            .find_by_key(&caller.org_id, &key)
            .await?
            .filter(|file| file.uploaded_by == caller.user_id)
            // An expired upload is gone: its object was removed, its key is never confirmed.
            .filter(|file| file.status != FileStatus::Expired)
            .ok_or(ServiceError::UploadNotFound)?;
        if file.is_available() {
            return self.parts.views.view(file).await;
        }
        let (crc, seen) = self.complete_multipart(&file, request.parts.as_deref()).await?;
        let verified = self.verify(&file, crc, seen).await?;
        match self.parts.repo.mark_available(&caller.org_id, file.id, &verified).await? {
            Some(ConfirmOutcome::Confirmed { file, queued }) => {
                tracing::info!(file_id = %file.id, "upload confirmed");
                hand_over(self.parts.queue.as_ref(), &queued).await;
                self.parts.views.view(file).await
            }
            Some(ConfirmOutcome::AlreadyAvailable(file)) if file.is_available() => self.parts.views.view(file).await,
            // Expired meanwhile, or gone.
            Some(ConfirmOutcome::AlreadyAvailable(_)) | None => Err(ServiceError::UploadNotFound),
        }
    }

    /// What is stored (size, checksum, and the version download URLs will be signed for), once
    /// its size, type and checksums match `file`'s declaration (and `crc`, a multipart upload's
    /// declared CRC-64/NVME). One HEAD (or the one `seen` answered just before): the version is
    /// that of the bytes checked. A declared checksum the store does not keep is computed by
    /// reading the object back once.
    async fn verify(
        &self,
        file: &FileRecord,
        crc: Option<Crc64>,
        seen: Option<ObjectMeta>,
    ) -> Result<Verified, ServiceError> {
        let meta = match seen {
            Some(meta) => meta,
            None => self.objects.head(&file.file_key).await?.ok_or(ServiceError::UploadIncomplete)?,
        };
        if meta.size != file.size {
            return Err(ServiceError::Mismatch(Mismatch::Size));
        }
        if !file.content_type.same_as(meta.content_type.as_deref().unwrap_or_default()) {
            return Err(ServiceError::Mismatch(Mismatch::ContentType));
        }
        let unknown = (file.checksum_sha256.is_some() && meta.checksum_sha256.is_none())
            || (crc.is_some() && meta.checksum_crc64nvme.is_none());
        let (sha, stored_crc) = if unknown {
            let (sha, crc) = self.hash_object(&file.file_key, meta.version.as_ref()).await?;
            (Some(sha), Some(crc))
        } else {
            (meta.checksum_sha256, meta.checksum_crc64nvme)
        };
        if file.checksum_sha256.is_some_and(|declared| sha != Some(declared))
            || crc.is_some_and(|declared| stored_crc != Some(declared))
        {
            return Err(ServiceError::Mismatch(Mismatch::Checksum));
        }
        Ok(Verified { size: file.size, checksum: sha, version: meta.version })
    }

    /// The SHA-256 and CRC-64/NVME of one version of a stored object, read once as a stream (for
    /// objects whose store kept no such whole-object checksum).
    async fn hash_object(
        &self,
        key: &FileKey,
        version: Option<&ObjectVersion>,
    ) -> Result<(Checksum, Crc64), ServiceError> {
        use futures_util::TryStreamExt as _;
        use sha2::Digest as _;
        // The version the HEAD saw: the bytes hashed are the bytes whose size was checked.
        let mut stream = self.objects.get_version_stream(key, version).await?;
        let (mut hasher, mut crc) = (sha2::Sha256::new(), crc64fast_nvme::Digest::new());
        while let Some(chunk) = stream.try_next().await.map_err(StorageError::Io)? {
            hasher.update(&chunk);
            crc.write(&chunk);
        }
        Ok((Checksum::from_digest(hasher.finalize().into()), Crc64::from_value(crc.sum64())))
    }
}

/// The parts a completion names: every part of `plan`, stored with its exact size and, where the
/// client listed them, with the entity tag it was answered.
fn parts_to_complete(
    plan: &PartPlan,
    stored: &[crate::storage::multipart::UploadedPart],
    tags: Option<&[PartTag]>,
) -> Result<Vec<CompletedPart>, ServiceError> {
    if let Some(tags) = tags {
        if tags.len() != plan.count as usize || tags.iter().enumerate().any(|(i, t)| t.part_number as usize != i + 1) {
            return Err(ServiceError::Mismatch(Mismatch::Parts));
        }
    }
    let mut parts = Vec::with_capacity(plan.count as usize);
    for number in 1..=plan.count {
        let part = stored.iter().find(|p| p.part_number == number);
        let Some(part) = part.filter(|p| Some(p.size) == plan.part_len(number)) else {
            // Missing, or of another length than the plan's: the file is not what was declared.
            return Err(ServiceError::Mismatch(Mismatch::Parts));
        };
        if let Some(tag) = tags.and_then(|t| t.get(number as usize - 1)) {
            if !same_etag(&tag.etag, &part.etag) {
                return Err(ServiceError::Mismatch(Mismatch::Parts));
            }
        }
        parts.push(CompletedPart { part_number: number, etag: part.etag.clone() });
    }
    if stored.iter().any(|p| p.part_number > plan.count) {
        return Err(ServiceError::Mismatch(Mismatch::Parts));
    }
    Ok(parts)
}
