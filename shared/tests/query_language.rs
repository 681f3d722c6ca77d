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
