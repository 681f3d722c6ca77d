//! Text extraction for the search index: the format read from the bytes before the declared
//! type is believed ([`super::sniff`]), text in any encoding decoded, PDF with `pdf-extract` in
//! a child process. Capped by size (`EXTRACT_MAX_BYTES`, checked before
//! reading), by characters (`EXTRACT_MAX_CHARS`), and for PDF by time
//! (`EXTRACT_TIMEOUT_SECONDS`) and memory (`EXTRACT_MAX_MEMORY_BYTES`). A corrupt, encrypted,
//! oversized or hostile document yields a reason instead of text: it is indexed with metadata
//! only, never failing the batch.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::SearchSettings;
use crate::file::{FileRecord, ObjectVersion};
use crate::keys::{ContentType, FileKey};
use crate::storage::{ObjectStore, StorageError};

pub use super::child::{run_or_extract, serve_if_asked};
use super::sniff::{decode_text, detect, Detected, SNIFF_BYTES};
use super::TextSource;

/// What can be extracted from a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (text/*, JSON, CSV, XML, YAML).
    Text,
    /// A PDF document.
    Pdf,
    /// An Office Open XML or OpenDocument file (DOCX, XLSX, PPTX, ODT, ODS, ODP).
    Document,
    /// A mail (EML).
    Mail,
    /// An HTML or XHTML page.
    Html,
    /// Nothing.
    Unsupported,
}

/// The kind of a content type.
pub fn kind_of(content_type: &ContentType) -> Kind {
    match content_type.essence() {
        "application/pdf" => Kind::Pdf,
        "message/rfc822" => Kind::Mail,
        "text/html" | "application/xhtml+xml" => Kind::Html,
        "application/vnd.ms-excel"
        | "application/msword"
        | "application/vnd.ms-powerpoint"
        | "application/rtf"
        | "text/rtf" => Kind::Document,
        e if e.starts_with("application/vnd.openxmlformats-officedocument.")
            || e.starts_with("application/vnd.oasis.opendocument.") =>
        {
            Kind::Document
        }
        "application/json"
        | "application/csv"
        | "application/xml"
        | "application/x-yaml"
        | "application/yaml"
        | "application/x-ndjson" => Kind::Text,
        e if e.starts_with("text/") || e.ends_with("+json") || e.ends_with("+xml") => Kind::Text,
        _ => Kind::Unsupported,
    }
}

/// Limits of extraction.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Objects larger than this are not read.
    pub max_bytes: u64,
    /// Text is cut at this many characters.
    pub max_chars: usize,
    /// A PDF whose text takes longer is given up (its extractor killed).
    pub timeout: Duration,
    /// The address space a PDF's extractor may use.
    pub max_memory: u64,
    /// The executable that extracts PDF text; `None` for the running one.
    pub program: Option<PathBuf>,
}

impl Limits {
    /// The limits of `settings`.
    pub fn of(settings: &SearchSettings) -> Self {
        Self {
            max_bytes: settings.extract_max_bytes,
            max_chars: settings.extract_max_chars,
            timeout: settings.extract_timeout,
            max_memory: settings.extract_max_memory,
            program: settings.extract_program.clone(),
        }
    }
}

/// The text of files, read from an object store within [`Limits`]: the indexer's
/// [`TextSource`].
#[derive(Debug, Clone)]
pub struct Extractor {
    objects: Arc<dyn ObjectStore>,
    limits: Limits,
}

impl Extractor {
    /// An extractor reading from `objects` within `limits`.
    pub fn new(objects: Arc<dyn ObjectStore>, limits: Limits) -> Self {
        Self { objects, limits }
    }
}

#[async_trait]
impl TextSource for Extractor {
    async fn text(&self, file: &FileRecord) -> Result<Result<String, String>, StorageError> {
        // The bytes the file pins (its verified version, where the store keeps versions): a
        // replayed upload's newer version is never read as the file's text.
        let object = Object { key: &file.file_key, version: file.object_version.as_ref() };
        extract_at(self.objects.as_ref(), object, &file.content_type, file.size, &self.limits).await
    }
}

