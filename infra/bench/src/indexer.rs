//! The indexer's figures (#4), on the S3 backend (LocalStack) with the real search servers:
//!
//! - documents/s for one batch of 1,000 `ObjectCreated` changes applied by [`Indexer::apply`]
//!   (bounded concurrency, one bulk request): metadata only (types with nothing to extract, so
//!   no object is read) and with text extraction (every object read from S3), into
//!   Elasticsearch (osmem-server) and into the PostgreSQL fallback;
//! - documents/s of the same 1,000 objects as S3 notifications in SQS messages, through the
//!   s3-indexer handler's batch processing (`s3_indexer::process`) as the event source mapping
//!   hands them over: batches of `IndexerBatchSize` (10) messages, `IndexerMaximumConcurrency`
//!   (5) batches at once (#14), into Elasticsearch and into the PostgreSQL fallback; beside
//!   them, the search server's rate for the same bulk requests alone (no claim, no read), the
//!   ceiling it sets on the figure from SQS;
//! - peak RSS of extracting a large PDF, in a child process of its own (`files-bench
//!   extract-pdf`), through the same `extract` the indexer calls: streamed from storage, parsed
//!   in the extractor child that `extract` starts; the peak is the caller's plus the extractor's.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use bytes::Bytes;
use files_core::config::StorageBackendKind;
use files_core::db::{FileRepository, PgFileRepository, PgIndexVersions, PgSearchIndex};
use files_core::file::{FileRecord, FileStatus, NewFile, StorageLocation};
use files_core::indexing::{Change, IndexWriter, Indexer, Outcome};
use files_core::keys::{ContentType, FileKey, OriginalFilename};
use files_core::search::elastic::ElasticIndex;
use files_core::search::extract::{self, Extractor, Limits};
use files_core::search::{IndexDocuments, SearchDocument, Upsert};
use files_core::storage::{ObjectStore, PutConstraints};
use files_core::{Caller, Settings};
use serde::{Deserialize, Serialize};

use crate::report::{Figure, Target, Unit};

/// Records in the measured batch (#4).
pub const BATCH: usize = 1000;
/// Messages per indexer invocation (the template's `IndexerBatchSize` default).
const SQS_BATCH: usize = 10;
/// Invocations at once (the template's `IndexerMaximumConcurrency` default).
const SQS_CONCURRENCY: usize = 5;
/// Size of the PDF, DOCX and XLSX whose extraction is measured (#4, #16: 20 MB).
pub const PDF_BYTES: usize = 20_000_000;
/// `EXTRACT_MAX_CHARS` for reading a whole document's text.
const WHOLE_TEXT_CHARS: usize = 500_000_000;
/// The word every generated document carries, checked in the extracted text.
const MARKER: &str = "wombat";

const MIB: f64 = 1024.0 * 1024.0;

/// What the extraction child reports on its last line of output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractResult {
    /// Size of the PDF.
    pub bytes: u64,
    /// Characters of text indexed.
    pub chars: usize,
    /// Whether the marker word was found in the text.
    pub found_marker: bool,
    /// Read + parse, seconds.
    pub seconds: f64,
    /// Peak RSS of the process (`VmHWM`) plus that of the PDF extractor it started, KiB: both
    /// are resident at once.
    pub peak_rss_kib: u64,
}

/// One batch configuration: its rows, and the index it writes to.
struct Batch {
    label: &'static str,
    keys: Vec<FileKey>,
    records: Vec<FileRecord>,
}

impl Batch {
    fn of(label: &'static str, records: Vec<FileRecord>) -> Self {
        Self { label, keys: records.iter().map(|r| r.file_key.clone()).collect(), records }
    }
}

