//! The indexing workflow, written once: S3 events and the outbox's entries for confirms, proxied
//! uploads and deletes (through the `s3-indexer` function, or `files-admin index-worker` under
//! `make dev`) all become [`Change`]s applied here.
//!
//! - Order and duplicates: each change takes the next version of its key from
//!   [`IndexVersions`]; an S3 event older than the newest applied for its key is dropped, and
//!   every write to the index carries its version, so an older write never overwrites a newer one.
//! - State, not event: a created object is indexed only when its file exists and is available;
//!   the document is built from the file and the object as they are now.
//! - Stray bytes: an object created under a key that no file has (the file was deleted, and an
//!   old upload URL or POST form was replayed), or a version of a key other than the one its file
//!   pins (a replay on a versioned bucket), is removed from the store; a removed version that
//!   the file does not pin changes nothing in the index.
//! - Failures: a change that fails for a transient reason (database, storage or search down)
//!   is reported so the caller retries it; the rest of the batch is still applied.
//! - Capabilities: [`IndexWriter`] claims versions and writes, which is all a removal needs
//!   (delete-file); [`Indexer`] adds reading the files' text ([`TextSource`]) for created ones.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::db::{ClaimedVersion, IndexVersions, RepositoryError, VersionClaim};
use crate::file::{FileRecord, ObjectVersion};
use crate::keys::FileKey;
use crate::search::{IndexDocuments, Removal, SearchDocument, SearchError, TextSource, Upsert};
use crate::storage::{ObjectStore, StorageError};

/// What happened to an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The object was created (or overwritten), or its file confirmed.
    Created {
        /// The object key.
        key: FileKey,
        /// The S3 event's sequencer, when the change comes from one.
        sequencer: Option<String>,
        /// The version the event names (a versioned bucket).
        version: Option<ObjectVersion>,
    },
    /// The object or its file was removed.
    Removed {
        /// The object key.
        key: FileKey,
        /// The S3 event's sequencer, when the change comes from one.
        sequencer: Option<String>,
        /// The version the event names (a versioned bucket).
        version: Option<ObjectVersion>,
    },
    /// The file's record changed (an outbox entry, a reindex): its document is brought to the
    /// file's state as it is now, written when it is available, removed otherwise.
    Refresh {
        /// The object key.
        key: FileKey,
    },
}

impl Change {
    /// The object key.
    pub fn key(&self) -> &FileKey {
        match self {
            Self::Created { key, .. } | Self::Removed { key, .. } | Self::Refresh { key } => key,
        }
    }

    /// The file's own change (a confirm, a proxied save, a delete, a reindex): no event, no
    /// version.
    pub fn of_file(key: &FileKey) -> Self {
        Self::Refresh { key: key.clone() }
    }

    fn claim(&self) -> VersionClaim<'_> {
        match self {
            Self::Created { key, sequencer, .. } | Self::Removed { key, sequencer, .. } => {
                VersionClaim { key, sequencer: sequencer.as_deref() }
            }
            Self::Refresh { key } => VersionClaim { key, sequencer: None },
        }
    }

    fn version(&self) -> Option<&ObjectVersion> {
        match self {
            Self::Created { version, .. } | Self::Removed { version, .. } => version.as_ref(),
            Self::Refresh { .. } => None,
        }
    }
}

/// What applying a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The document was written.
    Indexed,
    /// The document was removed.
    Removed,
    /// A newer change for the key was already applied: nothing to do.
    Stale,
    /// No available file has this key (never confirmed, still pending, or not ours).
    NotTracked,
    /// The bytes are no file's (no file has the key, or its file pins another version): they
    /// were removed from the store, or (a removal) nothing changed.
    Stray,
}

type Shared = Arc<dyn std::error::Error + Send + Sync>;

/// Why a change could not be applied. Cheap to clone: one failed statement or bulk request
/// fails every change it covered, with the same cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IndexError {
    /// A dependency is down or throttling: retry the change.
    #[error("transient indexing failure")]
    Transient(#[source] Shared),
    /// Retrying will not help (a refused request, a bug): logged, sent to the dead-letter queue.
    #[error("indexing failure")]
    Permanent(#[source] Shared),
}

impl From<RepositoryError> for IndexError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(_) | RepositoryError::Conflict(_) => Self::Transient(Arc::new(e)),
            RepositoryError::Query(_) => Self::Permanent(Arc::new(e)),
        }
    }
}