/// The text of the object under `key`, or why there is none. Storage faults are errors (the
/// record is retried); everything about the document itself is a reason.
///
/// # Errors
/// A [`StorageError`] when the object cannot be read for a reason retrying may fix.
pub async fn extract(
    storage: &dyn ObjectStore,
    key: &FileKey,
    content_type: &ContentType,
    size: u64,
    limits: &Limits,
) -> Result<Result<String, String>, StorageError> {
    extract_at(storage, Object { key, version: None }, content_type, size, limits).await
}

/// An object to read: a key, and the version when not the current one.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    /// The key.
    pub key: &'a FileKey,
    /// The version (`None`: the current one).
    pub version: Option<&'a ObjectVersion>,
}

/// As [`extract`], of one version of the object.
///
/// # Errors
/// As [`extract`].
pub async fn extract_at(
    storage: &dyn ObjectStore,
    object: Object<'_>,
    content_type: &ContentType,
    size: u64,
    limits: &Limits,
) -> Result<Result<String, String>, StorageError> {
    if size > limits.max_bytes {
        return Ok(Err(format!("larger than {} bytes", limits.max_bytes)));
    }
    let declared = kind_of(content_type);
    if is_unread_media(declared, content_type) {
        return Ok(Err("unsupported type".to_owned()));
    }
    let mut stream = match storage.get_version_stream(object.key, object.version).await {
        Ok(stream) => stream,
        Err(StorageError::NotFound) => return Ok(Err("object not found".to_owned())),
        Err(e) => return Err(e),
    };
    let capacity = usize::try_from(size.min(limits.max_bytes)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity.min(SNIFF_BYTES));
    let mut kind = None;
    while let Some(chunk) = stream.try_next().await.map_err(StorageError::Io)? {
        if (bytes.len() + chunk.len()) as u64 > limits.max_bytes {
            return Ok(Err(format!("larger than {} bytes", limits.max_bytes)));
        }
        bytes.extend_from_slice(&chunk);
        if kind.is_none() && bytes.len() >= SNIFF_BYTES {
            // The bytes decide before the label: the rest is read only when there is text.
            match real_kind(object.key, content_type, declared, &bytes) {
                Ok(found) => {
                    bytes.reserve(capacity.saturating_sub(bytes.len()));
                    kind = Some(found);
                }
                Err(reason) => return Ok(Err(reason)),
            }
        }
    }
    let kind = match kind {
        Some(kind) => kind,
        None => match real_kind(object.key, content_type, declared, &bytes) {
            Ok(kind) => kind,
            Err(reason) => return Ok(Err(reason)),
        },
    };
    let text = match kind {
        Kind::Text => decode_text(&bytes).map(|text| truncate(&normalise(&text), limits.max_chars)),
        Kind::Pdf => pdf_text(bytes, limits, "pdf").await,
        Kind::Document => pdf_text(bytes, limits, "document").await,
        Kind::Mail => pdf_text(bytes, limits, "mail").await,
        Kind::Html => pdf_text(bytes, limits, "html").await,
        Kind::Unsupported => Err("unsupported type".to_owned()),
    };
    if let Err(reason) = &text {
        tracing::info!(key = %object.key, %reason, "indexing with metadata only");
    }
    Ok(text)
}

/// Whether the declared type (of kind `declared`) is an image, a sound, a video or a font that
/// is not text (SVG is XML, and read): nothing a client would label so by mistake holds text, so
/// their bytes are not read to find out (a burst of photo uploads costs the indexer no read
/// each). Every other type is told by its first bytes.
fn is_unread_media(declared: Kind, content_type: &ContentType) -> bool {
    let essence = content_type.essence();
    declared == Kind::Unsupported && ["image/", "audio/", "video/", "font/"].iter().any(|top| essence.starts_with(top))
}

