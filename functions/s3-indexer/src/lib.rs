//! `s3-indexer`: the bucket's `ObjectCreated:*` and `ObjectRemoved:*` notifications keep the
//! search index in step with storage. Every record is applied (bounded concurrency, one bulk
//! write); if any fails, the invocation fails with a `Retryable` (or `NonRetryable`) error
//! naming the keys, so Lambda retries the event and the dead-letter queue keeps what never
//! succeeds. Records already applied converge on retry: duplicates and late arrivals change
//! nothing.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use files_core::file::ObjectVersion;
use files_core::indexing::{Change, Indexer, Outcome};
use files_core::keys::FileKey;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;

/// What one invocation did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Documents written.
    pub indexed: usize,
    /// Documents removed.
    pub removed: usize,
    /// Records older than what was already applied.
    pub stale: usize,
    /// Objects with no available file (never confirmed, or not ours).
    pub not_tracked: usize,
    /// Records that are not object notifications (e.g. `s3:TestEvent`).
    pub ignored: usize,
    /// Bytes no file has (its file was deleted, or it pins another version): removed from the
    /// bucket, or, for a removal, nothing to do.
    pub stray: usize,
}

/// Records that could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("{} of the event's records failed: {}", .keys.len(), .keys.join(", "))]
pub struct BatchFailure {
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// The keys that failed.
    pub keys: Vec<String>,
}

impl From<BatchFailure> for Diagnostic {
    fn from(failure: BatchFailure) -> Self {
        Diagnostic {
            error_type: if failure.retryable { "Retryable" } else { "NonRetryable" }.to_owned(),
            error_message: failure.to_string(),
        }
    }
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
    /// upload prefix): no file has it, so nothing is indexed and no state is kept.
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

/// The function's handler.
///
/// # Errors
/// A [`BatchFailure`] naming every record that failed (`Retryable` when any failure is
/// transient), after all the others were applied.
#[tracing::instrument(skip_all, fields(records = event.payload.records.len()))]
pub async fn handle(indexer: &Indexer, event: LambdaEvent<S3Event>) -> Result<Report, BatchFailure> {
    let mut report = Report::default();
    let mut failed = Vec::new();
    let mut changes = Vec::new();
    for record in &event.payload.records {
        match change_of(record) {
            Record::Ignored => report.ignored += 1,
            Record::Change(change) => changes.push(change),
            Record::Foreign(key) => {
                tracing::info!(key, "a key this service never writes; not indexed");
                report.not_tracked += 1;
            }
            Record::Refused { key, reason } => {
                tracing::error!(key, reason, "a record refused");
                failed.push(key);
            }
            Record::Undecodable(raw) => {
                tracing::error!(key = raw, "an event key that does not decode");
                failed.push(raw);
            }
        }
    }
    let mut retryable = false;
    for (change, result) in changes.iter().zip(indexer.apply(&changes).await) {
        match result {
            Ok(Outcome::Indexed) => report.indexed += 1,
            Ok(Outcome::Removed) => report.removed += 1,
            Ok(Outcome::Stale) => report.stale += 1,
            Ok(Outcome::NotTracked) => report.not_tracked += 1,
            Ok(Outcome::Stray) => report.stray += 1,
            Err(e) => {
                tracing::error!(key = %change.key(), error = %files_core::telemetry::error_chain(&e), "record failed");
                retryable |= e.is_transient();
                failed.push(change.key().as_str().to_owned());
            }
        }
    }
    if failed.is_empty() {
        tracing::info!(?report, "batch applied");
        Ok(report)
    } else {
        Err(BatchFailure { retryable, keys: failed })
    }
}
