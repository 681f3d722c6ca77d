//! Search: the document shape and two ports, one per side — [`SearchFiles`] answers queries
//! (search-files holds only it), [`IndexDocuments`] takes versioned writes (the indexer). Each
//! has two adapters: Elasticsearch here (the `elasticsearch` crate; OpenSearch-compatible
//! servers work too) and the PostgreSQL fallback in `db::PgSearchIndex`, used when
//! `ELASTICSEARCH_URL` is not set, so local development needs no search server. Which one a
//! function gets is decided in `state`.
//!
//! Every write carries an external version (from `index_state`): a write older than the one
//! applied is ignored, so out-of-order work converges on the newest state.

mod child;
pub mod elastic;
mod elastic_query;
pub mod extract;
mod mail;
mod office;
pub mod query;
mod rtf;
pub mod sniff;

use async_trait::async_trait;
use serde::ser::SerializeStruct as _;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::file::FileRecord;
use crate::keys::FileKey;
use crate::storage::StorageError;

/// The indexed form of an available file: its record, and the text found in it. Serialised,
/// it is the index's document (see [`elastic::mapping`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDocument {
    /// The file.
    pub file: FileRecord,
    /// Extracted text, when the type allows and the object is within the limits.
    pub content: Option<String>,
    /// `extracted`, or why there is no content (`unsupported type`, `too large`, ...).
    pub extraction: String,
}

impl SearchDocument {
    /// The document of `file` with the extracted `content` (or the reason there is none).
    pub fn of(file: FileRecord, content: Result<String, String>) -> Self {
        let (content, extraction) = match content {
            Ok(text) => (Some(text), "extracted".to_owned()),
            Err(reason) => (None, reason),
        };
        Self { file, content, extraction }
    }
}

/// The fields of the index mapping, taken from the record: `content_type` as its essence, and
/// `filename_words` (the file name split into words at punctuation, `Q3_report-final.pdf` → `Q3
/// report final pdf`: analyzers keep `report.pdf` as one token, so the name alone would not
/// match `report`).
impl Serialize for SearchDocument {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let file = &self.file;
        let mut out = serializer.serialize_struct("SearchDocument", 11)?;
        out.serialize_field("file_id", &file.id)?;
        out.serialize_field("file_key", &file.file_key)?;
        out.serialize_field("organization_id", &file.organization_id)?;
        out.serialize_field("uploaded_by", &file.uploaded_by)?;
        out.serialize_field("original_filename", &file.original_filename)?;
        out.serialize_field("filename_words", &filename_words(file.original_filename.as_str()))?;
        out.serialize_field("content_type", file.content_type.essence())?;
        out.serialize_field("size", &file.size)?;
        out.serialize_field("created_at", &file.created_at)?;
        out.serialize_field("content", &self.content)?;
        out.serialize_field("extraction", &self.extraction)?;
        out.end()
    }
}

/// A file name with every run of non-alphanumeric characters turned into one space.
pub fn filename_words(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The document id of a storage key: hex SHA-256, 64 bytes for any key (Elasticsearch ids are
/// limited to 512 bytes; keys may be 1024), and derivable from a removal event alone.
pub fn document_id(file_key: &FileKey) -> String {
    hex::encode(Sha256::digest(file_key.as_str().as_bytes()))
}

/// A document to write at a version.
#[derive(Debug, Clone)]
pub struct Upsert {
    /// The document.
    pub document: SearchDocument,
    /// Its external version.
    pub version: i64,
}

/// A document to remove at a version.
#[derive(Debug, Clone)]
pub struct Removal {
    /// The storage key whose document goes.
    pub file_key: FileKey,
    /// The external version of the removal.
    pub version: i64,
}

/// An organization-scoped query.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// The caller's organization: results never come from another.
    pub org_id: String,
    /// Words to find in the file name or content; empty lists everything.
    pub text: String,
    /// Only this `type/subtype`.
    pub content_type: Option<String>,
    /// Only this uploader.
    pub uploaded_by: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Results to skip.
    pub offset: u32,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The file's id.
    pub file_id: Uuid,
    /// Matching fragments, with `<em>` around the matches.
    pub highlights: Vec<String>,
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// The hits, best first.
    pub hits: Vec<SearchHit>,
    /// How many match in all.
    pub total: u64,
}

/// Search failures.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The search backend cannot be reached or is overloaded: retry.
    #[error("search unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// It refused the request (mapping, bad query): a fault to fix, not to retry.
    #[error("search backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where the text of a created file comes from (see [`extract::Extractor`]).
#[async_trait]
pub trait TextSource: Send + Sync + std::fmt::Debug {
    /// The file's text, or why there is none (unsupported type, too large, unreadable).
    ///
    /// # Errors
    /// A [`StorageError`] when the object cannot be read for a reason retrying may fix.
    async fn text(&self, file: &FileRecord) -> Result<Result<String, String>, StorageError>;
}

/// The query side of search: organization-scoped pages of matching files.
#[async_trait]
pub trait SearchFiles: Send + Sync + std::fmt::Debug {
    /// One page of the organization's matching files.
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, SearchError>;
}

/// The write side of search: versioned documents.
#[async_trait]
pub trait IndexDocuments: Send + Sync + std::fmt::Debug {
    /// Writes documents and removes others in one round trip where the backend can. Writes
    /// older than the applied version are ignored; repeating a call changes nothing.
    ///
    /// # Errors
    /// `Unavailable` (retry later) or `Backend`.
    async fn write(&self, upserts: &[Upsert], removals: &[Removal]) -> Result<(), SearchError>;
}

/// A document the index holds: its key, and the version it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDocument {
    /// The file's storage key.
    pub file_key: FileKey,
    /// The external version of the write that made it.
    pub version: i64,
}

/// What the index holds, for the reconciler to compare with the database.
#[async_trait]
pub trait IndexInventory: Send + Sync + std::fmt::Debug {
    /// Up to `limit` documents after the key `after`, in the backend's key order.
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    async fn documents_after(&self, after: Option<&FileKey>, limit: usize)
        -> Result<Vec<IndexedDocument>, SearchError>;

    /// The documents of those of `keys` that the index holds.
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    async fn documents_of(&self, keys: &[FileKey]) -> Result<Vec<IndexedDocument>, SearchError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_into_words_at_punctuation() {
        assert_eq!(filename_words("Q3_report-final.v2.PDF"), "Q3 report final v2 PDF");
        assert_eq!(filename_words("Größe (1).txt"), "Größe 1 txt");
    }

    #[test]
    fn document_ids_are_64_bytes_for_any_key() {
        let key = |raw: &str| FileKey::parse(raw).unwrap();
        assert_eq!(document_id(&key(&"k".repeat(1024))).len(), 64);
        assert_eq!(document_id(&key("uploads/a.txt")), document_id(&key("uploads/a.txt")));
        assert_ne!(document_id(&key("uploads/a.txt")), document_id(&key("uploads/b.txt")));
    }
}