/// What the document really is: its first bytes when they show a format, else its declared
/// type; a disagreement is logged. A reason when there is nothing to read.
fn real_kind(key: &FileKey, content_type: &ContentType, declared: Kind, head: &[u8]) -> Result<Kind, String> {
    let (kind, what) = match detect(head) {
        Some(Detected::Pdf) => (Kind::Pdf, "a PDF"),
        Some(Detected::Zip) => (Kind::Document, "a ZIP container"),
        Some(Detected::Ole) => (Kind::Document, "a legacy Office document"),
        Some(Detected::Rtf) => (Kind::Document, "an RTF document"),
        Some(Detected::Mail) if declared != Kind::Mail => (Kind::Mail, "a mail"),
        Some(Detected::Html) if declared == Kind::Text => (Kind::Html, "an HTML page"),
        Some(Detected::Mail | Detected::Html) => (declared, ""),
        Some(Detected::Binary(name)) => (Kind::Unsupported, name),
        None => (declared, ""),
    };
    if kind != declared || (kind == Kind::Unsupported && !what.is_empty()) {
        tracing::info!(%key, declared = %content_type.as_str(), content = what, "the declared type disagrees with the content; read as what it is");
    }
    match kind {
        Kind::Unsupported if what.is_empty() => Err("unsupported type".to_owned()),
        Kind::Unsupported => Err(format!("not text: {what}")),
        kind => Ok(kind),
    }
}

/// The argument that turns an executable into a PDF text extractor (see [`serve_if_asked`]).
pub const EXTRACTOR_ARG: &str = "--extract-pdf-text";

/// Exit status of an extractor that read the document and found it unreadable; its standard
/// output is the reason.
pub(super) const EXIT_UNREADABLE: i32 = 3;

/// The running executable, as a path that still starts it after the file was replaced or
/// deleted (a rebuild under `make dev`): on Linux the kernel's link to the image this process
/// runs, whose name [`std::env::current_exe`] would give with " (deleted)" appended.
fn own_executable() -> std::io::Result<std::path::PathBuf> {
    let proc_link = std::path::Path::new("/proc/self/exe");
    if proc_link.exists() {
        return Ok(proc_link.to_path_buf());
    }
    std::env::current_exe()
}

/// PDF text, from a child process: the running executable (or `limits.program`) started with
/// [`EXTRACTOR_ARG`], the document on its standard input, the normalised text on its output.
///
/// A parser runs over untrusted bytes, so it runs apart: a panic (functions are built with
/// `panic = "abort"`), a decompression bomb that hits the address-space limit, a loop that
/// hits the timeout, or a stack overflow ends the child, and the file is indexed with its
/// metadata only; the invocation, its other records and the warm process go on.
async fn pdf_text(bytes: Vec<u8>, limits: &Limits, what: &str) -> Result<String, String> {
    let program = match &limits.program {
        Some(program) => program.clone(),
        None => own_executable().map_err(|e| format!("pdf extractor unavailable: {e}"))?,
    };
    // No variable reaches the parser: not the AWS keys, the database secret or the search
    // credentials a function holds.
    let mut child = tokio::process::Command::new(&program)
        .env_clear()
        .arg(EXTRACTOR_ARG)
        .arg(limits.max_chars.to_string())
        .arg(limits.max_memory.to_string())
        .arg(what)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            tracing::warn!(program = %program.display(), error = %e, "the pdf extractor did not start");
            format!("pdf extractor unavailable: {e}")
        })?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("pdf extractor unavailable: no pipes".to_owned());
    };
    // Normalised text of `max_chars` characters is at most four bytes each, plus a reason.
    let cap = u64::try_from(limits.max_chars).unwrap_or(u64::MAX).saturating_mul(4).saturating_add(4096);
    let run = async {
        let write = async move {
            // A child that dies early closes its input: its exit status tells why.
            let _ = stdin.write_all(&bytes).await;
            drop(bytes);
        };
        let read = async move {
            let mut out = Vec::new();
            stdout.take(cap).read_to_end(&mut out).await.map(|_| out)
        };
        let ((), out) = tokio::join!(write, read);
        (out, child.wait().await)
    };
    let (out, status) = match tokio::time::timeout(limits.timeout, run).await {
        Ok(done) => done,
        Err(_) => return Err(format!("{what} text not extracted within {} s", limits.timeout.as_secs())),
    };
    let out = out.map_err(|e| format!("{what} extractor failed: {e}"))?;
    let status = status.map_err(|e| format!("{what} extractor failed: {e}"))?;
    let out = String::from_utf8_lossy(&out).into_owned();
    match status.code() {
        Some(0) => Ok(out),
        Some(EXIT_UNREADABLE) => Err(out),
        _ => Err(format!(
            "unreadable {what}: the parser failed ({status}; a panic, or more than {} bytes of memory)",
            limits.max_memory
        )),
    }
}

