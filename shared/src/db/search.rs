//! The PostgreSQL fallback of both search ports, used when `ELASTICSEARCH_URL` is not set: the
//! extracted text lives in `file_search_text` (a row there is "the document") with its file
//! name and text as a `tsvector` (`SEARCH_PG_TEXT_CONFIG`, GIN-indexed), and queries
//! ([`crate::search::query`]) are `websearch_to_tsquery` (words, phrases, exclusions) and
//! `to_tsquery` prefixes over it, best ranked first.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::pool::DbPool;
use super::RepositoryError;
use crate::keys::FileKey;
use crate::search::{
    IndexDocuments, IndexInventory, IndexedDocument, Removal, SearchError, SearchFiles, SearchHit, SearchPage,
    SearchQuery, Upsert,
};

// One statement: documents written where newer, removals applied where newer. Each key appears
// once (see `newest_per_key`): one statement must not change a row twice.
const WRITE: &str = "WITH up AS ( \
         INSERT INTO file_search_text (file_id, content, version, document, organization_id, created_at) \
         SELECT u.id, u.content, u.version, \
                setweight(to_tsvector($6::text::regconfig, u.name), 'A') || setweight(to_tsvector($6::text::regconfig, u.content), 'B'), \
                f.organization_id, f.created_at \
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $7::text[]) AS u(id, content, version, name) \
         JOIN stored_files f ON f.id = u.id \
         ON CONFLICT (file_id) DO UPDATE SET content = EXCLUDED.content, version = EXCLUDED.version, \
           document = EXCLUDED.document, updated_at = now() \
         WHERE file_search_text.version < EXCLUDED.version \
         RETURNING 1), \
     gone AS ( \
         DELETE FROM file_search_text t USING stored_files f, unnest($4::text[], $5::bigint[]) AS r(file_key, version) \
         WHERE t.file_id = f.id AND f.file_key = r.file_key AND t.version < r.version \
         RETURNING 1) \
     SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM gone)";

/// How many of the newest matches are ranked (at least; a page further down ranks as many as
/// it needs). Counting matches reads each one's row, but ranking one reads its whole
/// `tsvector` (kilobytes, stored apart, about 25 µs each): a word in every tenth document would
/// otherwise rank ten thousand of them for one page. 200 is ten pages of the default 20; at
/// 1,000 the ranking alone was half of a common two-word query's time (README "Search").
pub const RANKED_MATCHES: i64 = 200;

// $4: words, phrases and exclusions for websearch_to_tsquery; $5: prefixes for to_tsquery;
// not both '' (LIST serves a query of neither). One tsquery, so the GIN index answers it: a
// condition such as `query IS NULL OR document @@ query` is no index condition, and scanned
// every row. Matches are filtered by the document's own organization (no probe per match);
// the $9 newest are ranked; the text of the page's rows alone is read.
// The filters both statements apply to a document besides its organization: the type ($2)
// and the uploader ($3), each looked up only when asked for.
macro_rules! filters {
    () => {
        " AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM stored_files f WHERE f.id = t.file_id \
                AND lower(trim(split_part(f.content_type, ';', 1))) = $2)) \
           AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM stored_files f WHERE f.id = t.file_id AND f.uploaded_by = $3))"
    };
}

// The page's rows (those still available) with their name, text and the total of `matches`.
macro_rules! page_rows {
    () => {
        " SELECT p.id, f.original_filename, t.content, (SELECT count(*) FROM matches) AS total \
     FROM page p JOIN stored_files f ON f.id = p.id AND f.status = 'available' \
     JOIN file_search_text t ON t.file_id = p.id"
    };
}

