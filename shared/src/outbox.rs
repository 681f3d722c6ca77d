//! The transactional outbox: how a committed change reaches the search index, whatever fails
//! after the commit.
//!
//! - The row change and its [`Queued`] entry are one statement (confirm, proxied upload,
//!   delete; see [`crate::db::FileRepository`]): no change commits without its entry.
//! - After the commit, the API function hands the entry to the [`IndexQueue`] (an SQS message
//!   to the indexer on AWS) and answers; a failed send is logged, nothing more: the entry stays.
//! - The indexer applies an entry by the file's state at that moment (available: indexed; gone
//!   or pending: its document removed), so an entry applied twice, late, or after a newer one
//!   converges, and then deletes it ([`Outbox::complete`]).
//! - Entries still there after a delay are taken up again by a poller ([`drain`]): the
//!   reconciler on AWS, and under `make dev` (which has no SQS) `files-admin index-worker`,
//!   which runs the same indexer over every entry at once.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::db::RepositoryError;
pub use crate::db::{Outbox, Queued};
use crate::indexing::{Change, Indexer};

/// A failed hand-over to the queue; the entry stays in the outbox.
#[derive(Debug, thiserror::Error)]
#[error("could not send to the index queue")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where API functions hand committed entries to the indexer.
#[async_trait]
pub trait IndexQueue: Send + Sync + std::fmt::Debug {
    /// Sends `entries` to the indexer.
    ///
    /// # Errors
    /// [`QueueError`] when the queue cannot be reached; the entries stay in the outbox.
    async fn send(&self, entries: &[Queued]) -> Result<(), QueueError>;
}

/// No queue (the local backend, `make dev`): the outbox itself is polled.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolledOutbox;

#[async_trait]
impl IndexQueue for PolledOutbox {
    async fn send(&self, _entries: &[Queued]) -> Result<(), QueueError> {
        Ok(())
    }
}

/// Hands `entry` to `queue` after its commit; a failure is logged (the poller takes it up).
pub async fn hand_over(queue: &dyn IndexQueue, entry: &Queued) {
    if let Err(e) = queue.send(std::slice::from_ref(entry)).await {
        tracing::warn!(
            outbox_id = entry.id,
            key = %entry.file_key,
            error = %crate::telemetry::error_chain(&e),
            "the index change stays in the outbox until it is re-sent"
        );
    }
}

/// What one [`drain`] pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Drained {
    /// Entries applied and deleted.
    pub applied: usize,
    /// Entries whose change failed for a passing reason; they stay for a later pass.
    pub failed: usize,
    /// Entries whose change was refused for good (logged as errors); deleted.
    pub dropped: usize,
}

/// One pass over the outbox: leases up to `limit` entries at least `older_than` old, applies
/// them with `indexer`, and deletes those applied.
///
/// # Errors
/// [`RepositoryError`] when the outbox cannot be read or written.
pub async fn drain(
    outbox: &dyn Outbox,
    indexer: &Indexer,
    limit: i64,
    older_than: Duration,
) -> Result<Drained, RepositoryError> {
    // Long enough for a batch with text extraction; a crashed poller's entries come back then.
    let lease = Duration::from_secs(120);
    let entries = outbox.lease(limit, older_than, lease).await?;
    apply_entries(outbox, indexer, &entries).await
}

/// Applies leased `entries` with `indexer` and deletes those applied (and those refused for
/// good, logged); entries that failed for a transient reason stay for their lease to end.
///
/// # Errors
/// [`RepositoryError`] when the outbox cannot be written.
pub async fn apply_entries(
    outbox: &dyn Outbox,
    indexer: &Indexer,
    entries: &[Queued],
) -> Result<Drained, RepositoryError> {
    if entries.is_empty() {
        return Ok(Drained::default());
    }
    let changes: Vec<Change> = entries.iter().map(|entry| Change::of_file(&entry.file_key)).collect();
    let results = indexer.apply(&changes).await;
    let (mut done, mut retry) = (Vec::new(), Vec::new());
    let mut dropped = 0;
    for (entry, result) in entries.iter().zip(results) {
        match result {
            Ok(_) => done.push(entry.id),
            Err(e) if e.is_transient() => {
                retry.push(entry.id);
                tracing::warn!(outbox_id = entry.id, key = %entry.file_key, error = %crate::telemetry::error_chain(&e), "index change failed; retried after a backoff");
            }
            Err(e) => {
                // Retrying cannot help; the next change of the file, or a reindex, brings the
                // document up to date.
                dropped += 1;
                done.push(entry.id);
                tracing::error!(outbox_id = entry.id, key = %entry.file_key, error = %crate::telemetry::error_chain(&e), "index change refused; entry dropped");
            }
        }
    }
    outbox.complete(&done).await?;
    outbox.retry_later(&retry).await?;
    Ok(Drained { applied: done.len() - dropped, failed: retry.len(), dropped })
}

