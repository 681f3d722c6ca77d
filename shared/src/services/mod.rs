//! The workflows, written once and called by every function: one module each for upload
//! (initiate, confirm, proxied save), download (read a file, sign its URL), delete and search.
//! Each workflow holds only the capabilities it calls, so a function's binary links only
//! those. They take a [`Caller`](crate::auth::Caller) and domain input and return serialisable
//! views or a [`ServiceError`], which says what happened in the domain's terms; what that means
//! in HTTP is decided in [`crate::error`] alone.

mod confirm;
mod declaration;
mod delete;
mod download;
mod multipart;
mod search;
mod sign_request;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use confirm::{ConfirmUpload, ConfirmUploadRequest, PartTag};
pub use delete::DeleteFile;
pub use download::ReadFile;
pub use multipart::{
    AbortUploadRequest, PartListing, SignPartsRequest, SignRequest, SignedAnswer, SignedParts, UploadParts,
};
pub use search::{SearchFiles, SearchRequest, SearchResult, SearchResults};
pub use upload::{
    Availability, InitiateUpload, InitiateUploadRequest, InitiatedUpload, Multipart, MultipartAnswer, ProxiedUpload,
    RequestedUploadMethod,
};

use crate::db::RepositoryError;
use crate::disposition::DispositionKind;
use crate::file::FileRecord;
use crate::search::SearchError;
use crate::storage::{DownloadRequest, SignDownloads, SignUrls, SignedUrl, StorageError};

/// An input field a request can get wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The file name.
    Filename,
    /// The content type.
    ContentType,
    /// The declared size.
    Size,
    /// The declared SHA-256.
    Checksum,
    /// The storage key.
    FileKey,
    /// The owning entity.
    Owner,
    /// The search words.
    Query,
    /// The page size.
    Limit,
    /// The page cursor.
    Cursor,
    /// A multipart upload's id.
    UploadId,
    /// A part number.
    PartNumber,
    /// The part size.
    PartSize,
    /// The method of a request to sign.
    Method,
}

/// What of an upload differs from its declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The size.
    Size,
    /// The content type.
    ContentType,
    /// The SHA-256.
    Checksum,
    /// A multipart upload's parts (one missing, of another size, or other than listed).
    Parts,
}

/// What a workflow could not do, in the domain's terms.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field of the request is malformed; `reason` is safe to show.
    #[error("invalid {field:?}: {reason}")]
    Invalid {
        /// Which field.
        field: Field,
        /// Why.
        reason: String,
    },
    /// The content type may not be uploaded here.
    #[error("files of type {essence} may not be uploaded")]
    TypeNotAllowed {
        /// `type/subtype`.
        essence: String,
    },
    /// The file is larger than uploads may be.
    #[error("files may be at most {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The caller's organization has no such file.
    #[error("no such file")]
    FileNotFound,
    /// The caller has no such pending upload.
    #[error("no such upload")]
    UploadNotFound,
    /// The upload's bytes are not stored yet.
    #[error("the upload's bytes are not stored yet")]
    UploadIncomplete,
    /// The file's upload is not confirmed yet.
    #[error("the file is not available yet")]
    NotAvailable,
    /// The stored bytes differ from the declaration (the upload stays pending).
    #[error("the uploaded {0:?} differs from the declaration")]
    Mismatch(Mismatch),
    /// The caller may not do this to this file.
    #[error("not permitted")]
    NotPermitted,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// Search failed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl ServiceError {
    /// `field` is malformed for `reason`, which is safe to show.
    pub fn invalid(field: Field, reason: impl Into<String>) -> Self {
        Self::Invalid { field, reason: reason.into() }
    }
}

/// A file as every route returns it: the record, and a signed download URL when the file is
/// available.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    /// The file.
    #[serde(flatten)]
    pub file: FileRecord,
    /// A signed download URL, for available files.
    pub download_url: Option<String>,
    /// When `download_url` stops working.
    pub download_url_expires_at: Option<DateTime<Utc>>,
}

impl std::ops::Deref for FileView {
    type Target = FileRecord;

    fn deref(&self) -> &FileRecord {
        &self.file
    }
}

/// Turns records into [`FileView`]s and signs downloads: what every workflow that answers with
/// a file shares. A workflow that signs downloads only holds `Views<dyn SignDownloads>`, whose
/// signer has no upload signing (nor its code in the binary).
#[derive(Debug)]
pub struct Views<S: ?Sized = dyn SignUrls> {
    signer: Arc<S>,
    expiry: Duration,
}

impl<S: ?Sized> Clone for Views<S> {
    fn clone(&self) -> Self {
        Self { signer: self.signer.clone(), expiry: self.expiry }
    }
}

impl<S: SignDownloads + ?Sized> Views<S> {
    /// Views whose URLs `signer` signs, valid for `expiry`.
    pub fn new(signer: Arc<S>, expiry: Duration) -> Self {
        Self { signer, expiry }
    }

    /// A signed download URL for `file` (available or not: callers check), served inline only
    /// when asked and the type is inert ([`DispositionKind::for_type`]).
    ///
    /// # Errors
    /// `Storage(Unavailable)` when signing needs credentials that cannot be had.
    pub async fn sign_download(
        &self,
        file: &FileRecord,
        disposition: DispositionKind,
    ) -> Result<SignedUrl, ServiceError> {
        let request = DownloadRequest {
            filename: &file.original_filename,
            disposition: disposition.for_type(&file.content_type),
            content_type: &file.content_type,
            expires_in: self.expiry,
            version: file.object_version.as_ref(),
        };
        Ok(self.signer.get_download_url(&file.file_key, &request).await?)
    }

    /// The view of `file`, with a download URL when it is available.
    ///
    /// # Errors
    /// As [`Views::sign_download`].
    pub async fn view(&self, file: FileRecord) -> Result<FileView, ServiceError> {
        let signed = match file.is_available() {
            true => Some(self.sign_download(&file, DispositionKind::Attachment).await?),
            false => None,
        };
        Ok(FileView {
            file,
            download_url_expires_at: signed.as_ref().map(|s| s.expires_at),
            download_url: signed.map(|s| s.url),
        })
    }

    /// The lifetime of every URL signed.
    pub fn expiry(&self) -> Duration {
        self.expiry
    }
}

impl Views<dyn SignUrls> {
    /// The signer (for workflows that sign uploads too).
    pub fn signer(&self) -> &Arc<dyn SignUrls> {
        &self.signer
    }
}
