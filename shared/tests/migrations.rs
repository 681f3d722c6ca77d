//! The migrations bring existing data over: search documents written before the full-text
//! search (V8: the `tsvector`) and before documents carried their organization and age (V9)
//! are found afterwards by a word of their text and of their file name, in their organization
//! only, newest first.

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
    assert!(
        applied.iter().any(|m| m.starts_with("V8__")) && applied.iter().any(|m| m.starts_with("V9__")),
        "{applied:?}"
    );

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