/// The indexer's SQS queue (`INDEXER_QUEUE_URL`): each entry a message whose body is the
/// entry as JSON (`{"outbox_id": 12, "file_key": "uploads/…"}`), sent in batches of ten: the
/// reconciler's, which re-sends entries by the page. The API functions hand over through
/// [`SqsHandOver`].
#[derive(Debug, Clone)]
pub struct SqsIndexQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsIndexQueue {
    /// The queue at `url`, reached at the URL's own origin (so a LocalStack queue URL works as
    /// an AWS one does) in the region its host names (`sqs.<region>.amazonaws.com`), else the
    /// environment's; credentials as for S3 (`s3`), else the environment's. No network yet.
    pub async fn new(url: &str, s3: Option<&crate::config::S3Settings>) -> Self {
        let (origin, host) = split_origin(url);
        let region = host.strip_prefix("sqs.").and_then(|rest| rest.split('.').next()).map(str::to_owned);
        let sdk = crate::aws::sdk_config(s3, region).await;
        let config = aws_sdk_sqs::config::Builder::from(&sdk).endpoint_url(origin).build();
        Self { client: aws_sdk_sqs::Client::from_conf(config), url: url.to_owned() }
    }
}

/// `https://host[:port]` and `host` of a URL.
fn split_origin(url: &str) -> (String, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.split(':').next().unwrap_or_default();
    (format!("{scheme}://{authority}"), host)
}

#[async_trait]
impl IndexQueue for SqsIndexQueue {
    async fn send(&self, entries: &[Queued]) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        for chunk in entries.chunks(10) {
            let mut batch = Vec::with_capacity(chunk.len());
            for entry in chunk {
                let body = serde_json::to_string(entry).map_err(|e| QueueError(Box::new(e)))?;
                let message = SendMessageBatchRequestEntry::builder()
                    .id(entry.id.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| QueueError(Box::new(e)))?;
                batch.push(message);
            }
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(|e| QueueError(Box::new(aws_sdk_sqs::Error::from(e))))?;
            if let Some(failed) = sent.failed().first() {
                let reason = format!("{} of {} entries refused: {}", sent.failed().len(), chunk.len(), failed.code());
                return Err(QueueError(reason.into()));
            }
        }
        Ok(())
    }
}

/// The indexer's SQS queue as the API functions use it: each entry one `SendMessage`. A request
/// hands over one entry; the batch call, with its answer of per-entry failures, is the larger
/// code (25-40 KB of each API binary) for a function that never sends more than one.
#[derive(Debug, Clone)]
pub struct SqsHandOver(SqsIndexQueue);

#[async_trait]
impl IndexQueue for SqsHandOver {
    async fn send(&self, entries: &[Queued]) -> Result<(), QueueError> {
        for entry in entries {
            let body = serde_json::to_string(entry).map_err(|e| QueueError(Box::new(e)))?;
            self.0
                .client
                .send_message()
                .queue_url(&self.0.url)
                .message_body(body)
                .send()
                .await
                .map_err(|e| QueueError(Box::new(aws_sdk_sqs::Error::from(e))))?;
        }
        Ok(())
    }
}

/// The API functions' queue of `settings`: SQS when `INDEXER_QUEUE_URL` is set (one message an
/// entry), else the polled outbox.
pub async fn build_queue(settings: &crate::Settings) -> std::sync::Arc<dyn IndexQueue> {
    match &settings.search.indexer_queue_url {
        Some(url) => std::sync::Arc::new(SqsHandOver(SqsIndexQueue::new(url, settings.storage.s3()).await)),
        None => std::sync::Arc::new(PolledOutbox),
    }
}

/// The reconciler's queue of `settings`: SQS in batches of ten when `INDEXER_QUEUE_URL` is set
/// (without one, entries stay in the outbox for the next poller).
pub async fn build_batch_queue(settings: &crate::Settings) -> Option<std::sync::Arc<dyn IndexQueue>> {
    let url = settings.search.indexer_queue_url.as_ref()?;
    Some(std::sync::Arc::new(SqsIndexQueue::new(url, settings.storage.s3()).await))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::FileKey;

    #[test]
    fn a_queue_url_gives_its_origin_and_region_host() {
        assert_eq!(
            split_origin("https://sqs.eu-west-1.amazonaws.com/123456789012/files-index"),
            ("https://sqs.eu-west-1.amazonaws.com".to_owned(), "sqs.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            split_origin("http://127.0.0.1:4566/000000000000/q"),
            ("http://127.0.0.1:4566".to_owned(), "127.0.0.1")
        );
    }

    #[test]
    fn an_entry_is_the_message_body_the_indexer_reads() {
        let entry = Queued { id: 7, file_key: FileKey::parse("uploads/a.txt").unwrap() };
        let body = serde_json::to_string(&entry).unwrap();
        assert_eq!(body, r#"{"outbox_id":7,"file_key":"uploads/a.txt"}"#);
        assert_eq!(serde_json::from_str::<Queued>(&body).unwrap(), entry);
    }
}