/// The figures: rates over `runs` batches per configuration, then the PDF child `runs` times.
///
/// `env` configures the S3 backend; `elasticsearch_url` the search server (osmem-server).
///
/// # Errors
/// When a server is missing, a change fails, or the child does.
pub async fn figures(
    env: &[(String, String)],
    elasticsearch_url: &str,
    exe: &Path,
    runs: usize,
) -> anyhow::Result<Vec<Figure>> {
    let mut env: HashMap<String, String> = env.iter().cloned().collect();
    env.insert("ELASTICSEARCH_URL".to_owned(), elasticsearch_url.to_owned());
    env.insert("ELASTICSEARCH_INDEX".to_owned(), "files-bench".to_owned());
    let settings = Settings::from_map(&env).context("the indexer bench settings are valid")?;
    let mut database = settings.database.clone();
    database.pool_size = database.pool_size.max(settings.search.indexer_concurrency);
    let pool = files_core::state::build_pool(&settings, &database).await?;
    let repo: Arc<dyn FileRepository> = Arc::new(PgFileRepository::new(pool.clone()));
    let storage = files_core::storage::build_objects(&settings.storage).await?;
    let elastic = ElasticIndex::from_settings(&settings.search)?;
    elastic.ensure_index().await.with_context(|| format!("the search server at {elasticsearch_url} is required"))?;
    let indexes: [(&str, Arc<dyn IndexDocuments>); 2] = [
        ("Elasticsearch", Arc::new(elastic)),
        ("PostgreSQL fallback", Arc::new(PgSearchIndex::new(pool.clone(), "simple"))),
    ];

    eprintln!("files-bench: indexer: seeding {BATCH} metadata-only rows and {BATCH} text objects in S3");
    let batches = [
        Batch::of("metadata only", seed(repo.as_ref(), storage.as_ref(), "image/png", false).await?),
        Batch::of("text from S3", seed(repo.as_ref(), storage.as_ref(), "text/plain", true).await?),
    ];

    let mut figures = Vec::new();
    // Every run's changes carry a newer sequencer than the last, as fresh S3 events would.
    let mut sequencer = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(1) << 8;
    for (index_label, index) in &indexes {
        let writer = IndexWriter::new(Arc::new(PgIndexVersions::new(pool.clone())), index.clone());
        let text = Arc::new(Extractor::new(storage.clone(), Limits::of(&settings.search)));
        let indexer = Indexer::new(writer, text, storage.clone(), settings.search.indexer_concurrency);
        for batch in &batches {
            let mut rates = Vec::with_capacity(runs);
            for _ in 0..runs {
                sequencer += 1;
                let changes: Vec<Change> = batch
                    .keys
                    .iter()
                    .map(|key| Change::Created {
                        key: key.clone(),
                        sequencer: Some(format!("{sequencer:016X}")),
                        version: None,
                    })
                    .collect();
                let started = Instant::now();
                let outcomes = indexer.apply(&changes).await;
                let seconds = started.elapsed().as_secs_f64();
                let indexed = outcomes.iter().filter(|o| matches!(o, Ok(Outcome::Indexed))).count();
                if indexed != changes.len() {
                    let first = outcomes.iter().find(|o| !matches!(o, Ok(Outcome::Indexed)));
                    bail!(
                        "{index_label}, {}: {indexed} of {} indexed; first other: {first:?}",
                        batch.label,
                        changes.len()
                    );
                }
                rates.push(changes.len() as f64 / seconds);
            }
            // The target (#4) is set for the metadata-only batch; extraction is reported beside it.
            let target = (batch.label == "metadata only").then_some(Target::at_least(2000.0, "#4"));
            let name = format!("{BATCH} ObjectCreated, {} → {index_label}", batch.label);
            figures.push(Figure::new("indexer", name, Unit::PerSecond, rates, target));
        }
        figures
            .extend(sqs_figures(&settings_of(&env, index_label)?, &batches, &mut sequencer, index_label, runs).await?);
        if *index_label == "Elasticsearch" {
            figures.push(bulk_figure(index.as_ref(), &batches[0].records, &mut sequencer, runs).await?);
        }
    }

    eprintln!("files-bench: indexer: extracting a {} MB PDF, DOCX and XLSX ({runs} runs)", PDF_BYTES / 1_000_000);
    let child_env: Vec<(String, String)> = env.into_iter().collect();
    let measure = Extraction { storage: storage.as_ref(), exe, env: &child_env, runs };
    let pdf = Document { label: "PDF", content_type: "application/pdf", bytes: generate_pdf(PDF_BYTES)? };
    figures.extend(measure.figures(&pdf, None, Some(Target::below(96e6 / MIB, "#4 96 MB"))).await?);
    const OOXML: &str = "application/vnd.openxmlformats-officedocument";
    let office = [
        Document {
            label: "DOCX",
            content_type: &format!("{OOXML}.wordprocessingml.document"),
            bytes: crate::documents::docx(PDF_BYTES, MARKER)?,
        },
        Document {
            label: "XLSX",
            content_type: &format!("{OOXML}.spreadsheetml.sheet"),
            bytes: crate::documents::xlsx(PDF_BYTES, MARKER)?,
        },
    ];
    for document in &office {
        // As the indexer runs (EXTRACT_MAX_CHARS cuts the text), and the whole text read.
        figures.extend(measure.figures(document, None, None).await?);
        figures.extend(measure.figures(document, Some(WHOLE_TEXT_CHARS), None).await?);
    }
    Ok(figures)
}