const SEARCH: &str = concat!(
    "WITH q AS (SELECT CASE \
         WHEN $4 = '' THEN to_tsquery($7::text::regconfig, $5) \
         WHEN $5 = '' THEN websearch_to_tsquery($7::text::regconfig, $4) \
         ELSE websearch_to_tsquery($7::text::regconfig, $4) && to_tsquery($7::text::regconfig, $5) END AS query), \
     matches AS MATERIALIZED ( \
         SELECT t.file_id, t.created_at FROM q, file_search_text t \
         WHERE t.document @@ q.query AND t.organization_id = $1",
    filters!(),
    "), \
     candidates AS (SELECT file_id, created_at FROM matches ORDER BY created_at DESC, file_id LIMIT $9), \
     page AS ( \
         SELECT c.file_id AS id, c.created_at, ts_rank(t.document, q.query) AS rank \
         FROM q, candidates c JOIN file_search_text t ON t.file_id = c.file_id \
         ORDER BY rank DESC, c.created_at DESC, c.file_id \
         LIMIT $6 OFFSET $8)",
    page_rows!(),
    " ORDER BY p.rank DESC, p.created_at DESC, p.id"
);

// A query of no term (or none but prefixes of nothing): every document of the organization,
// newest first.
const LIST: &str = concat!(
    "WITH matches AS MATERIALIZED ( \
         SELECT t.file_id, t.created_at FROM file_search_text t WHERE t.organization_id = $1",
    filters!(),
    "), \
     page AS (SELECT file_id AS id, created_at FROM matches ORDER BY created_at DESC, file_id LIMIT $4 OFFSET $5)",
    page_rows!(),
    " ORDER BY p.created_at DESC, p.id"
);

const DOCUMENTS_AFTER: &str = "SELECT f.file_key, t.version FROM file_search_text t \
     JOIN stored_files f ON f.id = t.file_id \
     WHERE f.file_key > $1 ORDER BY f.file_key LIMIT $2";
// Per-row lookups (LATERAL ... LIMIT 1): never a whole-table hash join, whatever the statistics.
const DOCUMENTS_OF: &str = "SELECT f.file_key, t.version FROM stored_files f \
     JOIN LATERAL (SELECT version FROM file_search_text WHERE file_id = f.id LIMIT 1) t ON true \
     WHERE f.file_key = ANY($1)";

/// Both search ports on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSearchIndex {
    pool: Arc<DbPool>,
    /// The text search configuration (`SEARCH_PG_TEXT_CONFIG`).
    config: String,
}

