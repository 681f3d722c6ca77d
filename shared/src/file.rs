//! The file record: one typed description of a stored file, from the request that creates it
//! to the database row, the API answer and the search document. Its fields are the parsed
//! newtypes of [`crate::keys`]; only the PostgreSQL adapter turns them into columns and back.

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::config::{StorageBackendKind, StorageSettings};
use crate::keys::{Checksum, ContentType, FileKey, OriginalFilename};

/// Where a file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// An upload was initiated; the bytes are not confirmed yet.
    Pending,
    /// The bytes are stored and verified.
    Available,
    /// Never confirmed within `UPLOAD_PENDING_TTL_SECONDS`: the reconciler removed its object;
    /// the row stays so that the key is never issued again.
    Expired,
}

impl FileStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Expired => "expired",
        }
    }

    /// The status a stored name stands for.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "available" => Some(Self::Available),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// The business entity a file belongs to (seed §11.1), e.g. `("product", "42")`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerEntity {
    /// The entity's type.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The entity's id.
    pub id: String,
}

/// Where a backend keeps files: recorded with every file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLocation {
    /// `local` or `s3`.
    pub backend: StorageBackendKind,
    /// The bucket, for S3.
    pub bucket: Option<String>,
}

impl StorageLocation {
    /// Where the configured backend keeps files.
    pub fn of(settings: &StorageSettings) -> Self {
        match settings {
            StorageSettings::Local(_) => Self { backend: StorageBackendKind::Local, bucket: None },
            StorageSettings::S3(s3) => Self { backend: StorageBackendKind::S3, bucket: Some(s3.bucket.clone()) },
        }
    }
}

/// What a new file is: the validated declaration of an upload (or what a proxied save
/// measured).
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Its storage key.
    pub key: FileKey,
    /// The user's file name.
    pub filename: OriginalFilename,
    /// Its content type.
    pub content_type: ContentType,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, when declared or measured.
    pub checksum: Option<Checksum>,
    /// The business entity it belongs to.
    pub owner: Option<OwnerEntity>,
}

/// The version of an object's bytes in the store (an S3 version id): opaque, as the store gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectVersion(String);

impl ObjectVersion {
    /// The version the store named; `None` for S3's `null` (a bucket without versioning) or none.
    pub fn from_store(raw: Option<&str>) -> Option<Self> {
        raw.filter(|v| !v.is_empty() && *v != "null").map(|v| Self(v.to_owned()))
    }

    /// The version id as the store spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file as the service knows it; serialised, it is the file every route answers with (less
/// its download URL, see [`crate::services::FileView`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    /// Primary key.
    pub id: Uuid,
    /// The storage key (unique).
    pub file_key: FileKey,
    /// The user's file name.
    pub original_filename: OriginalFilename,
    /// The declared content type.
    pub content_type: ContentType,
    /// Size in bytes (declared while pending, verified once available).
    pub size: u64,
    /// SHA-256, declared or verified.
    pub checksum_sha256: Option<Checksum>,
    /// Pending or available.
    pub status: FileStatus,
    /// `local` or `s3`.
    pub storage_backend: StorageBackendKind,
    /// The bucket, for S3.
    pub bucket_name: Option<String>,
    /// The uploader's user id.
    pub uploaded_by: String,
    /// The owning organization.
    pub organization_id: String,
    /// The owning business entity, if any.
    pub owner: Option<OwnerEntity>,
    /// When the upload was initiated.
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    /// When the upload was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The storage version of the verified bytes (an S3 version id, on a bucket with
    /// versioning): what download URLs are signed for. Internal.
    #[serde(skip)]
    pub object_version: Option<ObjectVersion>,
}

impl FileRecord {
    /// The record of a new file of `caller`'s, kept at `location`, in `status` (`Available` for a
    /// proxied save whose bytes are already verified). The one way a record is made; the
    /// database adapter rebuilds stored ones.
    pub fn new(caller: &Caller, location: &StorageLocation, file: NewFile, status: FileStatus) -> Self {
        // Microseconds, as PostgreSQL keeps them: the record equals the row it becomes.
        let now = Utc::now().trunc_subsecs(6);
        Self {
            id: Uuid::new_v4(),
            file_key: file.key,
            original_filename: file.filename,
            content_type: file.content_type,
            size: file.size,
            checksum_sha256: file.checksum,
            status,
            storage_backend: location.backend,
            bucket_name: location.bucket.clone(),
            uploaded_by: caller.user_id.clone(),
            organization_id: caller.org_id.clone(),
            owner: file.owner,
            created_at: now,
            updated_at: now,
            confirmed_at: (status == FileStatus::Available).then_some(now),
            object_version: None,
        }
    }

    /// Whether the file's bytes are confirmed.
    pub fn is_available(&self) -> bool {
        self.status == FileStatus::Available
    }
}
