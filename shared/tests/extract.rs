//! PDF text extraction in a child process: the text of a real document, and a hostile document
//! or a broken extractor (hang, crash, memory) become a reason while the caller goes on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use files_core::keys::{ContentType, FileKey, OriginalFilename};
use files_core::search::extract::{self, Limits, EXTRACTOR_ARG};
use files_core::storage::local::LocalFileStorage;
use files_core::storage::{ObjectStore, PutConstraints};

const PDF: &[u8] = include_bytes!("fixtures/quokka.pdf");

fn limits(program: &Path) -> Limits {
    Limits {
        max_bytes: 64 * 1024 * 1024,
        max_chars: 100_000,
        timeout: Duration::from_secs(20),
        max_memory: 256 * 1024 * 1024,
        program: Some(program.to_path_buf()),
    }
}

fn extractor() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_files-extract"))
}

async fn stored(dir: &Path, body: Vec<u8>) -> (LocalFileStorage, FileKey, u64) {
    let storage = LocalFileStorage::new(dir, b"test-signing-secret-of-some-length", "http://127.0.0.1:9000/media");
    let key = FileKey::generate(&OriginalFilename::parse("document.pdf").expect("name"));
    let size = body.len() as u64;
    let constraints = PutConstraints {
        content_type: ContentType::parse("application/pdf").expect("type"),
        exact_size: Some(size),
        max_size: size,
        checksum_sha256: None,
    };
    let bytes = Bytes::from(body);
    let stream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
    storage.save_proxied_file(&key, stream, &constraints).await.expect("stored");
    (storage, key, size)
}

async fn extract_with(body: Vec<u8>, limits: &Limits) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (storage, key, size) = stored(dir.path(), body).await;
    extract::extract(&storage, &key, &ContentType::parse("application/pdf").unwrap(), size, limits)
        .await
        .expect("no storage fault")
}

/// An executable script in `dir` with `body` as its shell code.
fn script(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("extractor.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn a_pdf_gives_its_text_through_the_extractor() {
    let text = extract_with(PDF.to_vec(), &limits(&extractor())).await.expect("text");
    assert!(text.to_lowercase().contains("quokka"), "{text:?}");
    assert!(!text.contains("  "), "whitespace is normalised: {text:?}");
}

#[tokio::test]
async fn text_is_cut_at_max_chars_by_the_extractor() {
    let mut limits = limits(&extractor());
    limits.max_chars = 5;
    let text = extract_with(PDF.to_vec(), &limits).await.expect("text");
    assert_eq!(text.chars().count(), 5, "{text:?}");
}

#[tokio::test]
async fn a_corrupt_pdf_is_a_reason_from_the_extractor() {
    let reason = extract_with(b"%PDF-1.4 not really a pdf".to_vec(), &limits(&extractor())).await.expect_err("reason");
    assert!(reason.starts_with("unreadable pdf"), "{reason}");
}

#[tokio::test]
async fn an_extractor_that_hangs_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pid");
    let program = script(dir.path(), &format!("echo $$ > {}; exec sleep 30", pid_file.display()));
    let mut limits = limits(&program);
    limits.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let reason = extract_with(PDF.to_vec(), &limits).await.expect_err("reason");
    assert_eq!(reason, "pdf text not extracted within 1 s");
    assert!(started.elapsed() < Duration::from_secs(10), "gave up at the timeout: {:?}", started.elapsed());
    // The child was killed, not left running.
    let pid = std::fs::read_to_string(&pid_file).expect("the extractor started").trim().to_owned();
    let status = Path::new("/proc").join(&pid).join("status");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let running = std::fs::read_to_string(&status).is_ok_and(|s| !s.contains("State:\tZ"));
        if !running {
            break;
        }
        assert!(Instant::now() < deadline, "the extractor (pid {pid}) is still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_extractor_runs_with_an_empty_environment() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in extractor that answers with its own environment as the "text".
    let program = script(dir.path(), "cat >/dev/null; env");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret-that-must-not-reach-the-parser");
    std::env::set_var("DATABASE_URL", "postgres://user:hunter2@db/x");

    let text = extract_with(PDF.to_vec(), &limits(&program)).await.expect("the stand-in answers");

    for leaked in ["secret-that-must-not-reach-the-parser", "hunter2", "AWS_", "DATABASE_URL", "HOME="] {
        assert!(!text.contains(leaked), "{leaked} reached the extractor: {text}");
    }
}

#[tokio::test]
async fn an_extractor_that_crashes_is_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let program = script(dir.path(), "cat >/dev/null; kill -ABRT $$");
    let reason = extract_with(PDF.to_vec(), &limits(&program)).await.expect_err("reason");
    assert!(reason.starts_with("unreadable pdf: the parser failed"), "{reason}");
}