/// A generated document to extract.
struct Document<'a> {
    label: &'static str,
    content_type: &'a str,
    bytes: Vec<u8>,
}

/// Extractions measured in a child process of their own (`files-bench extract`).
struct Extraction<'a> {
    storage: &'a dyn ObjectStore,
    exe: &'a Path,
    env: &'a [(String, String)],
    runs: usize,
}

impl Extraction<'_> {
    /// Time, rate and peak RSS (caller + extractor) of extracting `document` from the store,
    /// with `EXTRACT_MAX_CHARS` at `max_chars` (the default when `None`; then the marker at its
    /// end need not be reached).
    async fn figures(
        &self,
        document: &Document<'_>,
        max_chars: Option<usize>,
        rss_target: Option<Target>,
    ) -> anyhow::Result<Vec<Figure>> {
        let name = format!("{}.{}", document.label.to_ascii_lowercase(), document.label.to_ascii_lowercase());
        let key = FileKey::generate(&OriginalFilename::parse(&name)?);
        save(self.storage, &key, document.content_type, Bytes::from(document.bytes.clone())).await?;
        let mut env = self.env.to_vec();
        if let Some(chars) = max_chars {
            // A whole 20 MB document's text is tens of millions of characters: more than the
            // default address-space limit holds.
            env.push(("EXTRACT_MAX_CHARS".to_owned(), chars.to_string()));
            env.push(("EXTRACT_MAX_MEMORY_BYTES".to_owned(), (2u64 << 30).to_string()));
        }
        let (mut peaks, mut millis, mut rates, mut chars) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for _ in 0..self.runs {
            let result: ExtractResult = crate::child::run(
                self.exe,
                &["extract", "--key", key.as_str(), "--content-type", document.content_type],
                &env,
                Duration::from_secs(300),
                "extracting a document",
            )
            .await?;
            ensure!(
                result.found_marker || max_chars.is_none(),
                "the {}'s whole text was not extracted ({} chars)",
                document.label,
                result.chars
            );
            ensure!(result.chars > 1000, "the {}'s text was not extracted ({} chars)", document.label, result.chars);
            chars = result.chars;
            peaks.push(result.peak_rss_kib as f64 / 1024.0);
            millis.push(result.seconds * 1e3);
            rates.push(result.bytes as f64 / 1e6 / result.seconds);
        }
        self.storage.delete_file(&key).await.context("delete the document")?;
        let mb = document.bytes.len() / 1_000_000;
        let how = match max_chars {
            None => String::new(),
            Some(_) => format!(", whole text ({chars} chars)"),
        };
        let what = format!("extract {mb} MB {}{how}", document.label);
        Ok(vec![
            Figure::new("indexer", format!("{what} from S3"), Unit::Ms, millis, None),
            Figure::new("indexer", format!("{what}: rate"), Unit::MBps, rates, None),
            Figure::new("indexer", format!("{what}: peak RSS, caller + extractor"), Unit::MiB, peaks, rss_target),
        ])
    }
}

