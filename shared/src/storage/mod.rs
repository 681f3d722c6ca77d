//! The seed's `BaseStorage`, as capabilities sized to their callers: [`SignUrls`] hands out
//! signed upload and download URLs (no I/O), [`ObjectStore`] reads, writes and deletes objects,
//! [`multipart::MultipartStore`] starts, lists, completes and aborts multipart uploads, and
//! [`ListUploads`] lists the upload prefix for the reconciler. [`local::LocalFileStorage`] is all
//! of them; on S3, [`s3::S3UrlSigner`] signs without an S3 client and [`s3::S3ObjectStore`] is
//! the client. A function holds only what it calls, so its binary links only that. The builders
//! ([`build`]) pick the backend from the storage settings.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::Serialize;

use crate::disposition::DispositionKind;
use crate::file::ObjectVersion;
use crate::keys::{Checksum, ContentType, Crc64, FileKey, OriginalFilename};

pub mod build;
pub mod local;
pub mod multipart;
pub mod s3;

pub use build::{
    build_confirmation, build_download_signer, build_multipart, build_objects, build_objects_and_listing,
    build_proxied, build_signer, build_uploads,
};

use multipart::{MultipartOp, SignedRequest};

/// A stream of file bytes; never holds the whole file.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// One object found by a listing, or one version of it (or one delete marker) where the store
/// keeps versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key.
    pub key: FileKey,
    /// The version (or delete marker) listed, where the store keeps versions.
    pub version: Option<ObjectVersion>,
    /// When it was written.
    pub modified: DateTime<Utc>,
}

/// The objects under the upload prefix, fetched page by page as the stream is read: memory
/// stays bounded whatever the count.
pub type ObjectListing = Pin<Box<dyn Stream<Item = Result<ListedObject, StorageError>> + Send>>;

/// Semantic storage failures; backend-specific errors are mapped into these.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object under the key.
    #[error("object not found")]
    NotFound,
    /// An object already exists under the key and overwriting is not allowed.
    #[error("object already exists")]
    AlreadyExists,
    /// The body is larger than allowed.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The body length differs from the declared one.
    #[error("body is {actual} bytes, {expected} declared")]
    SizeMismatch {
        /// Declared size.
        expected: u64,
        /// Received size.
        actual: u64,
    },
    /// The body does not hash to the declared checksum.
    #[error("body does not match the declared checksum")]
    ChecksumMismatch,
    /// The storage service cannot be reached or is overloaded; retrying may succeed.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The body being saved could not be read to its end (the client's stream broke off or
    /// was malformed): nothing is stored.
    #[error("the body could not be read")]
    Body(#[source] io::Error),
    /// Any other I/O failure.
    #[error("storage I/O failed")]
    Io(#[source] io::Error),
    /// The parts of a multipart upload do not make up the object as asked (one missing,
    /// another than the one listed, one too small); the reason is safe to show.
    #[error("the parts do not make up the object: {0}")]
    InvalidParts(String),
    /// The backend takes uploads by another method (the local backend: PUT only).
    #[error("upload method not supported: {0}")]
    MethodNotSupported(&'static str),
    /// The backend refused or failed in a way retrying will not fix (access denied, bad
    /// configuration); logged, answered as a 500.
    #[error("storage backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What an upload must match. The backend enforces all of it while writing.
#[derive(Debug, Clone)]
pub struct PutConstraints {
    /// The object's content type.
    pub content_type: ContentType,
    /// The body must be exactly this long, when set.
    pub exact_size: Option<u64>,
    /// The body must be at most this long.
    pub max_size: u64,
    /// The body must hash to this, when set.
    pub checksum_sha256: Option<Checksum>,
}

/// What the storage knows about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes.
    pub size: u64,
    /// The content type it was stored with, as the store reports it.
    pub content_type: Option<String>,
    /// SHA-256 of the whole object, where the backend has it.
    pub checksum_sha256: Option<Checksum>,
    /// CRC-64/NVME of the whole object, where the backend has it (S3 keeps it of every object,
    /// multipart ones too).
    pub checksum_crc64nvme: Option<Crc64>,
    /// The version of these bytes, where the store keeps versions (S3 with versioning).
    pub version: Option<ObjectVersion>,
}

/// The HTTP method a client uses to send the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum UploadMethod {
    /// A single PUT of the body to a pre-signed URL.
    #[default]
    #[serde(rename = "PUT")]
    Put,
    /// A browser form POST (multipart/form-data) with a signed policy.
    #[serde(rename = "POST")]
    Post,
    /// Numbered parts, each a PUT to its own signed URL, assembled at completion.
    #[serde(rename = "MULTIPART")]
    Multipart,
}

/// A signed upload the client performs itself.
#[derive(Debug, Clone, Serialize)]
pub struct UploadTarget {
    /// The method to use.
    pub method: UploadMethod,
    /// The signed URL.
    pub url: String,
    /// Every header the request must carry, exactly (PUT).
    pub headers: BTreeMap<String, String>,
    /// The form fields to send before the file (POST).
    pub fields: BTreeMap<String, String>,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
}

/// What an upload URL is issued for.
#[derive(Debug, Clone)]
pub struct UploadGrantRequest {
    /// PUT or POST.
    pub method: UploadMethod,
    /// Declared content type.
    pub content_type: ContentType,
    /// Declared exact size.
    pub size: u64,
    /// Declared checksum, if any.
    pub checksum_sha256: Option<Checksum>,
    /// URL lifetime.
    pub expires_in: Duration,
}

/// What a download URL serves.
#[derive(Debug, Clone, Copy)]
pub struct DownloadRequest<'a> {
    /// The user's file name, for `Content-Disposition`.
    pub filename: &'a OriginalFilename,
    /// Attachment or inline.
    pub disposition: DispositionKind,
    /// The `Content-Type` to serve.
    pub content_type: &'a ContentType,
    /// URL lifetime.
    pub expires_in: Duration,
    /// The version to serve, where the store keeps versions: the verified bytes, whatever was
    /// written under the key since.
    pub version: Option<&'a ObjectVersion>,
}

