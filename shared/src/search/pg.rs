//! The PostgreSQL fallback of [`SearchIndex`], used when `ELASTICSEARCH_URL` is not set: the
//! extracted text lives in `file_search_text` (a row there is "the document"), and queries
//! match every word against the file name and the text, case-insensitively.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Removal, SearchError, SearchHit, SearchIndex, SearchPage, SearchQuery, Upsert};
use crate::db::{DbPool, RepositoryError};

/// [`SearchIndex`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSearchIndex {
    pool: Arc<DbPool>,
}

impl PgSearchIndex {
    /// The fallback over `pool`.
    pub fn new(pool: Arc<DbPool>) -> Self {
        Self { pool }
    }
}

fn from_repo(e: RepositoryError) -> SearchError {
    match e {
        RepositoryError::Unavailable(e) => SearchError::Unavailable(e),
        other => SearchError::Backend(Box::new(other)),
    }
}

fn from_pg(e: tokio_postgres::Error) -> SearchError {
    if e.code().is_none() {
        SearchError::Unavailable(Box::new(e))
    } else {
        SearchError::Backend(Box::new(e))
    }
}

/// `%word%` with LIKE's wildcards escaped.
fn like_pattern(word: &str) -> String {
    let escaped = word.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// `…text around <em>word</em> in context…` for the first word found, if any.
fn snippet(text: &str, words: &[String]) -> Option<String> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return None; // case folding moved byte offsets; no reliable fragment
    }
    let (at, word) = words.iter().filter_map(|w| lower.find(&w.to_lowercase()).map(|at| (at, w))).min()?;
    let end = at + word.len();
    let boundary = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(at.saturating_sub(60));
    let stop = boundary((end + 60).min(text.len()));
    Some(format!("{}<em>{}</em>{}", &text[start..at], &text[at..end], &text[end..stop]))
}

#[async_trait]
impl SearchIndex for PgSearchIndex {
    #[tracing::instrument(skip_all, fields(upserts = upserts.len(), removals = removals.len()))]
    async fn write(&self, upserts: &[Upsert], removals: &[Removal]) -> Result<(), SearchError> {
        let mut client = self.pool.get().await.map_err(from_repo)?;
        let tx = client.transaction().await.map_err(from_pg)?;
        for upsert in upserts {
            let content = upsert.document.content.as_deref().unwrap_or("");
            tx.execute(
                "INSERT INTO file_search_text (file_id, content, version) \
                 SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM stored_files WHERE id = $1) \
                 ON CONFLICT (file_id) DO UPDATE SET content = EXCLUDED.content, version = EXCLUDED.version, \
                   updated_at = now() \
                 WHERE file_search_text.version < EXCLUDED.version",
                &[&upsert.document.file_id, &content, &upsert.version],
            )
            .await
            .map_err(from_pg)?;
        }
        for removal in removals {
            tx.execute(
                "DELETE FROM file_search_text t USING stored_files f \
                 WHERE t.file_id = f.id AND f.file_key = $1 AND t.version < $2",
                &[&removal.file_key, &removal.version],
            )
            .await
            .map_err(from_pg)?;
        }
        tx.commit().await.map_err(from_pg)
    }

    #[tracing::instrument(skip_all, fields(org = %query.org_id))]
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, SearchError> {
        let words: Vec<String> = query.text.split_whitespace().map(str::to_owned).collect();
        let patterns: Vec<String> = words.iter().map(|w| like_pattern(w)).collect();
        let content_type = query.content_type.as_ref().map(|c| c.to_ascii_lowercase());
        let client = self.pool.get().await.map_err(from_repo)?;
        let rows = client
            .query(
                "SELECT f.id, f.original_filename, t.content, count(*) OVER () AS total \
                 FROM stored_files f JOIN file_search_text t ON t.file_id = f.id \
                 WHERE f.organization_id = $1 AND f.status = 'available' \
                   AND ($2::text IS NULL OR lower(trim(split_part(f.content_type, ';', 1))) = $2) \
                   AND ($3::text IS NULL OR f.uploaded_by = $3) \
                   AND NOT EXISTS (SELECT 1 FROM unnest($4::text[]) AS w(p) \
                                   WHERE NOT (f.original_filename ILIKE w.p OR t.content ILIKE w.p)) \
                 ORDER BY f.created_at DESC, f.id \
                 LIMIT $5 OFFSET $6",
                &[
                    &query.org_id,
                    &content_type,
                    &query.uploaded_by,
                    &patterns,
                    &i64::from(query.limit),
                    &i64::from(query.offset),
                ],
            )
            .await
            .map_err(from_pg)?;
        let total = rows.first().map(|r| r.get::<_, i64>("total")).unwrap_or(0);
        let hits = rows
            .iter()
            .map(|row| {
                let file_id: Uuid = row.get("id");
                let filename: String = row.get("original_filename");
                let content: String = row.get("content");
                let highlights =
                    [snippet(&filename, &words), snippet(&content, &words)].into_iter().flatten().collect();
                SearchHit { file_id, highlights }
            })
            .collect();
        Ok(SearchPage { hits, total: u64::try_from(total).unwrap_or(0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_words_are_matched_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn snippets_mark_the_first_match_in_context() {
        let words = vec!["Zebra".to_owned()];
        assert_eq!(snippet("the zebra sits", &words).as_deref(), Some("the <em>zebra</em> sits"));
        assert_eq!(snippet("nothing here", &words), None);
    }
}
