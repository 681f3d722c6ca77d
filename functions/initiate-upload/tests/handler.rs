//! initiate-upload through real API Gateway v2 event JSON, against a real PostgreSQL.

use files_testkit::{host_port, json_of, token, via, ApiEvent, CutProxy, TestApp};
use initiate_upload::handle;
use serde_json::json;

fn initiate(body: serde_json::Value) -> ApiEvent {
    ApiEvent::new("POST", "/files/initiate-upload", "/files/initiate-upload")
        .bearer(&token("alice", "acme", &[]))
        .json(&body)
}

#[tokio::test]
async fn initiate_upload_returns_a_signed_put_and_records_a_pending_row() {
    let app = TestApp::new().await;

    let response = handle(
        &app.initiate,
        initiate(json!({"filename": "Q3 report.pdf", "content_type": "application/pdf", "size": 1024})).request(),
    )
    .await
    .unwrap();

    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json_of(&response);
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["headers"]["Content-Type"], "application/pdf");
    let key = body["file_key"].as_str().unwrap();
    assert!(key.starts_with("uploads/") && key.ends_with(".pdf"), "{key}");
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://127.0.0.1:9000/media/{key}?")), "{url}");
    assert!(url.contains("signature=") && url.contains("size=1024"));
    let row = app
        .db
        .client()
        .await
        .query_one(
            "SELECT status, size, uploaded_by, organization_id, original_filename, storage_backend \
             FROM stored_files WHERE id = $1::text::uuid",
            &[&body["file_id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pending");
    assert_eq!(row.get::<_, i64>(1), 1024);
    assert_eq!(row.get::<_, String>(2), "alice");
    assert_eq!(row.get::<_, String>(3), "acme");
    assert_eq!(row.get::<_, String>(4), "Q3 report.pdf");
    assert_eq!(row.get::<_, String>(5), "local");
}

#[tokio::test]
async fn initiate_upload_reads_the_caller_from_the_api_gateway_authorizer() {
    let app = TestApp::with_env(&[("AUTH_MODE", "apigateway")]).await;
    let event = include_str!("../../../infra/events/apigw-v2-initiate-upload.json");

    let response = handle(&app.initiate, lambda_http::request::from_str(event).unwrap()).await.unwrap();

    assert_eq!(response.status(), 201);
    let row =
        app.db.client().await.query_one("SELECT uploaded_by, organization_id FROM stored_files", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("alice".to_owned(), "acme".to_owned()));
}

#[tokio::test]
async fn initiate_upload_without_a_valid_caller_is_401_and_writes_nothing() {
    let app = TestApp::new().await;
    let body = json!({"filename": "a.txt", "content_type": "text/plain", "size": 1});
    let no_token = ApiEvent::new("POST", "/files/initiate-upload", "/files/initiate-upload").json(&body);
    let bad_token = no_token.clone().bearer("not-a-jwt");
    let expired = no_token.clone().bearer(
        &files_core::auth::issue_local_token(files_testkit::JWT_SECRET, "org_id", "alice", "acme", &[], -120).unwrap(),
    );

    for event in [no_token, bad_token, expired] {
        let response = handle(&app.initiate, event.request()).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(json_of(&response)["code"], "unauthorized");
    }
    let apigw = TestApp::with_env(&[("AUTH_MODE", "apigateway")]).await;
    let response = handle(&apigw.initiate, initiate(body).without_authorizer().request()).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(app.db.count_files().await + apigw.db.count_files().await, 0);
}

#[tokio::test]
async fn bad_input_gets_a_clear_problem_and_writes_nothing() {
    let app = TestApp::new().await;
    let long_name = format!("{}.txt", "a".repeat(252));
    let mut cases: Vec<(ApiEvent, u16, &str)> = vec![
        (initiate(json!({})).text("application/json", "{not json"), 400, "invalid_json"),
        (initiate(json!({})).text("application/json", ""), 400, "invalid_json"),
        (initiate(json!({"filename": "a.txt", "content_type": "text/plain"})), 400, "invalid_json"),
        (initiate(json!({"filename": "a.txt", "content_type": "text/plain", "size": "12"})), 400, "invalid_json"),
        (
            initiate(json!({"filename": "a.txt", "content_type": "text/plain", "size": 1, "extra": 1})),
            400,
            "invalid_json",
        ),
        (initiate(json!({"filename": "", "content_type": "text/plain", "size": 1})), 400, "invalid_filename"),
        (initiate(json!({"filename": long_name, "content_type": "text/plain", "size": 1})), 400, "invalid_filename"),
        (initiate(json!({"filename": "a\r\nb.txt", "content_type": "text/plain", "size": 1})), 400, "invalid_filename"),
        (
            initiate(json!({"filename": "../../etc/passwd", "content_type": "text/plain", "size": 1})),
            400,
            "invalid_filename",
        ),
        (initiate(json!({"filename": "a.txt", "content_type": "", "size": 1})), 400, "invalid_content_type"),
        (initiate(json!({"filename": "a.txt", "content_type": "text/plain", "size": -1})), 400, "invalid_size"),
        (
            initiate(json!({"filename": "a.txt", "content_type": "text/plain", "size": 1, "checksum_sha256": "abc"})),
            400,
            "invalid_checksum",
        ),
        (
            initiate(json!({"filename": "a.txt", "content_type": "text/plain", "size": 1_048_577})),
            413,
            "file_too_large",
        ),
        (
            initiate(json!({"filename": "a.exe", "content_type": "application/x-msdownload", "size": 1})),
            415,
            "content_type_not_allowed",
        ),
        (initiate(json!({})).text("text/plain", "filename=a.txt"), 415, "unsupported_media_type"),
    ];
    // A right-to-left override, a zero-width space, an isolate pair: invisible format characters.
    for name in ["invoice\u{202E}fdp.exe", "a\u{200B}b.txt", "\u{2066}a.txt\u{2069}"] {
        cases.push((
            initiate(json!({"filename": name, "content_type": "text/plain", "size": 1})),
            400,
            "invalid_filename",
        ));
    }

    for (event, status, code) in cases {
        let response = handle(&app.initiate, event.request()).await.unwrap();
        let body = json_of(&response);
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status);
        assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    }
    assert_eq!(app.db.count_files().await, 0);
    assert!(app.stored_paths().is_empty());
}

#[tokio::test]
async fn a_database_outage_is_a_503_with_retry_after_and_the_service_recovers() {
    let db = files_testkit::TestDb::new().await;
    let proxy = CutProxy::start(&host_port(&db.url)).await;
    let media = tempfile::tempdir().unwrap();
    let mut env = files_testkit::test_env(media.path(), &via(&db.url, proxy.addr));
    env.insert("DATABASE_TIMEOUT_SECONDS".into(), "1".into());
    let state: files_core::AppState<files_core::services::InitiateUpload> =
        files_core::AppState::build(&files_core::Settings::from_map(&env).unwrap()).await.unwrap();
    let body = json!({"filename": "a.txt", "content_type": "text/plain", "size": 1});

    assert_eq!(handle(&state, initiate(body.clone()).request()).await.unwrap().status(), 201);
    proxy.down();
    let response = handle(&state, initiate(body.clone()).request()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(json_of(&response)["code"], "dependency_unavailable");
    proxy.up();
    let response = handle(&state, initiate(body).request()).await.unwrap();

    assert_eq!(response.status(), 201);
    assert_eq!(db.count_files().await, 2);
}
