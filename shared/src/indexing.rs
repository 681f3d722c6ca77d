//! The indexing workflow, written once: S3 events (through the `s3-indexer` function), confirms,
//! proxied uploads and deletes (called directly, which is all the local backend has) all become
//! [`Change`]s applied here.
//!
//! - Order and duplicates: each change takes the next version of its key from `index_state`;
//!   an S3 event older than the newest applied for its key is dropped, and every write to the
//!   index carries its version, so an older write never overwrites a newer one.
//! - State, not event: a created object is indexed only when its `StoredFile` row exists and is
//!   available; the document is built from the row and the object as they are now.
//! - Failures: a change that fails for a transient reason (database, storage or search down)
//!   is reported so the caller retries it; the rest of the batch is still applied.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::config::SearchSettings;
use crate::db::{FileRepository, FileStatus, RepositoryError, StoredFile};
use crate::keys::FileKey;
use crate::search::extract::{self, Limits};
use crate::search::{Removal, SearchDocument, SearchError, SearchIndex, Upsert};
use crate::storage::{FileStorage, StorageError};

/// What happened to an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The object was created (or overwritten), or its file confirmed.
    Created {
        /// The object key.
        key: String,
        /// The S3 event's sequencer, when the change comes from one.
        sequencer: Option<String>,
    },
    /// The object or its file was removed.
    Removed {
        /// The object key.
        key: String,
        /// The S3 event's sequencer, when the change comes from one.
        sequencer: Option<String>,
    },
}

impl Change {
    /// The object key.
    pub fn key(&self) -> &str {
        match self {
            Self::Created { key, .. } | Self::Removed { key, .. } => key,
        }
    }

    fn sequencer(&self) -> Option<&str> {
        match self {
            Self::Created { sequencer, .. } | Self::Removed { sequencer, .. } => sequencer.as_deref(),
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
}

/// Why a change could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A dependency is down or throttling: retry the change.
    #[error("transient indexing failure")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Retrying will not help (a refused request, a bug): logged, sent to the dead-letter queue.
    #[error("indexing failure")]
    Permanent(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<RepositoryError> for IndexError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(_) | RepositoryError::Conflict(_) => Self::Transient(Box::new(e)),
            RepositoryError::Query(_) => Self::Permanent(Box::new(e)),
        }
    }
}

impl From<StorageError> for IndexError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) | StorageError::Io(_) => Self::Transient(Box::new(e)),
            other => Self::Permanent(Box::new(other)),
        }
    }
}

impl From<SearchError> for IndexError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Unavailable(_) => Self::Transient(Box::new(e)),
            SearchError::Backend(_) => Self::Permanent(Box::new(e)),
        }
    }
}

impl IndexError {
    /// The same kind of failure, for every change one failed statement covered.
    fn duplicate(&self) -> Self {
        match self {
            Self::Transient(e) => Self::Transient(e.to_string().into()),
            Self::Permanent(e) => Self::Permanent(e.to_string().into()),
        }
    }

    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// A created object's text, or why there is none (see [`extract::extract`]).
type ExtractFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Result<String, String>, StorageError>> + Send + 'a>>;

/// How an indexer gets a created object's text. A function pointer chosen by the constructor,
/// so that a function built with [`Indexer::metadata_only`] never links the PDF parser.
type ExtractFn = for<'a> fn(&'a dyn FileStorage, &'a FileKey, &'a str, u64, &'a Limits) -> ExtractFuture<'a>;

fn extract_text<'a>(
    storage: &'a dyn FileStorage,
    key: &'a FileKey,
    content_type: &'a str,
    size: u64,
    limits: &'a Limits,
) -> ExtractFuture<'a> {
    Box::pin(extract::extract(storage, key, content_type, size, limits))
}

fn no_text<'a>(_: &'a dyn FileStorage, _: &'a FileKey, _: &'a str, _: u64, _: &'a Limits) -> ExtractFuture<'a> {
    Box::pin(std::future::ready(Ok(Err("text extraction is not part of this function".to_owned()))))
}

/// A change's version and, for created objects, the row with its key; `None` when the change
/// is older than the last applied.
type Claim = Option<(i64, Option<StoredFile>)>;

type PlanFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Planned, IndexError>> + Send + 'a>>;

enum Planned {
    Done(Outcome),
    Upsert(Box<Upsert>),
    Remove(Removal),
}

