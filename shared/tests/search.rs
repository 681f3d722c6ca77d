//! Search and indexing against the real search server (osmem-server, the OpenSearch HTTP API)
//! and the PostgreSQL fallback: one suite, both backends.

use files_core::indexing::{Change, Outcome};
use files_testkit::{caller, TestApp};

const PDF: &[u8] = include_bytes!("fixtures/quokka.pdf");

async fn elastic() -> TestApp {
    TestApp::with_elasticsearch(&[]).await
}

async fn postgres() -> TestApp {
    TestApp::new().await
}

async fn finds_a_file_by_a_word_only_in_its_text_or_pdf_content(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let text = app.upload(&alice, "notes.txt", "text/plain", b"remember the axolotl feeding schedule").await;
    let pdf = app.upload(&alice, "scan.pdf", "application/pdf", PDF).await;
    let other = app.upload(&alice, "other.txt", "text/plain", b"nothing to see").await;

    let by_text = app.search(&alice, "axolotl").await;
    let by_pdf = app.found(&alice, "quokka").await;

    assert_eq!(by_text.files.iter().map(|f| f.file.id).collect::<Vec<_>>(), vec![text.id]);
    assert!(
        by_text.files[0].highlights.iter().any(|h| h.contains("<em>axolotl</em>")),
        "{:?}",
        by_text.files[0].highlights
    );
    assert_eq!(by_pdf, vec![pdf.id]);
    assert!(!app.found(&alice, "axolotl").await.contains(&other.id));
}

async fn never_returns_another_organizations_file_whatever_the_query(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let mallory = caller("mallory", "evil-corp", &[]);
    app.upload(&alice, "secret plans.txt", "text/plain", b"the merger with globex").await;
    let own = app.upload(&mallory, "mine.txt", "text/plain", b"globex").await;

    for q in ["secret", "plans", "merger globex", "globex", "", "acme", "*", "organization_id:acme"] {
        let found = app.found(&mallory, q).await;
        assert!(found.iter().all(|id| *id == own.id), "query {q:?} leaked {found:?}");
    }
}

async fn filters_by_type_and_uploader_and_pages_with_a_cursor(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let bob = caller("bob", "acme", &[]);
    for i in 0..3 {
        app.upload(&alice, &format!("report {i}.txt"), "text/plain", b"quarterly").await;
    }
    let bobs = app.upload(&bob, "report.json", "application/json", b"{\"quarterly\": true}").await;
    app.refresh_search().await;
    let search = |q: &str, content_type: Option<&str>, uploaded_by: Option<&str>, limit, cursor: Option<String>| {
        files_core::services::SearchRequest {
            q: q.to_owned(),
            content_type: content_type.map(str::to_owned),
            uploaded_by: uploaded_by.map(str::to_owned),
            limit: Some(limit),
            cursor,
        }
    };

    let json_only =
        app.finder.files.search(&alice, search("quarterly", Some("application/json"), None, 20, None)).await.unwrap();
    let bob_only = app.finder.files.search(&alice, search("quarterly", None, Some("bob"), 20, None)).await.unwrap();
    let first = app.finder.files.search(&alice, search("quarterly", None, None, 2, None)).await.unwrap();
    let second =
        app.finder.files.search(&alice, search("quarterly", None, None, 2, first.next_cursor.clone())).await.unwrap();

    assert_eq!(json_only.files.iter().map(|f| f.file.id).collect::<Vec<_>>(), vec![bobs.id]);
    assert_eq!(bob_only.files.iter().map(|f| f.file.id).collect::<Vec<_>>(), vec![bobs.id]);
    assert_eq!((first.files.len(), first.total), (2, 4));
    assert_eq!(second.files.len(), 2);
    assert!(second.next_cursor.is_none());
    let mut all: Vec<_> = first.files.iter().chain(&second.files).map(|f| f.file.id).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4);
}