#[tokio::test]
async fn a_missing_extractor_is_a_reason() {
    let reason =
        extract_with(PDF.to_vec(), &limits(Path::new("/nonexistent/files-extract"))).await.expect_err("reason");
    assert!(reason.starts_with("pdf extractor unavailable"), "{reason}");
}

/// `doc` saved as a one-page PDF: `page` (a dictionary without its parent) under an A4 page tree.
fn one_page_pdf(mut doc: pdf_extract::Document, page: pdf_extract::Dictionary) -> Vec<u8> {
    use pdf_extract::{dictionary, Object};
    let pages_id = doc.new_object_id();
    let mut page = page;
    page.set("Parent", pages_id);
    let page_id = doc.add_object(page);
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

/// A page whose content stream inflates to `inflated` bytes of spaces from a few hundred KB.
fn decompression_bomb(inflated: usize) -> Vec<u8> {
    use pdf_extract::{dictionary, Document, Stream};
    let mut doc = Document::with_version("1.5");
    let mut content = Stream::new(dictionary! {}, vec![b' '; inflated]);
    content.compress().expect("compress");
    let content_id = doc.add_object(content);
    one_page_pdf(doc, dictionary! { "Type" => "Page", "Contents" => content_id })
}

/// A one-page PDF: `text` in Helvetica, and an image whose samples read as a path operator
/// with no current point (`0 0 v`), which panics pdf-extract when parsed as content.
fn illustrated_pdf(text: &str) -> Vec<u8> {
    use pdf_extract::content::{Content, Operation};
    use pdf_extract::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let font_id = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
    let image_id = doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 4, "Height" => 2,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        },
        b"0 0 v\n".to_vec(),
    ));
    let content = Content {
        operations: vec![
            Operation::new("Do", vec!["Im1".into()]),
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal(text)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().expect("encode")));
    one_page_pdf(
        doc,
        dictionary! {
            "Type" => "Page", "Contents" => content_id,
            "Resources" => dictionary! {
                "Font" => dictionary! { "F1" => font_id },
                "XObject" => dictionary! { "Im1" => image_id },
            },
        },
    )
}

/// Images are emptied before the walk: without that, this document's image panics the parser
/// (jrmuizel/pdf-extract#153) and the file would lose its text.
#[tokio::test]
async fn a_pdf_with_images_gives_its_text() {
    let text = extract_with(illustrated_pdf("wombat habitats"), &limits(&extractor())).await.expect("text");
    assert!(text.contains("wombat habitats"), "{text:?}");
}

#[tokio::test]
async fn a_decompression_bomb_hits_the_memory_limit_of_the_child_only() {
    let bomb = decompression_bomb(256 * 1024 * 1024);
    assert!(bomb.len() < 2 * 1024 * 1024, "the bomb is small on disk: {} bytes", bomb.len());
    let mut limits = limits(&extractor());
    limits.max_memory = 64 * 1024 * 1024;
    let reason = extract_with(bomb, &limits).await.expect_err("reason");
    assert!(reason.starts_with("unreadable pdf: the parser failed"), "the child died: {reason}");
    // This process is untouched and goes on extracting.
    let text = extract_with(PDF.to_vec(), &limits).await.expect("text after the bomb");
    assert!(text.to_lowercase().contains("quokka"), "{text:?}");
}

#[test]
fn the_extractor_refuses_to_run_without_its_argument() {
    let out = std::process::Command::new(extractor()).output().expect("run files-extract");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(EXTRACTOR_ARG));
}