/// The bench's settings for `index_label`'s index: the search server's, or none (the PostgreSQL
/// fallback).
fn settings_of(env: &HashMap<String, String>, index_label: &str) -> anyhow::Result<Settings> {
    let mut env = env.clone();
    if index_label != "Elasticsearch" {
        env.remove("ELASTICSEARCH_URL");
    }
    Settings::from_map(&env).context("the indexer bench settings are valid")
}

/// Documents/s of each batch's keys as S3 notifications in SQS messages, through the
/// s3-indexer handler's batch processing (`s3_indexer::process`) as the event source mapping
/// hands them over: [`SQS_BATCH`] messages per invocation, [`SQS_CONCURRENCY`] invocations at
/// once, each with a state of its own (its pool and clients, as each Lambda instance has).
async fn sqs_figures(
    settings: &Settings,
    batches: &[Batch],
    sequencer: &mut u64,
    index_label: &str,
    runs: usize,
) -> anyhow::Result<Vec<Figure>> {
    let mut instances = Vec::with_capacity(SQS_CONCURRENCY);
    for _ in 0..SQS_CONCURRENCY {
        let (indexer, outbox) = files_core::state::build_indexer_and_outbox(settings).await?;
        instances.push(s3_indexer::State { indexer, outbox });
    }
    let mut figures = Vec::new();
    for batch in batches {
        let mut rates = Vec::with_capacity(runs);
        for _ in 0..runs {
            *sequencer += 1;
            let messages = notifications(&batch.keys, *sequencer)?;
            let chunks: Vec<&[aws_lambda_events::event::sqs::SqsMessage]> = messages.chunks(SQS_BATCH).collect();
            let started = Instant::now();
            let reports = futures_util::future::join_all(instances.iter().enumerate().map(|(n, state)| {
                let mine: Vec<_> = chunks.iter().skip(n).step_by(SQS_CONCURRENCY).copied().collect();
                async move {
                    let mut reports = Vec::with_capacity(mine.len());
                    for chunk in mine {
                        reports.push(s3_indexer::process(state, chunk).await);
                    }
                    reports
                }
            }))
            .await;
            let seconds = started.elapsed().as_secs_f64();
            let mut indexed = 0;
            for report in reports.into_iter().flatten() {
                let report = report.map_err(|f| anyhow::anyhow!("an SQS batch failed: {}", f.message_ids.len()))?;
                indexed += report.indexed;
            }
            ensure!(indexed == batch.keys.len(), "{indexed} of {} indexed from SQS batches", batch.keys.len());
            rates.push(indexed as f64 / seconds);
        }
        let target = (batch.label == "metadata only").then_some(Target::at_least(2000.0, "#14"));
        let name = format!(
            "{BATCH} notifications from SQS, batches of {SQS_BATCH} × {SQS_CONCURRENCY} at once, {} → {index_label}",
            batch.label
        );
        figures.push(Figure::new("indexer", name, Unit::PerSecond, rates, target));
    }
    Ok(figures)
}

/// Documents/s the index takes in the SQS figures' bulk requests alone ([`SQS_BATCH`]
/// documents each, [`SQS_CONCURRENCY`] writers at once; no claim, no read): the ceiling the
/// search server sets on the indexer's rate from SQS batches.
async fn bulk_figure(
    index: &dyn IndexDocuments,
    records: &[FileRecord],
    sequencer: &mut u64,
    runs: usize,
) -> anyhow::Result<Figure> {
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        *sequencer += 1;
        let version = i64::try_from(*sequencer).unwrap_or(i64::MAX);
        let upserts: Vec<Upsert> = records
            .iter()
            .map(|file| Upsert { document: SearchDocument::of(file.clone(), Err("metadata only".to_owned())), version })
            .collect();
        let chunks: Vec<&[Upsert]> = upserts.chunks(SQS_BATCH).collect();
        let started = Instant::now();
        let written = futures_util::future::join_all((0..SQS_CONCURRENCY).map(|n| {
            let mine: Vec<&[Upsert]> = chunks.iter().skip(n).step_by(SQS_CONCURRENCY).copied().collect();
            async move {
                for chunk in mine {
                    index.write(chunk, &[]).await?;
                }
                Ok::<(), files_core::search::SearchError>(())
            }
        }))
        .await;
        let seconds = started.elapsed().as_secs_f64();
        for result in written {
            result.context("a bulk write")?;
        }
        rates.push(records.len() as f64 / seconds);
    }
    let name = format!(
        "{BATCH} documents in bulk requests of {SQS_BATCH}, {SQS_CONCURRENCY} at once, alone → Elasticsearch (the ceiling of the SQS figure)"
    );
    Ok(Figure::new("indexer", name, Unit::PerSecond, rates, None))
}

