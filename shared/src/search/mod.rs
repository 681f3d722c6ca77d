//! Search: the document shape, the index port, and its two adapters — Elasticsearch (the
//! `elasticsearch` crate; OpenSearch-compatible servers work too) and a PostgreSQL fallback
//! used when `ELASTICSEARCH_URL` is not set, so local development needs no search server.
//!
//! Every write carries an external version (from `index_state`): a write older than the one
//! applied is ignored, so out-of-order work converges on the newest state.

pub mod elastic;
pub mod extract;
pub mod pg;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::{ConfigError, SearchSettings};
use crate::db::{DbPool, StoredFile};

/// The indexed form of an available file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchDocument {
    /// The file's id.
    pub file_id: Uuid,
    /// Its storage key.
    pub file_key: String,
    /// The owning organization (every query filters on it).
    pub organization_id: String,
    /// The uploader.
    pub uploaded_by: String,
    /// The user's file name.
    pub original_filename: String,
    /// The file name split into words at punctuation (`Q3_report-final.pdf` → `Q3 report
    /// final pdf`): analyzers keep `report.pdf` as one token, so the name alone would not match
    /// `report`.
    pub filename_words: String,
    /// `type/subtype`, lower-cased.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
    /// When the upload was initiated.
    pub created_at: DateTime<Utc>,
    /// Extracted text, when the type allows and the object is within the limits.
    pub content: Option<String>,
    /// `extracted`, or why there is no content (`unsupported type`, `too large`, ...).
    pub extraction: String,
}

impl SearchDocument {
    /// The document of `row` with the extracted `content` (or the reason there is none).
    pub fn of(row: &StoredFile, content: Result<String, String>) -> Self {
        let essence = row.content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let (content, extraction) = match content {
            Ok(text) => (Some(text), "extracted".to_owned()),
            Err(reason) => (None, reason),
        };
        Self {
            file_id: row.id,
            file_key: row.file_key.clone(),
            organization_id: row.organization_id.clone(),
            uploaded_by: row.uploaded_by.clone(),
            original_filename: row.original_filename.clone(),
            filename_words: filename_words(&row.original_filename),
            content_type: essence,
            size: row.size,
            created_at: row.created_at,
            content,
            extraction,
        }
    }
}

/// A file name with every run of non-alphanumeric characters turned into one space.
pub fn filename_words(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The document id of a storage key: hex SHA-256, 64 bytes for any key (Elasticsearch ids are
/// limited to 512 bytes; keys may be 1024), and derivable from a removal event alone.
pub fn document_id(file_key: &str) -> String {
    hex::encode(Sha256::digest(file_key.as_bytes()))
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
    pub file_key: String,
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

/// A search index: versioned writes and organization-scoped queries.
#[async_trait]
pub trait SearchIndex: Send + Sync + std::fmt::Debug {
    /// Writes documents and removes others in one round trip where the backend can. Writes
    /// older than the applied version are ignored; repeating a call changes nothing.
    ///
    /// # Errors
    /// `Unavailable` (retry later) or `Backend`.
    async fn write(&self, upserts: &[Upsert], removals: &[Removal]) -> Result<(), SearchError>;

    /// One page of the organization's matching files.
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, SearchError>;
}

/// Elasticsearch when `ELASTICSEARCH_URL` is set, PostgreSQL otherwise.
///
/// # Errors
/// A [`ConfigError`] naming `ELASTICSEARCH_URL` when the client cannot be built.
pub fn build_search(settings: &SearchSettings, pool: Arc<DbPool>) -> Result<Arc<dyn SearchIndex>, ConfigError> {
    match &settings.elasticsearch_url {
        Some(_) => Ok(Arc::new(elastic::ElasticIndex::from_settings(settings)?)),
        None => Ok(Arc::new(pg::PgSearchIndex::new(pool))),
    }
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
        let long = "k".repeat(1024);
        assert_eq!(document_id(&long).len(), 64);
        assert_eq!(document_id("uploads/a.txt"), document_id("uploads/a.txt"));
        assert_ne!(document_id("uploads/a.txt"), document_id("uploads/b.txt"));
    }
}
