//! Text extraction for the search index: text-like types and JSON/CSV as UTF-8 (lossy), PDF
//! with `pdf-extract`. Capped by size (`EXTRACT_MAX_BYTES`, checked before reading) and by
//! characters (`EXTRACT_MAX_CHARS`). A corrupt, encrypted or oversized document yields a
//! reason instead of text: it is indexed with metadata only, never failing the batch.

use futures_util::TryStreamExt;

use crate::keys::FileKey;
use crate::storage::{FileStorage, StorageError};

/// What can be extracted from a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (text/*, JSON, CSV, XML, YAML).
    Text,
    /// A PDF document.
    Pdf,
    /// Nothing.
    Unsupported,
}

/// The kind of a content type.
pub fn kind_of(content_type: &str) -> Kind {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/pdf" => Kind::Pdf,
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
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Objects larger than this are not read.
    pub max_bytes: u64,
    /// Text is cut at this many characters.
    pub max_chars: usize,
}

/// The text of the object under `key`, or why there is none. Storage faults are errors (the
/// record is retried); everything about the document itself is a reason.
///
/// # Errors
/// A [`StorageError`] when the object cannot be read for a reason retrying may fix.
pub async fn extract(
    storage: &dyn FileStorage,
    key: &FileKey,
    content_type: &str,
    size: u64,
    limits: Limits,
) -> Result<Result<String, String>, StorageError> {
    let kind = kind_of(content_type);
    if kind == Kind::Unsupported {
        return Ok(Err("unsupported type".to_owned()));
    }
    if size > limits.max_bytes {
        return Ok(Err(format!("larger than {} bytes", limits.max_bytes)));
    }
    let mut stream = match storage.get_file_stream(key).await {
        Ok(stream) => stream,
        Err(StorageError::NotFound) => return Ok(Err("object not found".to_owned())),
        Err(e) => return Err(e),
    };
    let capacity = usize::try_from(size.min(limits.max_bytes)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(chunk) = stream.try_next().await.map_err(StorageError::Io)? {
        if (bytes.len() + chunk.len()) as u64 > limits.max_bytes {
            return Ok(Err(format!("larger than {} bytes", limits.max_bytes)));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = match kind {
        Kind::Text => String::from_utf8_lossy(&bytes).into_owned(),
        Kind::Pdf => match pdf_text(bytes).await {
            Ok(text) => text,
            Err(reason) => {
                tracing::info!(key = %key, %reason, "indexing with metadata only");
                return Ok(Err(reason));
            }
        },
        Kind::Unsupported => return Ok(Err("unsupported type".to_owned())),
    };
    Ok(Ok(truncate(&normalise(&text), limits.max_chars)))
}

/// PDF text, on a blocking thread; a parser panic is caught there and becomes a reason.
async fn pdf_text(bytes: Vec<u8>) -> Result<String, String> {
    let parsed = tokio::task::spawn_blocking(move || pdf_extract::extract_text_from_mem(&bytes)).await;
    match parsed {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!("unreadable pdf: {e}")),
        Err(_) => Err("unreadable pdf: the parser failed".to_owned()),
    }
}

/// Collapses runs of whitespace (PDF text is full of them).
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
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
        assert_eq!(kind_of("text/plain; charset=utf-8"), Kind::Text);
        assert_eq!(kind_of("text/csv"), Kind::Text);
        assert_eq!(kind_of("application/json"), Kind::Text);
        assert_eq!(kind_of("application/vnd.api+json"), Kind::Text);
        assert_eq!(kind_of("Application/PDF"), Kind::Pdf);
        assert_eq!(kind_of("image/png"), Kind::Unsupported);
    }

    #[test]
    fn text_is_normalised_and_cut_at_a_character_boundary() {
        assert_eq!(normalise("a \n\t b  c"), "a b c");
        assert_eq!(truncate("äöü", 2), "äö");
        assert_eq!(truncate("ab", 5), "ab");
    }
}
