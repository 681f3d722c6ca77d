//! Search at scale (#16): a two-word query over 10,000 and then 100,000 documents of 1–10 KB of
//! text each, on the PostgreSQL fallback's full-text search and on the search server with the
//! same corpus, as the search-files workflow asks (the caller's organization, 20 results, the
//! total counted). The corpus is words of a synthetic vocabulary drawn with a skew, so that some
//! are common and most are rare, as in real text.

use std::time::Instant;

use anyhow::Context as _;
use files_core::search::{IndexDocuments as _, SearchDocument, SearchQuery, Upsert};

use crate::report::{percentile, Figure, Target, Unit};

const SECTION: &str = "search";
/// Words in the vocabulary.
const VOCABULARY: usize = 20_000;
/// Queries timed per corpus size and backend.
const QUERIES: usize = 200;

/// The `i`-th word of the vocabulary: letters only, 4 to 9 of them.
fn word(i: usize) -> String {
    const SYLLABLES: [&str; 16] =
        ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "be", "du", "fa", "go", "hi", "ju", "pe", "so"];
    let mut n = i + 17;
    let mut out = String::new();
    while n > 0 || out.len() < 4 {
        out.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    out
}

/// Two query mixes of word pairs: `common`, from ranks 20 to 400 of the skewed draw (each of
/// those words is in a large share of all documents: a pair matches 5 to 45% of them), and
/// `content`, from ranks 2,000 to 20,000 (words such as names and terms a user looks for: a
/// pair matches about a hundred documents in 100,000).
fn queries(mix: Mix) -> Vec<String> {
    let (from, span) = match mix {
        Mix::Common => (20, 380),
        Mix::Content => (2_000, 18_000),
    };
    (0..QUERIES)
        .map(|i| format!("{} {}", word(from + (i * 7919) % span), word(from + (i * 104_729 + 13) % span)))
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Mix {
    Common,
    Content,
}

impl Mix {
    fn label(self) -> &'static str {
        match self {
            Self::Common => "common words",
            Self::Content => "content words",
        }
    }
}

/// Seeds documents `from..to` (rows, their text and its tsvector) in SQL. The words come from
/// a table (an element of a large `text[]` is found by walking the array, which made seeding
/// take half an hour), and the GIN index is built once after the rows rather than kept up
/// row by row.
async fn seed(client: &tokio_postgres::Client, from: i64, to: i64) -> anyhow::Result<()> {
    let words: Vec<String> = (0..VOCABULARY).map(word).collect();
    client
        .execute(
            "CREATE TEMP TABLE IF NOT EXISTS vocabulary AS \
             SELECT i::int AS i, w FROM unnest($1::text[]) WITH ORDINALITY AS v(w, i)",
            &[&words],
        )
        .await?;
    client
        .batch_execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS vocabulary_i ON vocabulary (i); ANALYZE vocabulary; \
             DROP INDEX IF EXISTS file_search_text_document_idx",
        )
        .await?;
    client
        .execute(
            "INSERT INTO stored_files (id, file_key, original_filename, content_type, size, status, \
             storage_backend, uploaded_by, organization_id, created_at, updated_at, confirmed_at) \
             SELECT gen_random_uuid(), 'uploads/' || gen_random_uuid() || '.txt', 'document ' || g || '.txt', \
               'text/plain', 5000, 'available', 'local', 'bench', 'bench-org', now() - random() * interval '730 days', now(), now() \
             FROM generate_series($1::bigint, $2::bigint - 1) AS g",
            &[&from, &to],
        )
        .await?;
    client
        .execute(
            "INSERT INTO file_search_text (file_id, content, version, document, organization_id, created_at) \
             SELECT s.id, s.content, 1, setweight(to_tsvector('simple', s.name), 'A') \
                                       || setweight(to_tsvector('simple', s.content), 'B'), s.org, s.created_at \
             FROM (SELECT f.id, f.original_filename AS name, f.organization_id AS org, f.created_at, \
                     (SELECT string_agg(v.w, ' ') \
                        FROM (SELECT 1 + floor(power(random(), 3) * $1)::int AS k \
                                FROM generate_series(1, 150 + (abs(hashtext(f.id::text)) % 1350)) AS n \
                               WHERE f.id IS NOT NULL OFFSET 0) r \
                        JOIN vocabulary v ON v.i = r.k) AS content \
                   FROM stored_files f WHERE NOT EXISTS (SELECT 1 FROM file_search_text t WHERE t.file_id = f.id)) s",
            &[&(VOCABULARY as f64)],
        )
        .await?;
    client
        .batch_execute(
            "CREATE INDEX file_search_text_document_idx ON file_search_text USING GIN (document); \
             ANALYZE stored_files; ANALYZE file_search_text",
        )
        .await?;
    Ok(())
}