/// Applies [`Change`]s to the search index. Built once per cold start.
#[derive(Clone)]
pub struct Indexer {
    repo: Arc<dyn FileRepository>,
    storage: Arc<dyn FileStorage>,
    index: Arc<dyn SearchIndex>,
    limits: Limits,
    concurrency: usize,
    extract: ExtractFn,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer")
            .field("index", &self.index)
            .field("limits", &self.limits)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Indexer {
    /// An indexer over the given parts that extracts text (text-like types and PDF).
    pub fn new(
        repo: Arc<dyn FileRepository>,
        storage: Arc<dyn FileStorage>,
        index: Arc<dyn SearchIndex>,
        settings: &SearchSettings,
    ) -> Self {
        Self::with_extraction(repo, storage, index, settings, extract_text)
    }

    /// An indexer that indexes metadata only: for the functions that only remove documents
    /// (delete-file) or only query (search-files), so that their binaries leave the text
    /// extractors out. Never used where objects are created or confirmed.
    pub fn metadata_only(
        repo: Arc<dyn FileRepository>,
        storage: Arc<dyn FileStorage>,
        index: Arc<dyn SearchIndex>,
        settings: &SearchSettings,
    ) -> Self {
        Self::with_extraction(repo, storage, index, settings, no_text)
    }

    fn with_extraction(
        repo: Arc<dyn FileRepository>,
        storage: Arc<dyn FileStorage>,
        index: Arc<dyn SearchIndex>,
        settings: &SearchSettings,
        extract: ExtractFn,
    ) -> Self {
        Self { repo, storage, index, limits: Limits::of(settings), concurrency: settings.indexer_concurrency, extract }
    }

    /// The search index written to.
    pub fn index(&self) -> &Arc<dyn SearchIndex> {
        &self.index
    }

    /// Applies a batch: claims a version for every change and reads the rows in one round trip
    /// (a key's later changes in the same batch one by one after it, in order), plans each
    /// change with bounded concurrency (text extraction), then writes all documents in one
    /// bulk request. One result per change, in order. Safe to repeat.
    #[tracing::instrument(skip_all, fields(changes = changes.len()))]
    pub async fn apply(&self, changes: &[Change]) -> Vec<Result<Outcome, IndexError>> {
        let claims = self.claim(changes).await;
        // Boxed as `dyn Future + Send`: the compiler cannot prove the closures' futures `Send`
        // for every lifetime otherwise, which callers' `Send` futures require.
        let plans: Vec<PlanFuture<'_>> = changes
            .iter()
            .zip(claims)
            .map(|(change, claim)| Box::pin(self.plan(change, claim)) as PlanFuture<'_>)
            .collect();
        let planned: Vec<Result<Planned, IndexError>> =
            futures_util::stream::iter(plans).buffered(self.concurrency).collect().await;

        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        for plan in &planned {
            match plan {
                Ok(Planned::Upsert(u)) => upserts.push(u.as_ref().clone()),
                Ok(Planned::Remove(r)) => removals.push(r.clone()),
                _ => {}
            }
        }
        let written = if upserts.is_empty() && removals.is_empty() {
            Ok(())
        } else {
            self.index.write(&upserts, &removals).await
        };
        let failure = written.err().map(IndexError::from);

        planned
            .into_iter()
            .map(|plan| match plan {
                Err(e) => Err(e),
                Ok(Planned::Done(outcome)) => Ok(outcome),
                Ok(Planned::Upsert(_) | Planned::Remove(_)) => match &failure {
                    None => Ok(match plan {
                        Ok(Planned::Remove(_)) => Outcome::Removed,
                        _ => Outcome::Indexed,
                    }),
                    Some(e) if e.is_transient() => Err(IndexError::Transient(e.to_string().into())),
                    Some(e) => Err(IndexError::Permanent(e.to_string().into())),
                },
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

    /// Claims a version for each change, with the row for created ones: the first change of
    /// each key in one statement, a key's later changes after it one at a time, in order (one
    /// statement cannot claim a key twice).
    async fn claim(&self, changes: &[Change]) -> Vec<Result<Claim, IndexError>> {
        let mut seen = std::collections::HashSet::new();
        let (first, later): (Vec<usize>, Vec<usize>) = (0..changes.len()).partition(|&i| seen.insert(changes[i].key()));
        let mut claims: Vec<Option<Result<Claim, IndexError>>> = (0..changes.len()).map(|_| None).collect();
        if !first.is_empty() {
            let batch: Vec<(&str, Option<&str>)> =
                first.iter().map(|&i| (changes[i].key(), changes[i].sequencer())).collect();
            match self.repo.next_index_versions_and_rows(&batch).await {
                Ok(found) => {
                    for (&i, claim) in first.iter().zip(found) {
                        claims[i] = Some(Ok(claim));
                    }
                }
                Err(e) => {
                    let e = IndexError::from(e);
                    for &i in &first {
                        claims[i] = Some(Err(e.duplicate()));
                    }
                }
            }
        }
        for &i in &later {
            let change = &changes[i];
            let claim = self.repo.next_index_versions_and_rows(&[(change.key(), change.sequencer())]).await;
            claims[i] = Some(claim.map(|mut one| one.pop().flatten()).map_err(Into::into));
        }
        claims.into_iter().map(|c| c.unwrap_or(Ok(None))).collect()
    }

    async fn plan(&self, change: &Change, claim: Result<Claim, IndexError>) -> Result<Planned, IndexError> {
        let key = change.key();
        let Some((version, row)) = claim? else {
            tracing::info!(key, "an older event; nothing to do");
            return Ok(Planned::Done(Outcome::Stale));
        };
        match change {
            Change::Removed { .. } => Ok(Planned::Remove(Removal { file_key: key.to_owned(), version })),
            Change::Created { .. } => {
                let row = match row {
                    Some(row) if row.status == FileStatus::Available => row,
                    _ => {
                        tracing::info!(key, "no available file has this key; not indexed");
                        return Ok(Planned::Done(Outcome::NotTracked));
                    }
                };
                let content = match FileKey::parse(key) {
                    Ok(file_key) => {
                        let size = u64::try_from(row.size).unwrap_or(u64::MAX);
                        (self.extract)(self.storage.as_ref(), &file_key, &row.content_type, size, &self.limits).await?
                    }
                    Err(_) => Err("key not readable by this service".to_owned()),
                };
                Ok(Planned::Upsert(Box::new(Upsert { document: SearchDocument::of(&row, content), version })))
            }
        }
    }
}
