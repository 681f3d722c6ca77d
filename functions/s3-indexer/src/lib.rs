//! `s3-indexer`: reads the index queue, whose messages are the bucket's `ObjectCreated:*` and
//! `ObjectRemoved:*` notifications and the API functions' outbox entries, and keeps the search
//! index in step with storage and the database. All the changes of a batch are applied together
//! (bounded concurrency, one bulk write); only the messages that failed are reported back
//! (`batchItemFailures`), so SQS redelivers them and, after the queue's `maxReceiveCount`, moves
//! them to the dead-letter queue, while the rest of the batch is done. Messages already applied
//! converge when they come again: duplicates and late arrivals change nothing.

use std::sync::Arc;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use files_core::file::ObjectVersion;
use files_core::indexing::{Change, Indexer, Outcome};
use files_core::keys::FileKey;
use files_core::outbox::{Outbox, Queued};
use lambda_runtime::LambdaEvent;
use serde::Serialize;

/// What one batch did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Documents written.
    pub indexed: usize,
    /// Documents removed.
    pub removed: usize,
    /// Records older than what was already applied.
    pub stale: usize,
    /// Objects with no available file (never confirmed, or still pending).
    pub not_tracked: usize,
    /// Records that are not object notifications (e.g. `s3:TestEvent`).
    pub ignored: usize,
    /// Bytes no file has (its file was deleted, or it pins another version): removed from the
    /// bucket, or, for a removal, nothing to do.
    pub stray: usize,
    /// Outbox entries applied (and deleted from the outbox).
    pub outbox: usize,
}

/// Messages that could not be applied, as [`process`] reports them.
#[derive(Debug, Default, thiserror::Error)]
#[error("{} of the batch's messages failed: {}", .message_ids.len(), .keys.join(", "))]
pub struct BatchFailure {
    /// Whether a retry may succeed for every one of them.
    pub retryable: bool,
    /// The keys that failed (the raw text for a body that names none).
    pub keys: Vec<String>,
    /// The ids of the failed messages.
    pub message_ids: Vec<String>,
}

/// The indexer and the outbox whose entries it deletes once applied.
#[derive(Debug, Clone)]
pub struct State {
    /// Applies changes.
    pub indexer: Indexer,
    /// The outbox the API functions write.
    pub outbox: Arc<dyn Outbox>,
}

/// What a message's body is.
#[derive(Debug)]
pub enum Message {
    /// An S3 notification (`{"Records": [...]}`).
    S3(S3Event),
    /// An outbox entry (`{"outbox_id": 12, "file_key": "uploads/…"}`).
    Outbox(Queued),
    /// S3's `s3:TestEvent`, sent when notifications are configured.
    Test,
    /// Anything else: a poison message.
    Malformed(String),
}

/// Reads a message body.
pub fn message_of(body: &str) -> Message {
    #[derive(serde::Deserialize)]
    struct TestEvent {
        #[serde(rename = "Event")]
        event: String,
    }
    if let Ok(entry) = serde_json::from_str::<Queued>(body) {
        return Message::Outbox(entry);
    }
    if let Ok(event) = serde_json::from_str::<S3Event>(body) {
        if !event.records.is_empty() {
            return Message::S3(event);
        }
    }
    if serde_json::from_str::<TestEvent>(body).is_ok_and(|t| t.event == "s3:TestEvent") {
        return Message::Test;
    }
    let mut shown: String = body.chars().take(200).collect();
    if shown.len() < body.len() {
        shown.push('…');
    }
    Message::Malformed(shown)
}

/// The object key of a record: S3 sends it URL-encoded, a space as `+` (AWS) or `%20`
/// (LocalStack); decoding as application/x-www-form-urlencoded handles both.
pub fn decode_key(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&raw.replace('+', " ")).decode_utf8().ok().map(|k| k.into_owned())
}

/// What a record is to the indexer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Not an object notification (e.g. `s3:TestEvent`).
    Ignored,
    /// A key that does not decode: reported as failed.
    Undecodable(String),
    /// A key this service could never have written (not a valid [`FileKey`], or outside its
    /// upload prefix): a poison message; nothing is indexed and no state is kept.
    Foreign(String),
    /// A sequencer that is not what S3 sends (hexadecimal, at most [`MAX_SEQUENCER_LEN`]
    /// digits): reported as failed, nothing applied.
    Refused {
        /// The object key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// A change to apply.
    Change(Change),
}

/// The longest sequencer accepted: `index_state` compares sequencers right-padded to this many
/// hexadecimal digits (S3's are 16 to 18 today).
pub const MAX_SEQUENCER_LEN: usize = 64;

/// Why a sequencer is refused, if it is.
fn refusal(sequencer: Option<&str>) -> Option<&'static str> {
    let sequencer = sequencer?;
    if sequencer.is_empty() || !sequencer.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some("the sequencer is not hexadecimal")
    } else if sequencer.len() > MAX_SEQUENCER_LEN {
        Some("the sequencer is longer than 64 digits")
    } else {
        None
    }
}