/// One SQS message per key, each holding S3's `ObjectCreated:Put` notification for it (the
/// sample in `infra/events/s3-put.json`, its key and sequencer replaced), as the event source
/// mapping hands messages to the indexer.
fn notifications(keys: &[FileKey], sequencer: u64) -> anyhow::Result<Vec<aws_lambda_events::event::sqs::SqsMessage>> {
    let sample: serde_json::Value = serde_json::from_str(include_str!("../../events/s3-put.json"))?;
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let mut event = sample.clone();
            event["Records"][0]["s3"]["object"]["key"] = serde_json::Value::String(key.as_str().to_owned());
            event["Records"][0]["s3"]["object"]["sequencer"] = serde_json::Value::String(format!("{sequencer:016X}"));
            let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
            message.message_id = Some(format!("bench-{i}"));
            message.body = Some(serde_json::to_string(&event)?);
            Ok(message)
        })
        .collect()
}

/// Inserts [`BATCH`] available rows of `content_type` (and their objects, a few KiB of text
/// each, when `with_objects`); returns them.
async fn seed(
    repo: &dyn FileRepository,
    storage: &dyn ObjectStore,
    content_type: &str,
    with_objects: bool,
) -> anyhow::Result<Vec<FileRecord>> {
    let mut records = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let name = format!("bench {i} {}.{}", MARKER, if with_objects { "txt" } else { "png" });
        let key = FileKey::generate(&OriginalFilename::parse(&name)?);
        let body = text_body(i);
        if with_objects {
            save(storage, &key, content_type, Bytes::from(body.clone())).await?;
        }
        let file = NewFile {
            key: key.clone(),
            filename: OriginalFilename::parse(&name)?,
            content_type: ContentType::parse(content_type)?,
            size: u64::try_from(body.len())?,
            checksum: None,
            owner: None,
        };
        let caller = Caller { user_id: "bench".to_owned(), org_id: "bench-org".to_owned(), roles: Vec::new() };
        let location = StorageLocation { backend: StorageBackendKind::S3, bucket: None };
        let record = FileRecord::new(&caller, &location, file, FileStatus::Available);
        repo.insert(&record).await.context("insert a row")?;
        records.push(record);
    }
    Ok(records)
}

/// About 4 KiB of words, different for each `i`.
pub(crate) fn text_body(i: usize) -> Vec<u8> {
    let mut text = format!("Document {i} about the {MARKER}.\n");
    let mut n = i as u64 + 1;
    while text.len() < 4096 {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        text.push_str(WORDS[(n >> 33) as usize % WORDS.len()]);
        text.push(' ');
    }
    text.into_bytes()
}

const WORDS: &[&str] = &[
    "invoice",
    "quarterly",
    "report",
    "budget",
    "contract",
    "supplier",
    "delivery",
    "payment",
    "account",
    "region",
    "forecast",
    "review",
    "project",
    "meeting",
    "summary",
    "customer",
    "order",
    "shipment",
    "audit",
    "policy",
];