/// Every figure of the part.
///
/// # Errors
/// When a server cannot be reached or answers wrongly.
pub async fn figures(database_url: &str, elasticsearch_url: &str) -> anyhow::Result<Vec<Figure>> {
    let url = format!("{}/files_bench_search", database_url.rsplit_once('/').map_or("", |(b, _)| b));
    crate::pipeline::fresh_database(&url).await?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let mut env = files_testkit::function_env(std::path::Path::new("/nonexistent"), &url);
    env.insert("DATABASE_POOL_SIZE".to_owned(), "4".to_owned());
    let settings = files_core::Settings::from_map(&env).context("the search bench settings")?;
    let pool = files_core::state::build_pool(&settings, &settings.database).await?;
    let postgres = files_core::db::PgSearchIndex::new(pool.clone(), "simple");
    let mut es_env = env.clone();
    es_env.insert("ELASTICSEARCH_URL".to_owned(), elasticsearch_url.to_owned());
    es_env.insert("ELASTICSEARCH_INDEX".to_owned(), format!("files-bench-search-{}", uuid::Uuid::new_v4().simple()));
    let es_settings = files_core::Settings::from_map(&es_env).context("the search bench settings")?;
    let elastic = files_core::search::elastic::ElasticIndex::from_settings(&es_settings.search)?;
    elastic.ensure_index().await?;
    let repo = files_core::db::PgFileRepository::new(pool);
    let mut figures = Vec::new();
    let mut seeded = 0i64;
    let mut copied: Option<uuid::Uuid> = None;
    for size in [10_000i64, 100_000] {
        eprintln!("files-bench: search: seeding {} documents", size - seeded);
        seed(&client, seeded, size).await?;
        seeded = size;
        copied = copy_to_search_server(&client, &repo, &elastic, copied).await?;
        elastic.refresh().await?;
        for (label, backend) in
            [("PostgreSQL fallback", &postgres as &dyn files_core::search::SearchFiles), ("search server", &elastic)]
        {
            for mix in [Mix::Content, Mix::Common] {
                let times = time_queries(backend, mix).await?;
                let target = size == 100_000 && label.starts_with("Post");
                let target_p50 = target.then(|| Target::at_most(20.0, "#16"));
                let target_p99 = target.then(|| Target::at_most(100.0, "#16"));
                let name =
                    |what: &str| format!("two-word query, {}, over {size} documents, {what} ({label})", mix.label());
                figures.push(Figure::new(SECTION, name("p50"), Unit::Ms, vec![percentile(&times, 50.0)], target_p50));
                figures.push(Figure::new(SECTION, name("p99"), Unit::Ms, vec![percentile(&times, 99.0)], target_p99));
            }
        }
    }
    Ok(figures)
}

/// The latency of each query, in milliseconds (after one warm-up pass).
async fn time_queries(backend: &dyn files_core::search::SearchFiles, mix: Mix) -> anyhow::Result<Vec<f64>> {
    let query = |text: &str| SearchQuery {
        org_id: "bench-org".to_owned(),
        text: text.to_owned(),
        content_type: None,
        uploaded_by: None,
        limit: 20,
        offset: 0,
    };
    let texts = queries(mix);
    for text in texts.iter().take(20) {
        backend.search(&query(text)).await?;
    }
    let mut times = Vec::with_capacity(texts.len());
    let mut matched = 0u64;
    for text in &texts {
        let started = Instant::now();
        let page = backend.search(&query(text)).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        matched += page.total;
    }
    eprintln!(
        "files-bench: search: {} queries of {}, {} matches on average",
        texts.len(),
        mix.label(),
        matched / texts.len() as u64
    );
    Ok(times)
}

/// Writes the documents after `after` (by file id) to the search server; the last id written.
async fn copy_to_search_server(
    client: &tokio_postgres::Client,
    repo: &files_core::db::PgFileRepository,
    elastic: &files_core::search::elastic::ElasticIndex,
    mut after: Option<uuid::Uuid>,
) -> anyhow::Result<Option<uuid::Uuid>> {
    loop {
        let page = files_core::db::FileRepository::list_available(repo, after, 500).await?;
        let Some(last) = page.last() else { return Ok(after) };
        after = Some(last.id);
        let ids: Vec<uuid::Uuid> = page.iter().map(|f| f.id).collect();
        let rows =
            client.query("SELECT file_id, content FROM file_search_text WHERE file_id = ANY($1)", &[&ids]).await?;
        let texts: std::collections::HashMap<uuid::Uuid, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let upserts: Vec<Upsert> = page
            .into_iter()
            .map(|file| {
                let text = texts.get(&file.id).cloned().unwrap_or_default();
                Upsert { document: SearchDocument::of(file, Ok(text)), version: 1 }
            })
            .collect();
        elastic.write(&upserts, &[]).await?;
    }
}
