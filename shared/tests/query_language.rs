//! One query language, answered the same by both search backends (osmem-server and the
//! PostgreSQL fallback's full-text search): words (all required), "quoted phrases", -excluded
//! words and phrases, and prefix* words, in the text and in file names.

use std::collections::BTreeSet;

use files_testkit::{caller, TestApp};

async fn phrases_exclusions_and_prefixes_answer_the_same(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let a = app.upload(&alice, "a.txt", "text/plain", b"offer with general terms, a draft for 2026").await;
    let b = app.upload(&alice, "b.txt", "text/plain", b"the final offer under our general terms").await;
    let c = app.upload(&alice, "c.txt", "text/plain", b"terms of the offer, general remarks").await;
    let d = app.upload(&alice, "Lieferschein_Q3-final.pdf", "text/plain", b"delivery note").await;
    app.refresh_search().await;
    let found = |q: &'static str| {
        let app = &app;
        let alice = &alice;
        async move { app.found(alice, q).await.into_iter().collect::<BTreeSet<_>>() }
    };
    let set = |ids: &[uuid::Uuid]| ids.iter().copied().collect::<BTreeSet<_>>();

    assert_eq!(found("offer terms").await, set(&[a.id, b.id, c.id]), "every word required");
    assert_eq!(found("\"general terms\"").await, set(&[a.id, b.id]), "a phrase is words in order");
    assert_eq!(found("offer -draft").await, set(&[b.id, c.id]), "an excluded word");
    assert_eq!(found("offer -\"general terms\"").await, set(&[c.id]), "an excluded phrase");
    assert_eq!(found("gener*").await, set(&[a.id, b.id, c.id]), "a prefix");
    assert_eq!(found("offer fin*").await, set(&[b.id]), "a word and a prefix");
    assert_eq!(found("liefer*").await, set(&[d.id]), "a prefix of a file name's word");
    assert_eq!(found("q3 final").await, set(&[d.id]), "a file name's words");
    assert!(found("offer nothingsuch").await.is_empty(), "a word nowhere");
    assert_eq!(found("-offer -delivery").await, BTreeSet::new(), "exclusions only");
}

/// With a German analyzer (`ELASTICSEARCH_ANALYZER`, `SEARCH_PG_TEXT_CONFIG`), inflected
/// words find each other on both backends; the default analyzer does not stem.
async fn a_language_analyzer_stems_words(stemming: TestApp, plain: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let text = "Die Häuser und die offenen Rechnungen des Lieferanten".as_bytes();
    let stemmed = stemming.upload(&alice, "Angebote_2026.txt", "text/plain", text).await;
    let unstemmed = plain.upload(&alice, "Angebote_2026.txt", "text/plain", text).await;
    stemming.refresh_search().await;
    plain.refresh_search().await;
    for query in ["Haus", "rechnung lieferant", "\"offene Rechnung\"", "angebot"] {
        assert_eq!(stemming.found(&alice, query).await, vec![stemmed.id], "{query} with a German analyzer");
    }
    assert_eq!(plain.found(&alice, "Häuser").await, vec![unstemmed.id]);
    assert!(plain.found(&alice, "Haus").await.is_empty(), "the default analyzer does not stem");
}

mod analyzers {
    use files_testkit::TestApp;

    #[tokio::test]
    async fn elasticsearch() {
        let german = TestApp::with_elasticsearch(&[("ELASTICSEARCH_ANALYZER", "german")]).await;
        super::a_language_analyzer_stems_words(german, TestApp::with_elasticsearch(&[]).await).await;
    }

    #[tokio::test]
    async fn postgres_fallback() {
        let german = TestApp::with_env(&[("SEARCH_PG_TEXT_CONFIG", "german")]).await;
        super::a_language_analyzer_stems_words(german, TestApp::new().await).await;
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod elasticsearch {
            $(#[tokio::test] async fn $name() { super::$name(files_testkit::TestApp::with_elasticsearch(&[]).await).await; })*
        }
        mod postgres_fallback {
            $(#[tokio::test] async fn $name() { super::$name(files_testkit::TestApp::new().await).await; })*
        }
    };
}

both_backends!(phrases_exclusions_and_prefixes_answer_the_same);
