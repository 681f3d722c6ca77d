//! File metadata in PostgreSQL: the ports the workflows use ([`FileRepository`] for file
//! records, [`IndexVersions`] for the search index's ordering) and every PostgreSQL adapter,
//! the search fallback ([`PgSearchIndex`]) included. SQL lives in this module and nowhere else;
//! each statement is prepared once per connection and cached, so running it is one round trip.
//! Migrations are embedded and applied by a command (`make migrate`), never by a cold start.

mod files;
mod migrate;
mod multipart;
mod outbox;
mod pool;
mod search;
pub mod tls;
mod versions;

pub use files::PgFileRepository;
pub use migrate::{create_database_if_missing, run_migrations, run_migrations_to};
pub use outbox::PgOutbox;
pub use pool::{DbPool, RunLock};
pub use search::PgSearchIndex;
pub use versions::PgIndexVersions;

use async_trait::async_trait;
use uuid::Uuid;

use crate::file::{FileRecord, ObjectVersion};
use crate::keys::{Checksum, FileKey};

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Repository failures.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The database cannot be reached (pool timeout, connection refused, server shutting down).
    #[error("database unavailable")]
    Unavailable(#[source] Cause),
    /// A uniqueness or concurrency conflict.
    #[error("conflicting write")]
    Conflict(#[source] Cause),
    /// Any other query failure (a bug, or data that breaks a constraint).
    #[error("query failed")]
    Query(#[source] Cause),
}

/// The result of marking a file available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// This call moved the row from pending to available, and queued the change for the index.
    Confirmed {
        /// The file, now available.
        file: FileRecord,
        /// Its outbox entry, committed with it.
        queued: Queued,
    },
    /// The row was already available (a repeated or concurrent confirm).
    AlreadyAvailable(FileRecord),
}

/// What a confirm verified of the stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The stored size.
    pub size: u64,
    /// The stored SHA-256, when the store had it or it was computed.
    pub checksum: Option<Checksum>,
    /// The version of the bytes verified, where the store keeps versions.
    pub version: Option<ObjectVersion>,
}

/// The multipart upload of a pending file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartRecord {
    /// The file.
    pub file_id: Uuid,
    /// The store's upload id; `None` until the client's own create is first used.
    pub upload_id: Option<crate::storage::multipart::UploadId>,
    /// How the file is cut.
    pub plan: crate::storage::multipart::PartPlan,
    /// The CRC-64/NVME of the whole file, when the client declared one.
    pub checksum_crc64nvme: Option<crate::keys::Crc64>,
}

/// The multipart uploads of pending files.
#[async_trait]
pub trait MultipartRepository: Send + Sync + std::fmt::Debug {
    /// Inserts a new pending file and its multipart upload together.
    ///
    /// # Errors
    /// `Conflict` when the id or key exists; `Unavailable`; `Query`.
    async fn insert_multipart(&self, file: &FileRecord, upload: &MultipartRecord) -> Result<(), RepositoryError>;

    /// The multipart upload of a file, if it has one.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn find_multipart(&self, file_id: Uuid) -> Result<Option<MultipartRecord>, RepositoryError>;

    /// Records `upload_id` as the file's upload unless one is recorded, and answers the one
    /// recorded now (`None`: the file has no multipart upload).
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn adopt_upload(
        &self,
        file_id: Uuid,
        upload_id: &crate::storage::multipart::UploadId,
    ) -> Result<Option<crate::storage::multipart::UploadId>, RepositoryError>;
}

/// What marking a file available found: `None` when the file does not exist (any more).
pub type Confirmed = Option<ConfirmOutcome>;

/// File records, always scoped to an organization: a lookup never returns another
/// organization's file.
#[async_trait]
pub trait FileRepository: Send + Sync + std::fmt::Debug {
    /// Inserts a new record.
    ///
    /// # Errors
    /// `Conflict` when the id or key exists; `Unavailable`; `Query`.
    async fn insert(&self, file: &FileRecord) -> Result<(), RepositoryError>;

    /// The organization's file with this id.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn find_by_id(&self, org_id: &str, id: Uuid) -> Result<Option<FileRecord>, RepositoryError>;

    /// The organization's file with this key.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn find_by_key(&self, org_id: &str, key: &FileKey) -> Result<Option<FileRecord>, RepositoryError>;

    /// Moves a pending file to available with the verified size and checksum, and queues the
    /// change for the index in the same statement; safe to repeat and to race: exactly one
    /// caller gets `Confirmed` (with the outbox entry), the others `AlreadyAvailable`. `None`
    /// when the file does not exist (any more).
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn mark_available(&self, org_id: &str, id: Uuid, verified: &Verified) -> Result<Confirmed, RepositoryError>;

    /// Deletes the organization's file and queues the change for the index in the same
    /// statement; `None` when there was no such file. Safe to repeat.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn delete(&self, org_id: &str, id: Uuid) -> Result<Option<Queued>, RepositoryError>;

