//! upload-local: a proxied multipart upload through API Gateway v2 event JSON, against a real
//! PostgreSQL and the local backend.

use files_testkit::{json_of, sha256_base64, token, ApiEvent, TestApp};
use upload_local::handle;

const BOUNDARY: &str = "----testboundary7MA4YWxkTrZu0gW";

/// A form part: field name, file name, content type, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(f) = filename {
            body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn upload(body: &[u8]) -> ApiEvent {
    ApiEvent::new("POST", "/files/upload-local", "/files/upload-local")
        .bearer(&token("alice", "acme", &[]))
        .binary(&format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

#[tokio::test]
async fn a_multipart_upload_is_stored_and_recorded_as_available() {
    let app = TestApp::new().await;
    let body = multipart(&[
        ("note", None, None, b"ignored"),
        ("file", Some("photo.png"), Some("image/png"), b"\x89PNG\r\n\x1a\n"),
    ]);

    let response = handle(&app.proxied, upload(&body).request()).await.unwrap();

    assert_eq!(response.status(), 201, "{}", json_of(&response));
    let file = json_of(&response);
    assert_eq!(file["status"], "available");
    assert_eq!(file["original_filename"], "photo.png");
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], 8);
    assert_eq!(file["checksum_sha256"], sha256_base64(b"\x89PNG\r\n\x1a\n"));
    let stored = std::fs::read(app.media.path().join(file["file_key"].as_str().unwrap())).unwrap();
    assert_eq!(stored, b"\x89PNG\r\n\x1a\n");
    assert_eq!(app.db.count_files().await, 1);
}

#[tokio::test]
async fn bad_uploads_get_a_problem_and_store_nothing() {
    let app = TestApp::with_env(&[("UPLOAD_MAX_SIZE_BYTES", "16")]).await;
    let long_name = format!("{}.txt", "a".repeat(300));
    // The file part begins, and the body ends before its closing boundary.
    let whole = multipart(&[("file", Some("a.txt"), Some("text/plain"), b"0123456789")]);
    let truncated = whole[..whole.len() - format!("\r\n--{BOUNDARY}--\r\n").len()].to_vec();
    let cases: Vec<(ApiEvent, u16, &str)> = vec![
        (upload(&multipart(&[("other", Some("a.txt"), Some("text/plain"), b"x")])), 400, "missing_file"),
        (upload(&multipart(&[("file", None, Some("text/plain"), b"x")])), 400, "invalid_filename"),
        (upload(&multipart(&[("file", Some(&long_name), Some("text/plain"), b"x")])), 400, "invalid_filename"),
        (
            upload(&multipart(&[("file", Some("a.exe"), Some("application/x-msdownload"), b"x")])),
            415,
            "content_type_not_allowed",
        ),
        (upload(&multipart(&[("file", Some("a.txt"), Some("text/plain"), &[b'x'; 17])])), 413, "file_too_large"),
        (upload(b"--nope"), 400, "invalid_multipart"),
        (upload(&truncated), 400, "invalid_body"),
        (upload(&truncated[..truncated.len() - 3]), 400, "invalid_body"),
        (upload(b"x").header("content-type", "application/json"), 415, "multipart_required"),
    ];

    for (event, status, code) in cases {
        let response = handle(&app.proxied, event.request()).await.unwrap();
        assert_eq!(response.status(), status, "{}", json_of(&response));
        assert_eq!(json_of(&response)["code"], code);
    }
    assert_eq!(app.db.count_files().await, 0);
    assert!(app.stored_paths().is_empty(), "{:?}", app.stored_paths());
}

#[tokio::test]
async fn a_body_over_the_lambda_payload_limit_is_413_before_it_is_parsed() {
    let app = TestApp::with_env(&[("UPLOAD_MAX_SIZE_BYTES", "104857600")]).await;
    let big = vec![b'x'; 6 * 1024 * 1024 + 1];

    let response =
        handle(&app.proxied, upload(&multipart(&[("file", Some("big.txt"), Some("text/plain"), &big)])).request())
            .await
            .unwrap();

    assert_eq!(response.status(), 413);
    assert_eq!(json_of(&response)["code"], "payload_too_large");
    assert!(app.stored_paths().is_empty());
    assert_eq!(app.db.count_files().await, 0);
}

#[tokio::test]
async fn an_unauthenticated_upload_is_401() {
    let app = TestApp::new().await;
    let body = multipart(&[("file", Some("a.txt"), Some("text/plain"), b"x")]);
    let event = ApiEvent::new("POST", "/files/upload-local", "/files/upload-local")
        .binary(&format!("multipart/form-data; boundary={BOUNDARY}"), &body);

    let response = handle(&app.proxied, event.request()).await.unwrap();

    assert_eq!(response.status(), 401);
    assert!(app.stored_paths().is_empty());
}

#[test]
fn the_function_holds_no_document_parser() {
    files_testkit::assert_has_no_pdf_parser(env!("CARGO_BIN_EXE_upload-local"));
}