impl From<StorageError> for IndexError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) | StorageError::Io(_) => Self::Transient(Arc::new(e)),
            other => Self::Permanent(Arc::new(other)),
        }
    }
}

impl From<SearchError> for IndexError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Unavailable(_) => Self::Transient(Arc::new(e)),
            SearchError::Backend(_) => Self::Permanent(Arc::new(e)),
        }
    }
}

impl IndexError {
    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// A change's version and, for created objects, the file with its key; `None` when the change
/// is older than the last applied.
type Claim = Option<ClaimedVersion>;

/// Claims versions and writes documents: what every change needs.
#[derive(Debug, Clone)]
pub struct IndexWriter {
    versions: Arc<dyn IndexVersions>,
    index: Arc<dyn IndexDocuments>,
}

impl IndexWriter {
    /// A writer over the version claims and the index.
    pub fn new(versions: Arc<dyn IndexVersions>, index: Arc<dyn IndexDocuments>) -> Self {
        Self { versions, index }
    }

    /// Claims a version for each change, with the file for created ones: the first change of
    /// each key in one statement, a key's later changes after it one at a time, in order (one
    /// statement cannot claim a key twice).
    async fn claim(&self, changes: &[Change]) -> Vec<Result<Claim, IndexError>> {
        let mut seen = std::collections::HashSet::new();
        let (first, later): (Vec<usize>, Vec<usize>) = (0..changes.len()).partition(|&i| seen.insert(changes[i].key()));
        let mut claims: Vec<Result<Claim, IndexError>> = (0..changes.len()).map(|_| Ok(None)).collect();
        if !first.is_empty() {
            let batch: Vec<VersionClaim<'_>> = first.iter().map(|&i| changes[i].claim()).collect();
            match self.versions.claim(&batch).await.map_err(IndexError::from) {
                Ok(found) => first.iter().zip(found).for_each(|(&i, claim)| claims[i] = Ok(claim)),
                Err(e) => first.iter().for_each(|&i| claims[i] = Err(e.clone())),
            }
        }
        for &i in &later {
            let claim = self.versions.claim(&[changes[i].claim()]).await;
            claims[i] = claim.map(|mut one| one.pop().flatten()).map_err(Into::into);
        }
        claims
    }
}

type PlanFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Planned, IndexError>> + Send + 'a>>;

enum Planned {
    Done(Outcome),
    Upsert(Box<Upsert>),
    Remove(Removal),
}

/// Applies [`Change`]s to the search index. Built once per cold start.
#[derive(Debug, Clone)]
pub struct Indexer {
    writer: IndexWriter,
    text: Arc<dyn TextSource>,
    objects: Arc<dyn ObjectStore>,
    concurrency: usize,
}

impl Indexer {
    /// An indexer that writes through `writer`, reads created files' text from `text`,
    /// `concurrency` files at a time, and removes stray bytes from `objects`.
    pub fn new(
        writer: IndexWriter,
        text: Arc<dyn TextSource>,
        objects: Arc<dyn ObjectStore>,
        concurrency: usize,
    ) -> Self {
        Self { writer, text, objects, concurrency: concurrency.max(1) }
    }

