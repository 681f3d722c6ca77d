//! confirm-upload through real API Gateway v2 event JSON, against a real PostgreSQL and the
//! local backend.

use confirm_upload::handle;
use files_testkit::{caller, json_of, token, ApiEvent, TestApp};
use serde_json::json;

fn confirm(user: &str, org: &str, file_key: &str) -> ApiEvent {
    ApiEvent::new("POST", "/files/confirm-upload", "/files/confirm-upload")
        .bearer(&token(user, org, &[]))
        .json(&json!({ "file_key": file_key }))
}

#[tokio::test]
async fn confirming_an_uploaded_file_marks_it_available_and_returns_it_with_a_download_url() {
    let app = TestApp::new().await;
    let alice = caller("alice", "acme", &[]);
    let upload = app.initiate(&alice, "notes.txt", "text/plain", b"hello", true).await;
    app.store(upload.file_key.as_str(), "text/plain", b"hello").await;

    let response = handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap();

    assert_eq!(response.status(), 200);
    let body = json_of(&response);
    assert_eq!(body["id"], upload.file_id.to_string());
    assert_eq!(body["status"], "available");
    assert_eq!(body["size"], 5);
    assert_eq!(body["original_filename"], "notes.txt");
    assert_eq!(body["checksum_sha256"], files_testkit::sha256_base64(b"hello"));
    assert!(body["download_url"].as_str().unwrap().contains("/media/uploads/"));
    for field in
        ["file_key", "content_type", "storage_backend", "bucket_name", "uploaded_by", "organization_id", "created_at"]
    {
        assert!(body.get(field).is_some(), "{field} missing");
    }
    assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("available"));
}

#[tokio::test]
async fn confirming_twice_answers_the_same_file_both_times() {
    let app = TestApp::new().await;
    let alice = caller("alice", "acme", &[]);
    let upload = app.initiate(&alice, "a.txt", "text/plain", b"abc", false).await;
    app.store(upload.file_key.as_str(), "text/plain", b"abc").await;

    let first =
        json_of(&handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap());
    let second = handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap();

    assert_eq!(second.status(), 200);
    let second = json_of(&second);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["confirmed_at"], second["confirmed_at"]);
}

#[tokio::test]
async fn a_key_never_issued_is_404_and_a_malformed_key_is_400() {
    let app = TestApp::new().await;

    let missing = handle(&app.confirm, confirm("alice", "acme", "uploads/never-issued.txt").request()).await.unwrap();
    let traversal = handle(&app.confirm, confirm("alice", "acme", "../../etc/passwd").request()).await.unwrap();

    assert_eq!(missing.status(), 404);
    assert_eq!(json_of(&missing)["code"], "upload_not_found");
    assert_eq!(traversal.status(), 400);
    assert_eq!(json_of(&traversal)["code"], "invalid_file_key");
}