/// As `pdf_extract::extract_text_from_mem` (parse, decrypt with the empty password where that
/// is all it takes, walk the pages), with two changes: the file's bytes are released once
/// parsed, and image samples are dropped before the walk (see [`drop_images`]).
pub(super) fn pdf_text_blocking(bytes: Vec<u8>) -> Result<String, String> {
    let mut doc = pdf_extract::Document::load_mem(&bytes).map_err(|e| format!("unreadable pdf: {e}"))?;
    drop(bytes);
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err("encrypted pdf".to_owned());
    }
    drop_images(&mut doc);
    let mut text = String::new();
    pdf_extract::output_doc(&doc, &mut pdf_extract::PlainTextOutput::new(&mut text))
        .map_err(|e| format!("unreadable pdf: {e}"))?;
    Ok(text)
}

/// Empties image (and PostScript) XObjects. They hold samples, not text, yet pdf-extract 0.10's
/// `Do` parses any XObject as a content stream (jrmuizel/pdf-extract#153): image bytes that
/// happen to read as drawing operators panic it, which would leave an ordinary illustrated
/// document without its text. Emptied, they draw nothing, and their samples (most of an
/// illustrated PDF's size) are freed before the walk.
fn drop_images(doc: &mut pdf_extract::Document) {
    for object in doc.objects.values_mut() {
        if let pdf_extract::Object::Stream(stream) = object {
            let subtype = stream.dict.get(b"Subtype").and_then(pdf_extract::Object::as_name).ok();
            if matches!(subtype, Some(b"Image" | b"PS")) {
                stream.content = Vec::new();
                stream.dict.remove(b"Filter");
                stream.dict.remove(b"DecodeParms");
            }
        }
    }
}

/// Collapses runs of whitespace (PDF text is full of them).
pub(super) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_content_type() {
        let kind_of = |raw: &str| kind_of(&ContentType::parse(raw).unwrap());
        assert_eq!(kind_of("text/plain; charset=utf-8"), Kind::Text);
        assert_eq!(kind_of("text/csv"), Kind::Text);
        assert_eq!(kind_of("application/json"), Kind::Text);
        assert_eq!(kind_of("application/vnd.api+json"), Kind::Text);
        assert_eq!(kind_of("Application/PDF"), Kind::Pdf);
        assert_eq!(kind_of("image/png"), Kind::Unsupported);
        let unread = |raw: &str| {
            let content_type = ContentType::parse(raw).unwrap();
            is_unread_media(super::kind_of(&content_type), &content_type)
        };
        assert!(unread("image/png") && unread("Video/MP4"));
        assert!(!unread("application/octet-stream"));
        assert!(!unread("image/svg+xml"), "SVG is text");
    }

    #[test]
    fn a_pdf_that_is_not_one_is_a_reason() {
        let reason = pdf_text_blocking(b"%PDF-1.4 not really".to_vec()).expect_err("a reason");
        assert!(reason.starts_with("unreadable pdf"), "{reason}");
    }

    #[test]
    fn text_is_normalised_and_cut_at_a_character_boundary() {
        assert_eq!(normalise("a \n\t b  c"), "a b c");
        assert_eq!(truncate("äöü", 2), "äö");
        assert_eq!(truncate("ab", 5), "ab");
    }
}