async fn save(storage: &dyn ObjectStore, key: &FileKey, content_type: &str, body: Bytes) -> anyhow::Result<()> {
    let size = body.len() as u64;
    let constraints = PutConstraints {
        content_type: ContentType::parse(content_type)?,
        exact_size: Some(size),
        max_size: size,
        checksum_sha256: None,
    };
    let stream = Box::pin(futures_util::stream::once(async move { Ok(body) }));
    storage.save_proxied_file(key, stream, &constraints).await.context("save an object")?;
    Ok(())
}

/// A PDF of about `target` bytes: pages of text in the base-14 Helvetica font (each page
/// carries [`MARKER`]), each with an incompressible grey image, as scanned-and-OCRed or
/// illustrated business documents are. Written with lopdf, the parser's own crate.
///
/// # Errors
/// When lopdf cannot encode it.
pub fn generate_pdf(target: usize) -> anyhow::Result<Vec<u8>> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};

    const IMAGE_SIDE: usize = 256; // 64 KiB of 8-bit grey per page
    let pages_wanted = target / (IMAGE_SIDE * IMAGE_SIDE + 3_000);
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut kids = Vec::with_capacity(pages_wanted);
    for page in 0..pages_wanted {
        let pixels = crate::stream::noise(&mut state, IMAGE_SIDE * IMAGE_SIDE);
        let image_id = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => IMAGE_SIDE as i64, "Height" => IMAGE_SIDE as i64,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            pixels,
        ));
        let mut operations = vec![
            Operation::new("q", vec![]),
            Operation::new("cm", vec![200.into(), 0.into(), 0.into(), 200.into(), 350.into(), 50.into()]),
            Operation::new("Do", vec!["Im1".into()]),
            Operation::new("Q", vec![]),
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("TL", vec![12.into()]),
            Operation::new("Td", vec![50.into(), 800.into()]),
        ];
        let words = String::from_utf8_lossy(&text_body(page)).into_owned();
        for line in words.as_bytes().chunks(90).take(40) {
            operations.push(Operation::new("Tj", vec![Object::string_literal(line.to_vec())]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations }.encode().context("encode a page")?;
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => dictionary! {
                "Font" => dictionary! { "F1" => font_id },
                "XObject" => dictionary! { "Im1" => image_id },
            },
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len())?;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::with_capacity(target + target / 8);
    doc.save_to(&mut out).context("write the PDF")?;
    Ok(out)
}

/// The child: extracts the PDF under `key` from the storage the environment configures, with
/// the configured limits, and prints an [`ExtractResult`] as JSON.
///
/// # Errors
/// When the settings are invalid or storage fails.
pub async fn child(key: &str, content_type: &str) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let storage = files_core::storage::build_objects(&settings.storage).await?;
    let key = FileKey::parse(key)?;
    let size = storage.head(&key).await.context("the document's size")?.context("the document is missing")?.size;
    let limits = Limits::of(&settings.search);
    let started = Instant::now();
    let text = extract::extract(storage.as_ref(), &key, &ContentType::parse(content_type)?, size, &limits).await?;
    let seconds = started.elapsed().as_secs_f64();
    let text = text.map_err(|reason| anyhow::anyhow!("not extracted: {reason}"))?;
    let peak_rss_kib = crate::emulator::peak_rss_kib("/proc/self/status")? + children_peak_rss_kib()?;
    let result = ExtractResult {
        bytes: size,
        chars: text.chars().count(),
        found_marker: text.contains(MARKER),
        seconds,
        peak_rss_kib,
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// The largest peak RSS among the reaped children of this process (the PDF extractor), KiB.
fn children_peak_rss_kib() -> anyhow::Result<u64> {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN reads this process's reaped children only.
    let result = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    ensure!(result == 0, "getrusage failed");
    Ok(u64::try_from(usage.ru_maxrss).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_generated_pdf_has_the_size_asked_and_its_text_is_extractable() {
        let pdf = super::generate_pdf(300_000).expect("generate");
        assert!((250_000..400_000).contains(&pdf.len()), "{} bytes", pdf.len());
        let text = pdf_extract::extract_text_from_mem(&pdf).expect("extract");
        assert!(text.contains(super::MARKER), "{text}");
    }
}