impl PgSearchIndex {
    /// The fallback over `pool`, with text search configuration `config`.
    pub fn new(pool: Arc<DbPool>, config: &str) -> Self {
        Self { pool, config: config.to_owned() }
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

/// `…text around <em>word</em> in context…` for the first word found (ignoring case), if any,
/// with all the text escaped as HTML: the only markup is the `<em>` around the match.
///
/// Case folding can change a character's length in bytes (`İ` → `i̇`, `ẞ` → `ß`), so matches
/// are found in the folded text and mapped back to whole characters of the original.
fn snippet(text: &str, words: &[String]) -> Option<String> {
    let folded = Folded::of(text);
    let (at, end) = words
        .iter()
        .filter(|w| !w.is_empty())
        .filter_map(|w| {
            let word = w.to_lowercase();
            folded.text.find(&word).map(|i| (i, i + word.len()))
        })
        .min()?;
    let (at, end) = (folded.original_start(at), folded.original_end(end));
    let boundary = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(at.saturating_sub(60));
    let stop = boundary((end + 60).min(text.len()));
    Some(format!("{}<em>{}</em>{}", escape(&text[start..at]), escape(&text[at..end]), escape(&text[end..stop])))
}

/// Lower-cased text, and where each of its characters came from.
struct Folded {
    text: String,
    /// `(offset in the folded text, offset in the original)` of each original character.
    starts: Vec<(usize, usize)>,
    original_len: usize,
}

impl Folded {
    fn of(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut starts = Vec::with_capacity(original.len());
        for (i, c) in original.char_indices() {
            starts.push((text.len(), i));
            text.extend(c.to_lowercase());
        }
        Self { text, starts, original_len: original.len() }
    }

    /// The start of the original character whose folding holds folded offset `at`.
    fn original_start(&self, at: usize) -> usize {
        let i = self.starts.partition_point(|&(folded, _)| folded <= at).saturating_sub(1);
        self.starts.get(i).map_or(0, |&(_, original)| original)
    }

    /// The end of the original character whose folding holds folded offset `end - 1`.
    fn original_end(&self, end: usize) -> usize {
        let i = self.starts.partition_point(|&(folded, _)| folded < end);
        self.starts.get(i).map_or(self.original_len, |&(_, original)| original)
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` as HTML character references.
fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// Of each key's upserts and removals, the newest only: applied one after the other they would
/// leave the same state, since every write carries its version.
fn newest_per_key<'a>(upserts: &'a [Upsert], removals: &'a [Removal]) -> (Vec<&'a Upsert>, Vec<&'a Removal>) {
    let mut newest: HashMap<&str, (i64, Result<&Upsert, &Removal>)> = HashMap::new();
    let ops = upserts
        .iter()
        .map(|u| (u.document.file.file_key.as_str(), u.version, Ok(u)))
        .chain(removals.iter().map(|r| (r.file_key.as_str(), r.version, Err(r))));
    for (key, version, op) in ops {
        let slot = newest.entry(key).or_insert((version, op));
        if version > slot.0 {
            *slot = (version, op);
        }
    }
    let (mut up, mut gone) = (Vec::new(), Vec::new());
    for (_, op) in newest.into_values() {
        match op {
            Ok(u) => up.push(u),
            Err(r) => gone.push(r),
        }
    }
    (up, gone)
}

#[async_trait]
impl IndexDocuments for PgSearchIndex {
    #[tracing::instrument(skip_all, fields(upserts = upserts.len(), removals = removals.len()))]
    async fn write(&self, upserts: &[Upsert], removals: &[Removal]) -> Result<(), SearchError> {
        let (upserts, removals) = newest_per_key(upserts, removals);
        let ids: Vec<Uuid> = upserts.iter().map(|u| u.document.file.id).collect();
        // PostgreSQL's text holds no NUL character: those go (they carry nothing to search), so
        // a text that has some is still stored, and its file still found.
        let contents: Vec<std::borrow::Cow<'_, str>> = upserts
            .iter()
            .map(|u| {
                let text = u.document.content.as_deref().unwrap_or("");
                if text.contains('\0') {
                    std::borrow::Cow::Owned(text.replace('\0', ""))
                } else {
                    std::borrow::Cow::Borrowed(text)
                }
            })
            .collect();
        let contents: Vec<&str> = contents.iter().map(AsRef::as_ref).collect();
        let versions: Vec<i64> = upserts.iter().map(|u| u.version).collect();
        // The name as typed and as words (`Q3_report.pdf` is also `Q3 report pdf`): the
        // text search parser keeps `report.pdf` as one file-name token otherwise.
        let names: Vec<String> = upserts
            .iter()
            .map(|u| {
                let name = u.document.file.original_filename.as_str();
                format!("{name} {}", crate::search::filename_words(name))
            })
            .collect();
        let keys: Vec<&str> = removals.iter().map(|r| r.file_key.as_str()).collect();
        let removed_versions: Vec<i64> = removals.iter().map(|r| r.version).collect();
        let client = self.pool.get().await.map_err(from_repo)?;
        let statement = client.prepare_cached(WRITE).await.map_err(from_pg)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
            [&ids, &contents, &versions, &keys, &removed_versions, &self.config, &names];
        client.query_one(&statement, &params).await.map_err(from_pg)?;
        Ok(())
    }
}

fn documents_of_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<IndexedDocument>, SearchError> {
    rows.iter()
        .map(|row| {
            let key: &str = row.get(0);
            let file_key = FileKey::parse(key).map_err(|e| SearchError::Backend(e.0.into()))?;
            Ok(IndexedDocument { file_key, version: row.get(1) })
        })
        .collect()
}

#[async_trait]
impl IndexInventory for PgSearchIndex {
    async fn documents_after(
        &self,
        after: Option<&FileKey>,
        limit: usize,
    ) -> Result<Vec<IndexedDocument>, SearchError> {
        // '' sorts before every key: a bound the index can range over.
        let after = after.map_or("", FileKey::as_str);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.pool.get().await.map_err(from_repo)?;
        let statement = client.prepare_cached(DOCUMENTS_AFTER).await.map_err(from_pg)?;
        documents_of_rows(&client.query(&statement, &[&after, &limit]).await.map_err(from_pg)?)
    }

    async fn documents_of(&self, keys: &[FileKey]) -> Result<Vec<IndexedDocument>, SearchError> {
        let keys: Vec<&str> = keys.iter().map(FileKey::as_str).collect();
        let client = self.pool.get().await.map_err(from_repo)?;
        let statement = client.prepare_cached(DOCUMENTS_OF).await.map_err(from_pg)?;
        documents_of_rows(&client.query(&statement, &[&keys]).await.map_err(from_pg)?)
    }
}

#[async_trait]
impl SearchFiles for PgSearchIndex {
    #[tracing::instrument(skip_all, fields(org = %query.org_id))]
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, SearchError> {
        let parsed = crate::search::query::parse(&query.text);
        let words = parsed.positive_words();
        let (websearch, prefixes) = (parsed.websearch(), parsed.tsquery_prefixes());
        let content_type = query.content_type.as_ref().map(|c| c.to_ascii_lowercase());
        let client = self.pool.get().await.map_err(from_repo)?;
        let (limit, offset) = (i64::from(query.limit), i64::from(query.offset));
        let rows = if websearch.is_empty() && prefixes.is_empty() {
            let statement = client.prepare_cached(LIST).await.map_err(from_pg)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&query.org_id, &content_type, &query.uploaded_by, &limit, &offset];
            client.query(&statement, &params).await.map_err(from_pg)?
        } else {
            let statement = client.prepare_cached(SEARCH).await.map_err(from_pg)?;
            let ranked = RANKED_MATCHES.max(limit + offset);
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
                &query.org_id,
                &content_type,
                &query.uploaded_by,
                &websearch,
                &prefixes,
                &limit,
                &self.config,
                &offset,
                &ranked,
            ];
            client.query(&statement, &params).await.map_err(from_pg)?
        };
        let total = rows.first().map(|r| r.get::<_, i64>("total")).unwrap_or(0);
        let hits = rows
            .iter()
            .map(|row| {
                let filename: String = row.get("original_filename");
                let content: String = row.get("content");
                let highlights =
                    [snippet(&filename, &words), snippet(&content, &words)].into_iter().flatten().collect();
                SearchHit { file_id: row.get("id"), highlights }
            })
            .collect();
        Ok(SearchPage { hits, total: u64::try_from(total).unwrap_or(0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_the_first_match_in_context() {
        let words = vec!["Zebra".to_owned()];
        assert_eq!(snippet("the zebra sits", &words).as_deref(), Some("the <em>zebra</em> sits"));
        assert_eq!(snippet("nothing here", &words), None);
    }

    #[test]
    fn snippets_escape_the_text_around_and_inside_the_match() {
        let words = vec!["b".to_owned()];
        assert_eq!(
            snippet("<a href='x'>&\"<b>", &words).as_deref(),
            Some("&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;&lt;<em>b</em>&gt;")
        );
    }

    #[test]
    fn case_folding_that_changes_byte_lengths_marks_whole_characters() {
        // İ (2 bytes) folds to i̇ (3), ẞ (3) to ß (2): the folded text is as long as the
        // original, but its offsets are not the original's.
        let text = "İẞx";
        assert_eq!(snippet(text, &["ß".to_owned()]).as_deref(), Some("İ<em>ẞ</em>x"));
        assert_eq!(snippet(text, &["x".to_owned()]).as_deref(), Some("İẞ<em>x</em>"));
        assert_eq!(snippet("aİb", &["i".to_owned()]).as_deref(), Some("a<em>İ</em>b"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        #[test]
        fn any_text_and_words_give_an_inert_snippet_or_none(
            text in "\\PC{0,200}|.{0,200}|[İẞßıi̇a-zA-Z<>&]{0,40}",
            words in proptest::collection::vec("\\PC{0,8}|[İẞßıi̇a-z]{1,3}", 0..4),
        ) {
            if let Some(fragment) = snippet(&text, &words) {
                proptest::prop_assert_eq!(fragment.matches("<em>").count(), 1);
                proptest::prop_assert_eq!(fragment.matches("</em>").count(), 1);
                let without_marks = fragment.replacen("<em>", "", 1).replacen("</em>", "", 1);
                proptest::prop_assert!(!without_marks.contains(['<', '>', '"', '\'']), "{}", fragment);
            }
        }
    }
}