async fn deleting_a_file_removes_it_from_search_results(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let file = app.upload(&alice, "ephemeral.txt", "text/plain", b"a fleeting capybara").await;
    assert_eq!(app.found(&alice, "capybara").await, vec![file.id]);

    app.delete.files.delete_file(&alice, file.id).await.unwrap();

    assert!(app.found(&alice, "capybara").await.is_empty());
    assert!(app.found(&alice, "ephemeral").await.is_empty());
}

async fn pending_files_are_not_searchable_until_confirmed(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let upload = app.initiate(&alice, "draft wombat.txt", "text/plain", b"wombat", false).await;
    app.store(upload.file_key.as_str(), "text/plain", b"wombat").await;
    let indexer = &app.indexer;

    let early = indexer
        .apply_one(Change::Created { key: upload.file_key.clone(), sequencer: Some("0A".into()), version: None })
        .await;

    assert_eq!(early.unwrap(), Outcome::NotTracked);
    assert!(app.found(&alice, "wombat").await.is_empty());
    let confirm = files_core::services::ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();
    assert_eq!(app.found(&alice, "wombat").await, vec![upload.file_id]);
}

async fn a_remove_followed_by_a_late_create_leaves_no_document(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let file = app.upload(&alice, "late.txt", "text/plain", b"an ocelot").await;
    let indexer = &app.indexer;
    let key = file.file_key.clone();

    let removed = indexer
        .apply_one(Change::Removed { key: key.clone(), sequencer: Some("0062E0B1C7A4F2A1B0".into()), version: None })
        .await;
    let late = indexer
        .apply_one(Change::Created { key: key.clone(), sequencer: Some("0062E0B1C7A4F2A1AF".into()), version: None })
        .await;
    let twice =
        indexer.apply_one(Change::Removed { key, sequencer: Some("0062E0B1C7A4F2A1B0".into()), version: None }).await;

    assert_eq!(removed.unwrap(), Outcome::Removed);
    assert_eq!(late.unwrap(), Outcome::Stale);
    assert_eq!(twice.unwrap(), Outcome::Removed);
    assert!(app.found(&alice, "ocelot").await.is_empty());
}

async fn an_unreadable_pdf_is_indexed_with_metadata_only(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let broken = app.upload(&alice, "broken walrus.pdf", "application/pdf", b"%PDF-1.4 this is not really a pdf").await;

    assert_eq!(app.found(&alice, "walrus").await, vec![broken.id]);
}

async fn markup_in_names_and_text_comes_back_escaped_in_highlights(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let name = "<img src=x onerror=alert(1)> kinkajou & co.txt";
    let text = b"<script>alert('kinkajou')</script> \"quoted\" kinkajou <b>bold</b>";
    let file = app.upload(&alice, name, "text/plain", text).await;

    let results = app.search(&alice, "kinkajou").await;

    assert_eq!(results.files.iter().map(|f| f.file.id).collect::<Vec<_>>(), vec![file.id]);
    let highlights = &results.files[0].highlights;
    assert!(!highlights.is_empty());
    for fragment in highlights {
        let without_marks = fragment.replace("<em>", "").replace("</em>", "");
        assert!(!without_marks.contains(['<', '>']), "markup left in {fragment:?}");
        assert!(fragment.contains("<em>kinkajou</em>"), "{fragment:?}");
    }
    assert!(highlights.iter().any(|h| h.contains("&lt;script&gt;") || h.contains("&lt;img")), "{highlights:?}");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod elasticsearch {
            $(#[tokio::test] async fn $name() { super::$name(super::elastic().await).await; })*
        }
        mod postgres_fallback {
            $(#[tokio::test] async fn $name() { super::$name(super::postgres().await).await; })*
        }
    };
}

both_backends!(
    finds_a_file_by_a_word_only_in_its_text_or_pdf_content,
    never_returns_another_organizations_file_whatever_the_query,
    filters_by_type_and_uploader_and_pages_with_a_cursor,
    deleting_a_file_removes_it_from_search_results,
    pending_files_are_not_searchable_until_confirmed,
    a_remove_followed_by_a_late_create_leaves_no_document,
    an_unreadable_pdf_is_indexed_with_metadata_only,
    markup_in_names_and_text_comes_back_escaped_in_highlights,
);