/// What `record` describes.
pub fn change_of(record: &S3EventRecord) -> Record {
    let name = record.event_name.as_deref().unwrap_or_default();
    let created = name.starts_with("ObjectCreated:");
    if !created && !name.starts_with("ObjectRemoved:") {
        return Record::Ignored;
    }
    let raw = record.s3.object.key.as_deref().unwrap_or_default();
    let Some(decoded) = decode_key(raw).filter(|k| !k.is_empty()) else {
        return Record::Undecodable(raw.to_owned());
    };
    let Some(key) = FileKey::parse(&decoded).ok().filter(FileKey::is_upload) else {
        return Record::Foreign(decoded);
    };
    let sequencer = record.s3.object.sequencer.clone();
    if let Some(reason) = refusal(sequencer.as_deref()) {
        return Record::Refused { key: decoded, reason };
    }
    let version = ObjectVersion::from_store(record.s3.object.version_id.as_deref());
    Record::Change(if created {
        Change::Created { key, sequencer, version }
    } else {
        Change::Removed { key, sequencer, version }
    })
}

/// A change to apply, and the message it came from.
struct Pending {
    message: usize,
    change: Change,
    outbox_id: Option<i64>,
}

/// Why a message fails.
struct Failure {
    message: usize,
    key: String,
    retryable: bool,
}

/// Reads every message into changes (or failures), counting what needs nothing.
fn read_batch(messages: &[SqsMessage], report: &mut Report) -> (Vec<Pending>, Vec<Failure>) {
    let (mut pending, mut failures) = (Vec::new(), Vec::new());
    for (i, message) in messages.iter().enumerate() {
        let fail = |key: String| Failure { message: i, key, retryable: false };
        match message_of(message.body.as_deref().unwrap_or_default()) {
            Message::Test => report.ignored += 1,
            Message::Malformed(body) => {
                tracing::error!(message_id = ?message.message_id, body, "a message that is neither a notification nor an outbox entry");
                failures.push(fail(body));
            }
            Message::Outbox(entry) => pending.push(Pending {
                message: i,
                change: Change::of_file(&entry.file_key),
                outbox_id: Some(entry.id),
            }),
            Message::S3(event) => {
                for record in &event.records {
                    match change_of(record) {
                        Record::Ignored => report.ignored += 1,
                        Record::Change(change) => pending.push(Pending { message: i, change, outbox_id: None }),
                        Record::Foreign(key) => {
                            tracing::error!(key, "a key this service never writes; nothing applied");
                            failures.push(fail(key));
                        }
                        Record::Refused { key, reason } => {
                            tracing::error!(key, reason, "a record refused");
                            failures.push(fail(key));
                        }
                        Record::Undecodable(raw) => {
                            tracing::error!(key = raw, "an event key that does not decode");
                            failures.push(fail(raw));
                        }
                    }
                }
            }
        }
    }
    (pending, failures)
}

/// Applies a batch of messages: every change of every message together, then deletes the
/// outbox entries applied.
///
/// # Errors
/// A [`BatchFailure`] naming the messages that failed, after all the others were applied.
#[tracing::instrument(skip_all, fields(messages = messages.len()))]
pub async fn process(state: &State, messages: &[SqsMessage]) -> Result<Report, BatchFailure> {
    let mut report = Report::default();
    let (pending, mut failures) = read_batch(messages, &mut report);
    // A message with a refused record is failed whole: none of its records is applied.
    let refused: std::collections::HashSet<usize> = failures.iter().map(|f| f.message).collect();
    let pending: Vec<Pending> = pending.into_iter().filter(|p| !refused.contains(&p.message)).collect();
    let changes: Vec<Change> = pending.iter().map(|p| p.change.clone()).collect();
    let mut applied_entries = Vec::new();
    for (item, result) in pending.iter().zip(state.indexer.apply(&changes).await) {
        match result {
            Ok(outcome) => {
                match outcome {
                    Outcome::Indexed => report.indexed += 1,
                    Outcome::Removed => report.removed += 1,
                    Outcome::Stale => report.stale += 1,
                    Outcome::NotTracked => report.not_tracked += 1,
                    Outcome::Stray => report.stray += 1,
                }
                applied_entries.extend(item.outbox_id);
            }
            Err(e) => {
                tracing::error!(key = %item.change.key(), error = %files_core::telemetry::error_chain(&e), "change failed");
                failures.push(Failure {
                    message: item.message,
                    key: item.change.key().as_str().to_owned(),
                    retryable: e.is_transient(),
                });
            }
        }
    }
    report.outbox = applied_entries.len();
    if let Err(e) = state.outbox.complete(&applied_entries).await {
        // Applied, but still in the outbox: the reconciler applies them again, which converges.
        tracing::warn!(error = %files_core::telemetry::error_chain(&e), "applied outbox entries not deleted");
    }
    if failures.is_empty() {
        tracing::info!(?report, "batch applied");
        return Ok(report);
    }
    let mut failed = BatchFailure { retryable: failures.iter().all(|f| f.retryable), ..BatchFailure::default() };
    let mut seen = std::collections::BTreeSet::new();
    for failure in failures {
        failed.keys.push(failure.key);
        if seen.insert(failure.message) {
            failed.message_ids.push(messages[failure.message].message_id.clone().unwrap_or_default());
        }
    }
    tracing::warn!(?report, failed = failed.message_ids.len(), "batch applied in part");
    Err(failed)
}

/// The function's handler: the messages that failed go back to the queue
/// (`ReportBatchItemFailures`), the rest are done.
///
/// # Errors
/// None: every failure is a batch item failure.
pub async fn handle(state: &State, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let failed = match process(state, &event.payload.records).await {
        Ok(_) => Vec::new(),
        Err(failure) => failure.message_ids,
    };
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
}