#[tokio::test]
async fn confirming_before_the_bytes_arrive_is_409_and_changes_nothing() {
    let app = TestApp::new().await;
    let upload = app.initiate(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc", false).await;

    let response = handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap();

    assert_eq!(response.status(), 409);
    assert_eq!(json_of(&response)["code"], "upload_incomplete");
    assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn bytes_that_differ_from_the_declaration_are_422_and_the_row_stays_pending() {
    let app = TestApp::new().await;
    let alice = caller("alice", "acme", &[]);
    // (declared bytes, declared type, stored bytes, stored type)
    let cases: [(&[u8], &str, &[u8], &str); 3] = [
        (b"hello", "text/plain", b"hello world", "text/plain"),
        (b"hello", "text/plain", b"hello", "text/html"),
        (b"hello", "text/plain", b"HELLO", "text/plain"),
    ];

    for (declared, declared_type, stored, stored_type) in cases {
        let upload = app.initiate(&alice, "a.txt", declared_type, declared, true).await;
        app.store(upload.file_key.as_str(), stored_type, stored).await;

        let response =
            handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap();

        assert_eq!(response.status(), 422, "{stored:?} {stored_type}");
        assert_eq!(json_of(&response)["code"], "upload_mismatch");
        assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("pending"));
    }
}

#[tokio::test]
async fn another_organizations_upload_is_404() {
    let app = TestApp::new().await;
    let upload = app.initiate(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc", false).await;
    app.store(upload.file_key.as_str(), "text/plain", b"abc").await;

    let response =
        handle(&app.confirm, confirm("mallory", "evil-corp", upload.file_key.as_str()).request()).await.unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn a_colleagues_confirm_is_404_and_the_uploaders_then_succeeds() {
    let app = TestApp::new().await;
    let upload = app.initiate(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc", false).await;
    app.store(upload.file_key.as_str(), "text/plain", b"abc").await;

    let colleague = handle(&app.confirm, confirm("bob", "acme", upload.file_key.as_str()).request()).await.unwrap();
    let status_after_colleague = app.status_of(upload.file_id).await;
    let uploader = handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap();
    let colleague_again =
        handle(&app.confirm, confirm("bob", "acme", upload.file_key.as_str()).request()).await.unwrap();

    assert_eq!(colleague.status(), 404);
    assert_eq!(json_of(&colleague)["code"], "upload_not_found");
    assert_eq!(status_after_colleague.as_deref(), Some("pending"));
    assert_eq!(uploader.status(), 200);
    assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("available"));
    assert_eq!(colleague_again.status(), 404, "an available file is not the colleague's to confirm either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_confirms_of_one_key_give_one_row_and_the_same_answer() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let upload = app.initiate(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc", true).await;
    app.store(upload.file_key.as_str(), "text/plain", b"abc").await;

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, key) = (app.clone(), upload.file_key.clone());
            tokio::spawn(async move {
                handle(&app.confirm, confirm("alice", "acme", key.as_str()).request()).await.unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    assert!(answers.iter().all(|r| r.status() == 200));
    let bodies: Vec<_> = answers.iter().map(json_of).collect();
    assert!(bodies.iter().all(|b| b["id"] == bodies[0]["id"] && b["confirmed_at"] == bodies[0]["confirmed_at"]));
    assert_eq!(app.db.count_files().await, 1);
    assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("available"));
}

#[tokio::test]
async fn an_s3_outage_is_a_503_with_retry_after_and_confirm_works_once_s3_is_back() {
    let proxy = files_testkit::CutProxy::start(&files_testkit::host_port(&files_testkit::s3_endpoint())).await;
    let endpoint = format!("http://{}", proxy.addr);
    let app = TestApp::with_backend(files_testkit::Backend::S3, &[("AWS_S3_ENDPOINT_URL", &endpoint)]).await;
    let alice = caller("alice", "acme", &[]);
    let upload = app.initiate(&alice, "a.txt", "text/plain", b"abc", true).await;
    app.store(upload.file_key.as_str(), "text/plain", b"abc").await;

    proxy.down();
    let response = handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(json_of(&response)["code"], "dependency_unavailable");
    assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("pending"));

    proxy.up();
    let response = handle(&app.confirm, confirm("alice", "acme", upload.file_key.as_str()).request()).await.unwrap();
    assert_eq!(response.status(), 200, "{}", json_of(&response));
    assert_eq!(app.status_of(upload.file_id).await.as_deref(), Some("available"));
}

#[tokio::test]
async fn confirming_on_s3_checks_the_object_s3_holds() {
    let app = TestApp::with_backend(files_testkit::Backend::S3, &[]).await;
    let alice = caller("alice", "acme", &[]);
    let good = app.initiate(&alice, "a.txt", "text/plain", b"hello", true).await;
    app.store(good.file_key.as_str(), "text/plain", b"hello").await;
    let bad = app.initiate(&alice, "b.txt", "text/plain", b"hello", true).await;
    app.store(bad.file_key.as_str(), "text/plain", b"HELLO").await;
    let missing = app.initiate(&alice, "c.txt", "text/plain", b"hello", true).await;

    let good = handle(&app.confirm, confirm("alice", "acme", good.file_key.as_str()).request()).await.unwrap();
    let bad_response = handle(&app.confirm, confirm("alice", "acme", bad.file_key.as_str()).request()).await.unwrap();
    let missing = handle(&app.confirm, confirm("alice", "acme", missing.file_key.as_str()).request()).await.unwrap();

    assert_eq!(good.status(), 200);
    let body = json_of(&good);
    assert_eq!((body["storage_backend"].as_str(), body["bucket_name"].is_string()), (Some("s3"), true));
    assert!(body["download_url"].as_str().unwrap().contains("X-Amz-Signature="));
    assert_eq!(bad_response.status(), 422);
    assert_eq!(app.status_of(bad.file_id).await.as_deref(), Some("pending"));
    assert_eq!(missing.status(), 409);
}

#[test]
fn the_function_holds_no_document_parser() {
    files_testkit::assert_has_no_pdf_parser(env!("CARGO_BIN_EXE_confirm-upload"));
}