    /// Marks up to `limit` pending files created more than `older_than` ago as expired (oldest
    /// first; rows another run holds are skipped) and returns them as they now are.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn expire_pending(
        &self,
        older_than: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<FileRecord>, RepositoryError>;

    /// The organization's files with these ids (in no particular order; missing ones left out).
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn find_many(&self, org_id: &str, ids: &[Uuid]) -> Result<Vec<FileRecord>, RepositoryError>;

    /// Available files after `after` in id order, for rebuilding the search index.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn list_available(&self, after: Option<Uuid>, limit: i64) -> Result<Vec<FileRecord>, RepositoryError>;

    /// The number of available files.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn count_available(&self) -> Result<i64, RepositoryError>;

    /// What the database knows of each of `keys`, whatever the organization (for the
    /// reconciler only): one answer per key, in order.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn key_states(&self, keys: &[FileKey]) -> Result<Vec<KeyState>, RepositoryError>;

    /// Available files after the key `after` in key order, confirmed at least `settled` ago
    /// (younger ones are still on their way to the index), for the reconciler.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn available_after(
        &self,
        after: Option<&FileKey>,
        settled: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<KeyState>, RepositoryError>;
}

/// What the database knows of a storage key, for the reconciler: whether a file has it, which
/// version of the bytes that file pins, and the index version last claimed for the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// The key.
    pub file_key: FileKey,
    /// The status of the file with the key; `None` when no file has it (never, or deleted).
    pub status: Option<crate::file::FileStatus>,
    /// The version of the bytes the file pins (a versioned bucket).
    pub object_version: Option<ObjectVersion>,
    /// The index version last claimed for the key (the search document's, once applied).
    pub index_version: Option<i64>,
}

impl KeyState {
    /// Whether a file that still counts has the key: pending (its upload may be under way) or
    /// available. Bytes under any other key are no file's.
    pub fn is_live(&self) -> bool {
        matches!(self.status, Some(crate::file::FileStatus::Pending | crate::file::FileStatus::Available))
    }

    /// Whether the key's file is available (its document belongs in the index).
    pub fn is_available(&self) -> bool {
        self.status == Some(crate::file::FileStatus::Available)
    }
}

/// One claim of a search-document version: a key, and the S3 event's `sequencer` when the
/// change comes from one.
#[derive(Debug, Clone, Copy)]
pub struct VersionClaim<'a> {
    /// The object key.
    pub key: &'a FileKey,
    /// The S3 event's sequencer, if any.
    pub sequencer: Option<&'a str>,
}

/// A claimed version, and the file with the key whatever its organization (for internal work
/// only: the indexer reacting to storage events, never for a caller).
pub type ClaimedVersion = (i64, Option<FileRecord>);

/// The ordering of indexing work per key (`index_state`): S3 delivers events at least once and
/// out of order, and every write to the index carries the version claimed here.
#[async_trait]
pub trait IndexVersions: Send + Sync + std::fmt::Debug {
    /// Claims the next version of each key, with its file, in one round trip; one answer per
    /// claim, in order. With a `sequencer`, the answer is `None` when the event is older than
    /// the last one applied for its key (a late arrival; the same event again is applied
    /// again, so a retried batch converges); without one (confirm, delete, reindex) there is
    /// always a new version. Safe to race: versions are handed out once each. A key must not
    /// appear twice in one call.
    ///
    /// # Errors
    /// `Unavailable`; `Query`.
    async fn claim(&self, claims: &[VersionClaim<'_>]) -> Result<Vec<Option<ClaimedVersion>>, RepositoryError>;
}

/// An outbox entry: the key of a file whose index document must be brought up to date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Queued {
    /// The entry's id.
    #[serde(rename = "outbox_id")]
    pub id: i64,
    /// The file's key.
    pub file_key: FileKey,
}

/// The entries of the outbox, for those who apply them.
#[async_trait]
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// Leases up to `limit` entries at least `older_than` old that nobody holds, oldest first,
    /// for `lease` (two pollers never take the same entry while its lease runs).
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn lease(
        &self,
        limit: i64,
        older_than: std::time::Duration,
        lease: std::time::Duration,
    ) -> Result<Vec<Queued>, RepositoryError>;

    /// Hands entries that failed for a transient reason back after a backoff that doubles with
    /// each attempt (one second after the first, at most five minutes), instead of at the end
    /// of their lease: a short outage delays them by seconds.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn retry_later(&self, ids: &[i64]) -> Result<(), RepositoryError>;

    /// Deletes applied entries. Deleting one that is gone already is no error.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn complete(&self, ids: &[i64]) -> Result<(), RepositoryError>;

    /// How many entries there are.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn pending(&self) -> Result<i64, RepositoryError>;

    /// Adds an entry for each key (the reconciler's repairs), leased for `lease` so that it is
    /// delivered by whoever added it first, and returns them.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn enqueue(&self, keys: &[FileKey], lease: std::time::Duration) -> Result<Vec<Queued>, RepositoryError>;
}
