//! The reconciler: the periodic work that makes the service converge whatever was lost on the
//! way (`files-admin reconcile`; on AWS a scheduled function, issue #14). Each run works in
//! bounded pages, is idempotent, and holds a PostgreSQL advisory lock, so two runs at once
//! never act twice (the second finds the lock taken and does nothing).
//!
//! - **Expired uploads**: pending rows older than the pending TTL become `expired` and their
//!   objects, if any, are removed (S3: every version; local: a tombstone keeps the key).
//! - **Undelivered outbox entries**: entries older than a delay (their message was lost, or
//!   the indexer failed on them) are sent to the index queue again, or, with no queue (local),
//!   applied by the indexer here.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::db::{DbPool, FileRepository, RepositoryError};
use crate::indexing::Indexer;
use crate::outbox::{drain, IndexQueue, Outbox};
use crate::storage::{ObjectStore, StorageError};

/// The advisory lock key of the reconciler (any constant unique to it in the database).
pub const LOCK_KEY: i64 = 0x6669_6c65_7372_6563; // "filesrec"

/// How a run is bounded and what it waits for.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Pending uploads older than this expire (`UPLOAD_PENDING_TTL_SECONDS`, default 24 h).
    pub pending_ttl: Duration,
    /// Outbox entries older than this are delivered again.
    pub resend_after: Duration,
    /// Rows or entries per page.
    pub page: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self { pending_ttl: Duration::from_secs(24 * 3600), resend_after: Duration::from_secs(300), page: 500 }
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
        loop {
            let expired = self.repo.expire_pending(policy.pending_ttl, policy.page).await?;
            if expired.is_empty() {
                break;
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
        match (&self.queue, &self.indexer) {
            (Some(queue), _) => loop {
                // Leased for the delay: the resent message has that long before it is resent.
                let entries = self.outbox.lease(policy.page, policy.resend_after, policy.resend_after).await?;
                if entries.is_empty() {
                    break;
                }
                queue.send(&entries).await?;
                summary.resent += entries.len();
                progress("resent", entries.len());
            },
            (None, Some(indexer)) => loop {
                let pass = drain(self.outbox.as_ref(), indexer, policy.page, policy.resend_after).await?;
                if pass.applied + pass.dropped == 0 {
                    break;
                }
                summary.applied += pass.applied;
                progress("applied", pass.applied);
            },
            (None, None) => {}
        }
        tracing::info!(?summary, "reconciled");
        Ok(summary)
    }
}
