//! The migrations bring existing data over: search documents written before the full-text
//! search (V8: the `tsvector`) and before documents carried their organization and age (V9)
//! are found afterwards by a word of their text and of their file name, in their organization
//! only, newest first; and documents written before their rows were kept narrow (V10) are
//! written again with their text and `tsvector` stored apart.

use files_core::db::PgSearchIndex;
use files_core::search::{SearchFiles as _, SearchQuery};
use files_testkit::{pool, TestDb};
use uuid::Uuid;

fn query(org: &str, text: &str) -> SearchQuery {
    SearchQuery {
        org_id: org.to_owned(),
        text: text.to_owned(),
        content_type: None,
        uploaded_by: None,
        limit: 20,
        offset: 0,
    }
}

#[tokio::test]
async fn documents_from_before_full_text_search_are_found_after_the_migrations() {
    let db = TestDb::at_version(7).await;
    let client = db.client().await;
    let (older, newer, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (id, org, name, text, age) in [
        (older, "acme", "Lieferschein_Q3.pdf", "Angebot für die Firma Quokka", "2 days"),
        (newer, "acme", "Rechnung.pdf", "noch ein Angebot an Quokka", "1 day"),
        (other, "globex", "Quokka.txt", "Quokka bei Globex", "1 hour"),
    ] {
        client
            .execute(
                "INSERT INTO stored_files (id, file_key, original_filename, content_type, size, status, \
                 storage_backend, uploaded_by, organization_id, created_at, updated_at, confirmed_at) \
                 VALUES ($1::uuid, 'uploads/' || $1::uuid::text || '.pdf', $2, 'application/pdf', 10, 'available', 'local', \
                 'alice', $3, now() - $4::text::interval, now(), now())",
                &[&id, &name, &org, &age],
            )
            .await
            .unwrap();
        client
            .execute("INSERT INTO file_search_text (file_id, content, version) VALUES ($1, $2, 1)", &[&id, &text])
            .await
            .unwrap();
    }

    let applied = files_core::db::run_migrations(&db.url, &Default::default()).await.unwrap();
    assert!(["V8__", "V9__", "V10__"].iter().all(|v| applied.iter().any(|m| m.starts_with(v))), "{applied:?}");

    let search = PgSearchIndex::new(pool(&db.url, 2, 5).await, "simple");
    let ids = |page: files_core::search::SearchPage| page.hits.into_iter().map(|h| h.file_id).collect::<Vec<_>>();
    assert_eq!(ids(search.search(&query("acme", "quokka angebot")).await.unwrap()), vec![newer, older]);
    assert_eq!(ids(search.search(&query("acme", "lieferschein")).await.unwrap()), vec![older], "a word of the name");
    assert_eq!(ids(search.search(&query("globex", "quokka")).await.unwrap()), vec![other], "its organization only");
    assert_eq!(
        ids(search.search(&query("acme", "")).await.unwrap()),
        vec![newer, older],
        "every document, newest first"
    );
}

/// The longest live row of `file_search_text`, in bytes as stored in its page.
async fn longest_row(client: &tokio_postgres::Client) -> i32 {
    client.batch_execute("CREATE EXTENSION IF NOT EXISTS pageinspect").await.unwrap();
    let row = client
        .query_one(
            "SELECT coalesce(max(h.lp_len), 0)::int FROM \
               generate_series(0, (pg_relation_size('file_search_text') / current_setting('block_size')::int - 1)::int) AS b, \
               heap_page_items(get_raw_page('file_search_text', b)) h \
             WHERE h.lp_len > 0 AND h.t_xmax = 0",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn documents_written_before_v10_are_stored_apart_from_their_rows() {
    let db = TestDb::at_version(9).await;
    let client = db.client().await;
    let id = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO stored_files (id, file_key, original_filename, content_type, size, status, \
             storage_backend, uploaded_by, organization_id, created_at, updated_at, confirmed_at) \
             VALUES ($1::uuid, 'uploads/' || $1::uuid::text || '.txt', 'Preisliste.txt', 'text/plain', 10, 'available', \
             'local', 'alice', 'acme', now(), now(), now())",
            &[&id],
        )
        .await
        .unwrap();
    // 2 KB of text (300 words of 160) with a 3 KB tsvector: before V10 the tsvector went apart
    // and the text, compressed, stayed in the row.
    client
        .execute(
            "INSERT INTO file_search_text (file_id, content, version, document, organization_id, created_at) \
             SELECT $1, c, 1, to_tsvector('simple', c), 'acme', now() \
             FROM (SELECT 'Wombat ' || string_agg(translate(left(md5((i * 7919 % 160)::text), 6), '0123456789', 'ghijklmnop'), ' ') AS c \
                   FROM generate_series(1, 300) AS i) s",
            &[&id],
        )
        .await
        .unwrap();
    let before = longest_row(&client).await;
    assert!(before > 1000, "the row holds its text before V10: {before} bytes");

    files_core::db::run_migrations(&db.url, &Default::default()).await.unwrap();
    let after = longest_row(&client).await;
    assert!(after < 300, "the row keeps pointers to its text and tsvector after V10: {after} bytes");
    let search = PgSearchIndex::new(pool(&db.url, 2, 5).await, "simple");
    let page = search.search(&query("acme", "wombat")).await.unwrap();
    assert_eq!(page.hits.iter().map(|h| h.file_id).collect::<Vec<_>>(), vec![id]);
    assert!(page.hits[0].highlights.iter().any(|h| h.contains("<em>Wombat</em>")), "{:?}", page.hits[0]);
}
