//! Office Open XML, OpenDocument, legacy XLS and RTF files, written at test time by the writers
//! their users' software is checked against (python-docx, openpyxl, python-pptx, odfpy, xlwt,
//! pandoc; `make test` installs them), a mail written by Python's `email` package, an HTML page,
//! Markdown and TSV, are found by a word only inside them (a table cell, a second sheet, a
//! slide, a mail's body or attachment), on both search backends; hostile containers (a zip bomb,
//! XML nested 20,000 deep, a corrupt container, a sheet of 1.2 million empty cells) are indexed
//! by their metadata with the reason logged, and the rest is indexed.

use files_testkit::{caller, LogCapture, TestApp};
use lambda_http::tracing::subscriber::filter::LevelFilter;

/// `(file name, content type, word only inside it or "-", bytes)` of each fixture.
fn fixtures() -> Vec<(String, String, String, Vec<u8>)> {
    let python = std::env::var("TEST_FIXTURE_PYTHON")
        .expect("TEST_FIXTURE_PYTHON is not set: run through `make test`, which installs the document writers");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/fixtures/office.py");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(python).arg(script).arg(dir.path()).output().expect("the fixture writer runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let (name, content_type, word) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
            let bytes = std::fs::read(dir.path().join(name)).unwrap();
            (name.to_owned(), content_type.to_owned(), word.to_owned(), bytes)
        })
        .collect()
}

async fn every_format_is_found_by_a_word_only_inside_it_and_hostile_ones_by_their_names(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let logs = LogCapture::start(LevelFilter::INFO);
    let mut expected = Vec::new();
    for (name, content_type, word, bytes) in fixtures() {
        let file = app.upload(&alice, &name, &content_type, &bytes).await;
        expected.push((name, word, file.id, bytes));
    }
    // The DOCX again, declared as bytes of no particular type: read as what it is.
    let (_, _, _, docx) = expected.iter().find(|(name, ..)| name == "offer.docx").unwrap().clone();
    let unlabelled = app.upload(&alice, "offer copy.bin", "application/octet-stream", &docx).await;
    app.refresh_search().await;

    for (name, word, id, _) in &expected {
        if word == "-" {
            let stem = name.rsplit_once('.').map_or(name.as_str(), |(stem, _)| stem);
            assert_eq!(app.found(&alice, stem).await, vec![*id], "{name} is found by its name");
        } else {
            let mut found = app.found(&alice, word).await;
            found.retain(|f| *f != unlabelled.id);
            assert_eq!(found, vec![*id], "{name} is found by {word}");
        }
    }
    assert!(app.found(&alice, "docxcellword").await.contains(&unlabelled.id), "the unlabelled DOCX");
    let mail = expected.iter().find(|(name, ..)| name == "mail.eml").unwrap().2;
    for word in ["März", "Erika", "emlbodyword", "Köln"] {
        assert_eq!(app.found(&alice, word).await, vec![mail], "the mail is found by {word}");
    }
    for hidden in ["htmlscriptword", "htmlstyleword"] {
        assert!(app.found(&alice, hidden).await.is_empty(), "{hidden} is not visible text");
    }
    let logged = logs.text();
    for reason in ["zip bomb", "nested deeper than", "corrupt ZIP container", "empty cells"] {
        assert!(logged.contains(reason), "{reason} is logged: {logged}");
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod elasticsearch {
            $(#[tokio::test] async fn $name() { super::$name(TestApp::with_elasticsearch(&[("UPLOAD_ALLOWED_CONTENT_TYPES", ""), ("UPLOAD_MAX_SIZE_BYTES", "16777216")]).await).await; })*
            use files_testkit::TestApp;
        }
        mod postgres_fallback {
            $(#[tokio::test] async fn $name() { super::$name(TestApp::with_env(&[("UPLOAD_ALLOWED_CONTENT_TYPES", ""), ("UPLOAD_MAX_SIZE_BYTES", "16777216")]).await).await; })*
            use files_testkit::TestApp;
        }
    };
}

both_backends!(every_format_is_found_by_a_word_only_inside_it_and_hostile_ones_by_their_names);