    /// Applies a batch: claims a version for every change and reads the files in one round
    /// trip (a key's later changes in the same batch one by one after it, in order), plans each
    /// change with bounded concurrency (text extraction), then writes all documents in one
    /// bulk request. One result per change, in order. Safe to repeat.
    #[tracing::instrument(skip_all, fields(changes = changes.len()))]
    pub async fn apply(&self, changes: &[Change]) -> Vec<Result<Outcome, IndexError>> {
        let claims = self.writer.claim(changes).await;
        // Boxed as `dyn Future + Send`: the compiler cannot prove the closures' futures `Send`
        // for every lifetime otherwise, which callers' `Send` futures require.
        let plans: Vec<PlanFuture<'_>> = changes
            .iter()
            .zip(claims)
            .map(|(change, claim)| Box::pin(self.plan(change, claim)) as PlanFuture<'_>)
            .collect();
        let planned: Vec<Result<Planned, IndexError>> =
            futures_util::stream::iter(plans).buffered(self.concurrency).collect().await;

        // The documents move into the one write (their text may be large); each change keeps
        // the outcome it will have once the write succeeds.
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        let pending: Vec<Result<Outcome, IndexError>> = planned
            .into_iter()
            .map(|plan| {
                plan.map(|planned| match planned {
                    Planned::Done(outcome) => outcome,
                    Planned::Upsert(u) => {
                        upserts.push(*u);
                        Outcome::Indexed
                    }
                    Planned::Remove(r) => {
                        removals.push(r);
                        Outcome::Removed
                    }
                })
            })
            .collect();
        let written = if upserts.is_empty() && removals.is_empty() {
            Ok(())
        } else {
            self.writer.index.write(&upserts, &removals).await.map_err(IndexError::from)
        };
        pending
            .into_iter()
            .map(|outcome| match outcome? {
                written_outcome @ (Outcome::Indexed | Outcome::Removed) => written.clone().map(|()| written_outcome),
                done => Ok(done),
            })
            .collect()
    }

    /// Applies one change.
    ///
    /// # Errors
    /// As [`Indexer::apply`] reports per change.
    pub async fn apply_one(&self, change: Change) -> Result<Outcome, IndexError> {
        self.apply(std::slice::from_ref(&change)).await.pop().unwrap_or(Ok(Outcome::Stale))
    }

    async fn plan(&self, change: &Change, claim: Result<Claim, IndexError>) -> Result<Planned, IndexError> {
        let key = change.key();
        let Some((version, file)) = claim? else {
            tracing::info!(key = %key, "an older event; nothing to do");
            return Ok(Planned::Done(Outcome::Stale));
        };
        // A version the file does not pin is not the file's: the file is unchanged.
        let unpinned = |file: &FileRecord| {
            file.object_version.is_some() && change.version().is_some_and(|v| Some(v) != file.object_version.as_ref())
        };
        match (change, file) {
            (Change::Refresh { .. }, Some(file)) if file.is_available() => {
                let content = self.text.text(&file).await?;
                Ok(Planned::Upsert(Box::new(Upsert { document: SearchDocument::of(file, content), version })))
            }
            (Change::Refresh { .. }, _) => Ok(Planned::Remove(Removal { file_key: key.clone(), version })),
            (Change::Removed { .. }, Some(file)) if file.is_available() && unpinned(&file) => {
                Ok(Planned::Done(Outcome::Stray))
            }
            (Change::Removed { .. }, _) => Ok(Planned::Remove(Removal { file_key: key.clone(), version })),
            (Change::Created { .. }, None) => {
                // No file has this key (any more): bytes written through a replayed upload URL.
                self.remove_stray(key, change.version()).await?;
                Ok(Planned::Done(Outcome::Stray))
            }
            (Change::Created { .. }, Some(file)) if file.is_available() && unpinned(&file) => {
                self.remove_stray(key, change.version()).await?;
                Ok(Planned::Done(Outcome::Stray))
            }
            (Change::Created { .. }, Some(file)) if file.is_available() => {
                let content = self.text.text(&file).await?;
                Ok(Planned::Upsert(Box::new(Upsert { document: SearchDocument::of(file, content), version })))
            }
            (Change::Created { .. }, Some(_)) => {
                tracing::info!(key = %key, "the file is still pending; not indexed");
                Ok(Planned::Done(Outcome::NotTracked))
            }
        }
    }

    /// Removes bytes that no file has: the event's version, or the key's object on a store
    /// without versions.
    async fn remove_stray(&self, key: &FileKey, version: Option<&ObjectVersion>) -> Result<(), IndexError> {
        tracing::warn!(key = %key, version = ?version.map(ObjectVersion::as_str), "removing bytes no file has (a replayed upload?)");
        match version {
            Some(version) => self.objects.delete_version(key, version).await?,
            None => self.objects.delete_file(key).await?,
        }
        Ok(())
    }
}
