//! The reconciler: the periodic work that makes the service converge whatever was lost on the
//! way (`files-admin reconcile`; on AWS a scheduled function, issue #14). Each run works in
//! bounded pages, is idempotent, and holds a PostgreSQL advisory lock, so two runs at once
//! never act twice (the second finds the lock taken and does nothing).
//!
//! 1. **Expired uploads**: pending rows older than the pending TTL become `expired` and their
//!    objects, if any, are removed (S3: every version; local: a tombstone keeps the key); every
//!    multipart upload begun before the TTL is aborted (its row, if it ever had one, is expired
//!    or confirmed by now), so no parts outlive their upload.
//! 2. **Orphan objects**: objects under the upload prefix older than the grace period whose key
//!    no live file has (never confirmed and expired, deleted, replayed URLs) are removed, and on
//!    a versioned bucket the versions of an available file other than the one it pins.
//! 3. **Undelivered outbox entries**: entries older than a delay (their message was lost, or
//!    the indexer failed on them) are sent to the index queue again, or, with no queue (local),
//!    applied by the indexer here.
//! 4. **Index drift**: documents the index holds for no available file, or at a version older
//!    than the last claimed for their key, and available files confirmed more than the delay ago
//!    that the index lacks, get a new outbox entry each, delivered at once (the index queue, or
//!    the indexer here).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

use crate::db::{DbPool, FileRepository, KeyState, RepositoryError};
use crate::indexing::Indexer;
use crate::keys::FileKey;
use crate::outbox::{apply_entries, drain, IndexQueue, Outbox, Queued};
use crate::search::{IndexInventory, SearchError};
use crate::storage::multipart::MultipartStore;
use crate::storage::{ListUploads, ListedObject, ObjectStore, StorageError};

/// The advisory lock key of the reconciler (any constant unique to it in the database).
pub const LOCK_KEY: i64 = 0x6669_6c65_7372_6563; // "filesrec"

/// How a run is bounded and what it waits for.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Pending uploads older than this expire (`UPLOAD_PENDING_TTL_SECONDS`, default 24 h).
    pub pending_ttl: Duration,
    /// Outbox entries older than this are delivered again; files confirmed less than this ago
    /// are not yet expected in the index.
    pub resend_after: Duration,
    /// Objects younger than this are never removed as orphans (`UPLOAD_ORPHAN_GRACE_SECONDS`).
    pub orphan_grace: Duration,
    /// Rows, objects, documents or entries per page.
    pub page: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            pending_ttl: Duration::from_secs(24 * 3600),
            resend_after: Duration::from_secs(300),
            orphan_grace: Duration::from_secs(3600),
            page: 500,
        }
    }
}

/// The shortest time a delivered entry is left to its message before it is delivered again.
const MIN_DELIVERY_LEASE: Duration = Duration::from_secs(60);

impl Policy {
    fn delivery_lease(&self) -> Duration {
        self.resend_after.max(MIN_DELIVERY_LEASE)
    }