/// A signed, expiring URL.
#[derive(Debug, Clone, Serialize)]
pub struct SignedUrl {
    /// The URL; never log it.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Signs the URLs clients download with: all that the functions which only show files hold
/// (a trait object keeps every method it has, so theirs has no upload signing, and their
/// binaries none of its code). Signing needs no network (at most the credentials' provider).
#[async_trait]
pub trait SignDownloads: Send + Sync + std::fmt::Debug {
    /// A signed download URL. Safe to repeat: each call signs a new URL.
    ///
    /// # Errors
    /// `Unavailable` when signing needs credentials that cannot be had.
    async fn get_download_url(&self, key: &FileKey, request: &DownloadRequest<'_>) -> Result<SignedUrl, StorageError>;
}

/// Signs the URLs clients upload and download with. Signing needs no network (at most the
/// credentials' provider), so it works while the store itself is down.
#[async_trait]
pub trait SignUrls: SignDownloads {
    /// A signed upload bound to the declared type, size and checksum, create-only.
    ///
    /// # Errors
    /// `MethodNotSupported` for a method the backend does not take; `Unavailable` when signing
    /// needs credentials that cannot be had.
    async fn get_presigned_upload_url(
        &self,
        key: &FileKey,
        request: &UploadGrantRequest,
    ) -> Result<UploadTarget, StorageError>;

    /// Signs multipart requests for the client to send to the store itself, all with one
    /// lifetime (a batch of part URLs costs one credentials lookup).
    ///
    /// # Errors
    /// `Unavailable` when signing needs credentials that cannot be had.
    async fn sign_multipart(
        &self,
        key: &FileKey,
        ops: &[MultipartOp<'_>],
        expires_in: Duration,
    ) -> Result<(Vec<SignedRequest>, DateTime<Utc>), StorageError>;
}

/// Where object bytes live: reads, create-only writes, deletes. Implementations are built once
/// per cold start and shared.
#[async_trait]
pub trait ObjectStore: ReadObjects {
    /// Stores `body` under `key` (the proxied upload of the seed), enforcing `constraints`.
    /// Nothing is left under the key when it fails. Never overwrites.
    ///
    /// # Errors
    /// `AlreadyExists`, `TooLarge`, `SizeMismatch`, `ChecksumMismatch`, `Body` (the body
    /// stream failed), `Unavailable`, `Io`.
    async fn save_proxied_file(
        &self,
        key: &FileKey,
        body: ByteStream,
        constraints: &PutConstraints,
    ) -> Result<ObjectMeta, StorageError>;

    /// Deletes the object, every version of it where the store keeps versions, and (local)
    /// leaves a tombstone so that its upload URL cannot bring it back; deleting a missing object
    /// succeeds, so it is safe to repeat.
    ///
    /// # Errors
    /// `Unavailable` or `Io`.
    async fn delete_file(&self, key: &FileKey) -> Result<(), StorageError>;

    /// Deletes one version of the object (a store that keeps versions); a store without
    /// versions has none to delete.
    ///
    /// # Errors
    /// `Unavailable` or `Io`.
    async fn delete_version(&self, key: &FileKey, version: &ObjectVersion) -> Result<(), StorageError> {
        let _ = (key, version);
        Ok(())
    }
}

/// Reading objects: all that confirm-upload holds of the store (a trait object keeps every
/// method it has, so its binary holds no write path).
#[async_trait]
pub trait ReadObjects: Send + Sync + std::fmt::Debug {
    /// The object's bytes as a stream.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`, `Io`.
    async fn get_file_stream(&self, key: &FileKey) -> Result<ByteStream, StorageError>;

    /// The bytes of one version of the object (`None`: the current one); a store without
    /// versions reads the current one.
    ///
    /// # Errors
    /// As [`ReadObjects::get_file_stream`].
    async fn get_version_stream(
        &self,
        key: &FileKey,
        version: Option<&ObjectVersion>,
    ) -> Result<ByteStream, StorageError> {
        let _ = version;
        self.get_file_stream(key).await
    }

    /// The object's size, type and checksum, or `None` when there is no object.
    ///
    /// # Errors
    /// `Unavailable`, `Io`.
    async fn head(&self, key: &FileKey) -> Result<Option<ObjectMeta>, StorageError>;

    /// Whether an object is stored under `key`.
    ///
    /// # Errors
    /// `Unavailable`, `Io`.
    async fn file_exists(&self, key: &FileKey) -> Result<bool, StorageError> {
        Ok(self.head(key).await?.is_some())
    }
}

/// The listing of the upload prefix: a capability of its own, held by the reconciler only (a
/// trait object keeps every method it has, so the API functions' stores stay without it).
pub trait ListUploads: Send + Sync + std::fmt::Debug {
    /// Every object (and, where the store keeps them, every version and delete marker) under
    /// the service's upload prefix, for the reconciler's sweep. Entries whose key is not a
    /// [`FileKey`] are left out (and logged): the service never wrote them.
    fn list_uploads(&self) -> ObjectListing;
}
