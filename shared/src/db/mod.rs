//! File metadata: the `StoredFile` model, the repository port, and its PostgreSQL adapter over
//! deadpool-postgres. SQL lives only in this module. Migrations are embedded and applied by a
//! command (`make migrate`), never by a cold start.

mod pool;
mod postgres;

pub use pool::DbPool;
pub use postgres::{create_database_if_missing, run_migrations, PgFileRepository};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Where a file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// An upload was initiated; the bytes are not confirmed yet.
    Pending,
    /// The bytes are stored and verified.
    Available,
}

impl FileStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Available => "available",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "available" => Some(Self::Available),
            _ => None,
        }
    }
}

/// The business entity a file belongs to (seed §11.1), e.g. `("product", "42")`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OwnerEntity {
    /// The entity's type.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The entity's id.
    pub id: String,
}

/// One row of `stored_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Primary key.
    pub id: Uuid,
    /// The storage key (unique).
    pub file_key: String,
    /// The user's file name.
    pub original_filename: String,
    /// The declared content type.
    pub content_type: String,
    /// Size in bytes (declared while pending, verified once available).
    pub size: i64,
    /// Base64 SHA-256, declared or verified.
    pub checksum_sha256: Option<String>,
    /// Pending or available.
    pub status: FileStatus,
    /// `local` or `s3`.
    pub storage_backend: String,
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
    pub updated_at: DateTime<Utc>,
    /// When the upload was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A row to insert.
#[derive(Debug, Clone)]
pub struct NewStoredFile {
    /// Primary key.
    pub id: Uuid,
    /// The storage key.
    pub file_key: String,
    /// The user's file name.
    pub original_filename: String,
    /// The content type.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
    /// Base64 SHA-256.
    pub checksum_sha256: Option<String>,
    /// Initial status.
    pub status: FileStatus,
    /// `local` or `s3`.
    pub storage_backend: String,
    /// The bucket, for S3.
    pub bucket_name: Option<String>,
    /// The uploader.
    pub uploaded_by: String,
    /// The owning organization.
    pub organization_id: String,
    /// The owning business entity.
    pub owner: Option<OwnerEntity>,
}

/// Repository failures.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The database cannot be reached (pool timeout, connection refused, server shutting down).
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A uniqueness or concurrency conflict.
    #[error("conflicting write")]
    Conflict(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Any other query failure (a bug, or data that breaks a constraint).
    #[error("query failed")]
    Query(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The result of marking a file available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// This call moved the row from pending to available.
    Confirmed(StoredFile),
    /// The row was already available (a repeated or concurrent confirm).
    AlreadyAvailable(StoredFile),
}

/// Stored-file metadata, always scoped to an organization: a lookup never returns another
/// organization's row.
#[async_trait]
pub trait FileRepository: Send + Sync + std::fmt::Debug {
    /// Inserts a row.
    ///
    /// # Errors
    /// `Conflict` when the id or key exists; `Unavailable`; `Query`.
    async fn insert(&self, file: &NewStoredFile) -> Result<StoredFile, RepositoryError>;

    /// The organization's file with this id.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn find_by_id(&self, org_id: &str, id: Uuid) -> Result<Option<StoredFile>, RepositoryError>;

    /// The organization's file with this key.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn find_by_key(&self, org_id: &str, file_key: &str) -> Result<Option<StoredFile>, RepositoryError>;

    /// Moves a pending row to available with the verified size and checksum; safe to repeat
    /// and to race: exactly one caller gets `Confirmed`, the others `AlreadyAvailable`.
    /// `None` when the row does not exist (any more).
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn mark_available(
        &self,
        org_id: &str,
        id: Uuid,
        size: i64,
        checksum_sha256: Option<&str>,
    ) -> Result<Option<ConfirmOutcome>, RepositoryError>;

    /// Deletes the organization's row; `false` when there was none. Safe to repeat.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn delete(&self, org_id: &str, id: Uuid) -> Result<bool, RepositoryError>;

    /// The organization's rows with these ids (in no particular order; missing ones left out).
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn find_many(&self, org_id: &str, ids: &[Uuid]) -> Result<Vec<StoredFile>, RepositoryError>;

    /// Available rows after `after` in id order, for rebuilding the search index.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn list_available(&self, after: Option<Uuid>, limit: i64) -> Result<Vec<StoredFile>, RepositoryError>;

    /// The number of available rows.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn count_available(&self) -> Result<i64, RepositoryError>;

    /// Claims the next search-document version of each key, with the key's row whatever its
    /// organization (for internal work only: the indexer reacting to storage events, never for
    /// a caller), in one round trip; one answer per claim, in
    /// order. With an S3 event `sequencer`, the answer is `None` when the event is older than
    /// the last one applied for its key (a late arrival; the same event again is applied again,
    /// so a retried batch converges); without one (confirm, delete, reindex) there is always a
    /// new version. Safe to race: versions are handed out once each. A key must not appear
    /// twice in one call.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn next_index_versions_and_rows(
        &self,
        claims: &[(&str, Option<&str>)],
    ) -> Result<Vec<Option<(i64, Option<StoredFile>)>>, RepositoryError>;
}

impl StoredFile {
    pub(crate) fn status_from(raw: &str) -> FileStatus {
        // The table's CHECK constraint admits only the two names.
        FileStatus::parse(raw).unwrap_or(FileStatus::Pending)
    }
}