    fn page_size(&self) -> usize {
        usize::try_from(self.page).unwrap_or(500).max(1)
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Another run held the lock: nothing was done.
    pub skipped: bool,
    /// Pending uploads marked expired.
    pub expired: usize,
    /// Objects of expired uploads removed (or already absent).
    pub objects_removed: usize,
    /// Multipart uploads begun before the pending TTL, aborted with their parts.
    pub uploads_aborted: usize,
    /// Objects (and versions) listed under the upload prefix.
    pub objects_scanned: usize,
    /// Keys whose objects no live file has, removed with every version.
    pub orphans_removed: usize,
    /// Versions of available files' keys other than the one the file pins, removed.
    pub versions_removed: usize,
    /// Documents compared with the database.
    pub documents_scanned: usize,
    /// Available files compared with the index.
    pub files_scanned: usize,
    /// Documents of no available file, or older than their key's last change: refreshed.
    pub stale_documents: usize,
    /// Available files without a document: refreshed.
    pub missing_documents: usize,
    /// Outbox entries sent to the index queue again.
    pub resent: usize,
    /// Outbox entries applied here (no queue).
    pub applied: usize,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The database failed.
    #[error("database")]
    Repository(#[from] RepositoryError),
    /// Storage failed.
    #[error("storage")]
    Storage(#[from] StorageError),
    /// The index queue failed.
    #[error("index queue")]
    Queue(#[from] crate::outbox::QueueError),
    /// The search index could not be read.
    #[error("search index")]
    Search(#[from] SearchError),
}

/// What a run works with.
#[derive(Debug, Clone)]
pub struct Reconciler {
    /// For the lock.
    pub pool: Arc<DbPool>,
    /// The file records.
    pub repo: Arc<dyn FileRepository>,
    /// The objects.
    pub objects: Arc<dyn ObjectStore>,
    /// The multipart uploads of the store.
    pub uploads: Arc<dyn MultipartStore>,
    /// The listing of the upload prefix.
    pub listing: Arc<dyn ListUploads>,
    /// What the search index holds.
    pub inventory: Arc<dyn IndexInventory>,
    /// The outbox.
    pub outbox: Arc<dyn Outbox>,
    /// Where entries are sent again; `None`: applied here with `indexer`.
    pub queue: Option<Arc<dyn IndexQueue>>,
    /// Applies entries when there is no queue.
    pub indexer: Option<Indexer>,
}

impl Reconciler {
    /// One run under `policy`; `progress` is told the count of each page done.
    ///
    /// # Errors
    /// A [`ReconcileError`] when a dependency fails; what was done before stays done.
    pub async fn run(
        &self,
        policy: Policy,
        progress: &(dyn Fn(&str, usize) + Sync),
    ) -> Result<Summary, ReconcileError> {
        let Some(_lock) = self.pool.try_lock(LOCK_KEY).await? else {
            tracing::info!("another reconciler run holds the lock; nothing to do");
            return Ok(Summary { skipped: true, ..Summary::default() });
        };
        let mut summary = Summary::default();
        self.expire(policy, &mut summary, progress).await?;
        self.sweep(policy, &mut summary, progress).await?;
        // Entries first: what they repair is not repaired twice, and the repairs sent below are
        // not sent again by this run.
        self.redeliver(policy, &mut summary, progress).await?;
        self.repair_documents(policy, &mut summary, progress).await?;
        self.repair_files(policy, &mut summary, progress).await?;
        tracing::info!(?summary, "reconciled");
        Ok(summary)
    }

    async fn expire(
        &self,
        policy: Policy,
        summary: &mut Summary,
        progress: &Progress<'_>,
    ) -> Result<(), ReconcileError> {
        let ttl = chrono::Duration::from_std(policy.pending_ttl).unwrap_or(chrono::Duration::MAX);
        let before = chrono::Utc::now().checked_sub_signed(ttl).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        summary.uploads_aborted += self.uploads.abort_stale(before).await?;
        loop {
            let expired = self.repo.expire_pending(policy.pending_ttl, policy.page).await?;
            if expired.is_empty() {
                return Ok(());
            }
            summary.expired += expired.len();
            for file in &expired {
                match self.objects.delete_file(&file.file_key).await {
                    Ok(()) | Err(StorageError::NotFound) => summary.objects_removed += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            progress("expired", expired.len());
        }
    }

    /// Removes what no live file has under the upload prefix, a page of the listing at a time.
    async fn sweep(
        &self,
        policy: Policy,
        summary: &mut Summary,
        progress: &Progress<'_>,
    ) -> Result<(), ReconcileError> {
        let grace = chrono::Duration::from_std(policy.orphan_grace).unwrap_or(chrono::Duration::MAX);
        let cutoff = chrono::Utc::now().checked_sub_signed(grace).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let mut listing = self.listing.list_uploads().chunks(policy.page_size());
        // A key's versions come one after the other: it is removed once, with all of them.
        let mut last_removed: Option<FileKey> = None;
        while let Some(page) = listing.next().await {
            let page: Vec<ListedObject> = page.into_iter().collect::<Result<_, _>>()?;
            summary.objects_scanned += page.len();
            let old: Vec<&ListedObject> = page.iter().filter(|o| o.modified < cutoff).collect();
            let keys: Vec<FileKey> = old.iter().map(|o| o.key.clone()).collect::<HashSet<_>>().into_iter().collect();
            let states = self.repo.key_states(&keys).await?;
            let states: HashMap<&FileKey, &KeyState> = states.iter().map(|s| (&s.file_key, s)).collect();
            for object in old {
                let state = states.get(&object.key);
                if !state.is_some_and(|s| s.is_live()) {
                    if last_removed.as_ref() != Some(&object.key) {
                        tracing::info!(key = %object.key, "removing an object no live file has");
                        match self.objects.delete_file(&object.key).await {
                            Ok(()) | Err(StorageError::NotFound) => summary.orphans_removed += 1,
                            Err(e) => return Err(e.into()),
                        }
                        last_removed = Some(object.key.clone());
                    }
                    continue;
                }
                let pinned = state.filter(|s| s.is_available()).and_then(|s| s.object_version.as_ref());
                if let (Some(pinned), Some(version)) = (pinned, &object.version) {
                    if pinned != version {
                        tracing::info!(key = %object.key, version = %version, "removing a version its file does not pin");
                        match self.objects.delete_version(&object.key, version).await {
                            Ok(()) | Err(StorageError::NotFound) => summary.versions_removed += 1,
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            }
            progress("objects scanned", page.len());
        }
        Ok(())
    }

    /// Documents of no available file, or written before their key's last change.
    async fn repair_documents(
        &self,
        policy: Policy,
        summary: &mut Summary,
        progress: &Progress<'_>,
    ) -> Result<(), ReconcileError> {
        let mut after: Option<FileKey> = None;
        loop {
            let documents = self.inventory.documents_after(after.as_ref(), policy.page_size()).await?;
            let Some(last) = documents.last() else { return Ok(()) };
            after = Some(last.file_key.clone());
            let keys: Vec<FileKey> = documents.iter().map(|d| d.file_key.clone()).collect();
            let states = self.repo.key_states(&keys).await?;
            let stale: Vec<FileKey> = documents
                .iter()
                .zip(&states)
                .filter(|(document, state)| {
                    !state.is_available() || state.index_version.is_some_and(|v| v > document.version)
                })
                .map(|(document, _)| document.file_key.clone())
                .collect();
            summary.documents_scanned += documents.len();
            summary.stale_documents += stale.len();
            self.refresh(&stale, policy).await?;
            progress("documents checked", documents.len());
            if documents.len() < policy.page_size() {
                return Ok(());
            }
        }
    }

    /// Available files (confirmed long enough ago to be indexed) without a document.
    async fn repair_files(
        &self,
        policy: Policy,
        summary: &mut Summary,
        progress: &Progress<'_>,
    ) -> Result<(), ReconcileError> {
        let mut after: Option<FileKey> = None;
        loop {
            let files = self.repo.available_after(after.as_ref(), policy.resend_after, policy.page).await?;
            let Some(last) = files.last() else { return Ok(()) };
            after = Some(last.file_key.clone());
            let keys: Vec<FileKey> = files.iter().map(|f| f.file_key.clone()).collect();
            let held = self.inventory.documents_of(&keys).await?;
            let held: HashSet<&FileKey> = held.iter().map(|d| &d.file_key).collect();
            let missing: Vec<FileKey> = keys.iter().filter(|k| !held.contains(k)).cloned().collect();
            summary.files_scanned += files.len();
            summary.missing_documents += missing.len();
            self.refresh(&missing, policy).await?;
            progress("files checked", files.len());
            if files.len() < policy.page_size() {
                return Ok(());
            }
        }
    }

    /// An outbox entry for each key, delivered now: sent to the index queue, or applied here.
    /// An entry that cannot be delivered now stays in the outbox for the next run.
    async fn refresh(&self, keys: &[FileKey], policy: Policy) -> Result<(), ReconcileError> {
        if keys.is_empty() {
            return Ok(());
        }
        tracing::info!(count = keys.len(), "refreshing documents that differ from the database");
        // Leased for the resend delay when delivered here; otherwise free for the next poller.
        let delivered_here = self.queue.is_some() || self.indexer.is_some();
        let lease = if delivered_here { policy.delivery_lease() } else { Duration::ZERO };
        let entries: Vec<Queued> = self.outbox.enqueue(keys, lease).await?;
        match (&self.queue, &self.indexer) {
            (Some(queue), _) => queue.send(&entries).await?,
            (None, Some(indexer)) => {
                apply_entries(self.outbox.as_ref(), indexer, &entries).await?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    async fn redeliver(
        &self,
        policy: Policy,
        summary: &mut Summary,
        progress: &Progress<'_>,
    ) -> Result<(), ReconcileError> {
        match (&self.queue, &self.indexer) {
            (Some(queue), _) => loop {
                // Leased for the delay: the resent message has that long before it is resent
                // (and this run, which sends each entry once, never takes it again).
                let entries = self.outbox.lease(policy.page, policy.resend_after, policy.delivery_lease()).await?;
                if entries.is_empty() {
                    return Ok(());
                }
                queue.send(&entries).await?;
                summary.resent += entries.len();
                progress("resent", entries.len());
            },
            (None, Some(indexer)) => loop {
                let pass = drain(self.outbox.as_ref(), indexer, policy.page, policy.resend_after).await?;
                if pass.applied + pass.dropped == 0 {
                    return Ok(());
                }
                summary.applied += pass.applied;
                progress("applied", pass.applied);
            },
            (None, None) => Ok(()),
        }
    }
}

type Progress<'a> = dyn Fn(&str, usize) + Sync + 'a;
