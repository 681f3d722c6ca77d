//! Searching the caller's organization's files.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Field, FileView, ServiceError, Views};
use crate::auth::Caller;
use crate::db::FileRepository;
use crate::file::FileRecord;
use crate::search::{self, SearchQuery};
use crate::storage::SignDownloads;

/// `GET /files/search` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchRequest {
    /// Words to find in file names and content.
    #[serde(default)]
    pub q: String,
    /// Only this `type/subtype`.
    pub content_type: Option<String>,
    /// Only this uploader.
    pub uploaded_by: Option<String>,
    /// Page size (1–100, default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A file found by search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// The file, as every route returns it.
    #[serde(flatten)]
    pub file: FileView,
    /// Matching fragments with `<em>` around the matches.
    pub highlights: Vec<String>,
}

/// One page of search results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// The files, best first.
    pub files: Vec<SearchResult>,
    /// How many files match in all.
    pub total: u64,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// search-files: queries the index, reads the files it found from the database.
#[derive(Debug, Clone)]
pub struct SearchFiles {
    views: Views<dyn SignDownloads>,
    repo: Arc<dyn FileRepository>,
    index: Arc<dyn search::SearchFiles>,
}

impl SearchFiles {
    /// The workflow over its capabilities.
    pub fn new(
        views: Views<dyn SignDownloads>,
        repo: Arc<dyn FileRepository>,
        index: Arc<dyn search::SearchFiles>,
    ) -> Self {
        Self { views, repo, index }
    }

    /// The caller's organization's files matching `request`, with highlights, best first.
    ///
    /// # Errors
    /// `Invalid` for a bad limit, cursor or query; `Search`/`Repository` when a dependency fails.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id))]
    pub async fn search(&self, caller: &Caller, request: SearchRequest) -> Result<SearchResults, ServiceError> {
        let query = query_of(caller, request)?;
        let page = self.index.search(&query).await?;
        let ids: Vec<Uuid> = page.hits.iter().map(|h| h.file_id).collect();
        // Files come from the caller's organization only: a document can never leak a file.
        let mut found: HashMap<Uuid, FileRecord> =
            self.repo.find_many(&caller.org_id, &ids).await?.into_iter().map(|f| (f.id, f)).collect();
        let mut files = Vec::with_capacity(page.hits.len());
        for hit in page.hits {
            if let Some(file) = found.remove(&hit.file_id).filter(FileRecord::is_available) {
                files.push(SearchResult { file: self.views.view(file).await?, highlights: hit.highlights });
            }
        }
        let next = u64::from(query.offset) + u64::from(query.limit);
        let next_cursor = (next < page.total).then(|| encode_cursor(u32::try_from(next).unwrap_or(u32::MAX)));
        Ok(SearchResults { files, total: page.total, next_cursor })
    }
}

fn query_of(caller: &Caller, request: SearchRequest) -> Result<SearchQuery, ServiceError> {
    let limit = request.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ServiceError::invalid(Field::Limit, "limit must be between 1 and 100"));
    }
    let offset = match &request.cursor {
        None => 0,
        Some(cursor) => decode_cursor(cursor)
            .ok_or_else(|| ServiceError::invalid(Field::Cursor, "cursor is not one this service issued"))?,
    };
    if request.q.len() > 512 || request.q.chars().any(char::is_control) {
        return Err(ServiceError::invalid(Field::Query, "q must be at most 512 bytes without control characters"));
    }
    Ok(SearchQuery {
        org_id: caller.org_id.clone(),
        text: request.q,
        content_type: request.content_type.filter(|c| !c.is_empty()),
        uploaded_by: request.uploaded_by.filter(|u| !u.is_empty()),
        limit,
        offset,
    })
}

fn encode_cursor(offset: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<u32> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("o:")?.parse().ok()
}
