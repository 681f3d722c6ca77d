//! The indexer reads what the bytes are, not what the label says, and text in any encoding:
//! one suite on both search backends (osmem-server and the PostgreSQL fallback).

use files_testkit::{caller, LogCapture, TestApp};
use lambda_http::tracing::subscriber::filter::LevelFilter;

const PDF: &[u8] = include_bytes!("fixtures/quokka.pdf");

fn utf16le(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

async fn text_in_legacy_and_utf16_encodings_is_found_by_its_words(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    // Windows-1252, as spreadsheet exports on Windows write it.
    let cp1252 = b"Kunde;Stra\xDFe;Ort\r\nM\xFCller GmbH;Hauptstra\xDFe 5;K\xF6ln\r\n";
    let csv = app.upload(&alice, "kunden.csv", "text/csv", cp1252).await;
    let note = app.upload(&alice, "quittung.txt", "text/plain", &utf16le("Quittung aus Zürich")).await;
    app.refresh_search().await;

    assert_eq!(app.found(&alice, "Müller").await, vec![csv.id]);
    assert_eq!(app.found(&alice, "Straße").await, vec![csv.id]);
    assert_eq!(app.found(&alice, "Köln").await, vec![csv.id]);
    assert_eq!(app.found(&alice, "Zürich").await, vec![note.id]);
}

async fn a_pdf_sent_as_text_is_indexed_by_its_content(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let logs = LogCapture::start(LevelFilter::INFO);
    let renamed = app.upload(&alice, "scan.txt", "text/plain", PDF).await;
    app.refresh_search().await;

    assert_eq!(app.found(&alice, "quokka").await, vec![renamed.id]);
    assert!(logs.text().contains("the declared type disagrees with the content"), "{}", logs.text());
}

async fn bytes_that_are_not_text_are_indexed_by_metadata_and_the_rest_of_the_batch_by_content(app: TestApp) {
    let alice = caller("alice", "acme", &[]);
    let logs = LogCapture::start(LevelFilter::INFO);
    let with_nul = app.upload(&alice, "ledger export.txt", "text/plain", b"ledger\x00\x00binary\x00bytes").await;
    let png = app.upload(&alice, "holiday picture.txt", "text/plain", b"\x89PNG\r\n\x1a\nnot a text").await;
    let utf16_without_bom: Vec<u8> = "wombat".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let no_bom = app.upload(&alice, "unmarked memo.txt", "text/plain", &utf16_without_bom).await;
    let plain = app.upload(&alice, "plain.txt", "text/plain", b"an ordinary capybara").await;
    app.refresh_search().await;

    // Never dropped from search: found by name at worst.
    assert_eq!(app.found(&alice, "ledger").await, vec![with_nul.id]);
    assert_eq!(app.found(&alice, "holiday").await, vec![png.id]);
    assert_eq!(app.found(&alice, "unmarked").await, vec![no_bom.id]);
    assert!(app.found(&alice, "binary").await.is_empty(), "no text is indexed from bytes that are not text");
    assert_eq!(app.found(&alice, "capybara").await, vec![plain.id]);
    let logged = logs.text();
    assert!(logged.contains("it holds NUL bytes") && logged.contains("a PNG image"), "{logged}");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod elasticsearch {
            $(#[tokio::test] async fn $name() { super::$name(TestApp::with_elasticsearch(&[]).await).await; })*
            use files_testkit::TestApp;
        }
        mod postgres_fallback {
            $(#[tokio::test] async fn $name() { super::$name(TestApp::new().await).await; })*
            use files_testkit::TestApp;
        }
    };
}

both_backends!(
    text_in_legacy_and_utf16_encodings_is_found_by_its_words,
    a_pdf_sent_as_text_is_indexed_by_its_content,
    bytes_that_are_not_text_are_indexed_by_metadata_and_the_rest_of_the_batch_by_content,
);
