//! The client's whole journey through `cargo lambda watch` on loopback, with a plain HTTP
//! client: initiate → PUT the bytes → confirm → download-url → GET → delete.
//!
//! `make test` starts the server and sets `E2E_BASE_URL`, `E2E_DATABASE_URL`,
//! `E2E_MEDIA_ROOT` and `E2E_JWT_SECRET`; without them these tests fail.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Env {
    base: String,
    database_url: String,
    media_root: std::path::PathBuf,
    secret: String,
    http: Client,
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the end-to-end tests through `make test`"))
}

impl Env {
    fn new() -> Self {
        Self {
            base: required("E2E_BASE_URL"),
            database_url: required("E2E_DATABASE_URL"),
            media_root: required("E2E_MEDIA_ROOT").into(),
            secret: required("E2E_JWT_SECRET"),
            http: Client::new(),
        }
    }

    fn token(&self, user: &str, org: &str) -> String {
        files_core::auth::issue_local_token(&self.secret, "org_id", user, org, &[], 600).unwrap()
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn row_exists(&self, id: &str) -> bool {
        let (client, conn) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let id: uuid::Uuid = id.parse().unwrap();
        client.query_opt("SELECT 1 FROM stored_files WHERE id = $1", &[&id]).await.unwrap().is_some()
    }
}

fn org() -> String {
    format!("org-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_file_goes_from_initiate_to_delete_through_the_local_server() {
    let env = Env::new();
    let org = org();
    let alice = env.token("alice", &org);
    let bytes = "Grüße aus dem Lager\n".as_bytes();

    let (status, upload) = env
        .call(
            reqwest::Method::POST,
            "/files/initiate-upload",
            &alice,
            Some(json!({"filename": "Lieferschein März.txt", "content_type": "text/plain", "size": bytes.len()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");

    let mut put = env.http.put(upload["url"].as_str().unwrap());
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let put = put.body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    let (status, file) = env
        .call(reqwest::Method::POST, "/files/confirm-upload", &alice, Some(json!({"file_key": upload["file_key"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    assert_eq!(file["status"], "available");
    let id = file["id"].as_str().unwrap().to_owned();

    let (status, fetched) = env.call(reqwest::Method::GET, &format!("/files/{id}"), &alice, None).await;
    assert_eq!((status, fetched["id"].as_str()), (StatusCode::OK, Some(id.as_str())));

    let (status, signed) = env.call(reqwest::Method::GET, &format!("/files/{id}/download-url"), &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let url = signed["url"].as_str().unwrap().to_owned();
    let download = env.http.get(&url).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "text/plain");
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"Lieferschein M_rz.txt\"; filename*=UTF-8''Lieferschein%20M%C3%A4rz.txt"
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), bytes);

    let (status, _) = env.call(reqwest::Method::DELETE, &format!("/files/{id}"), &alice, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!env.row_exists(&id).await);
    assert!(!env.media_root.join(upload["file_key"].as_str().unwrap()).exists());
    assert_eq!(env.http.get(&url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let (status, _) = env.call(reqwest::Method::GET, &format!("/files/{id}"), &alice, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_organization_gets_404_on_every_route() {
    let env = Env::new();
    let org = org();
    let alice = env.token("alice", &org);
    let mallory = env.token("mallory", "evil-corp");
    let (_, upload) = env
        .call(
            reqwest::Method::POST,
            "/files/initiate-upload",
            &alice,
            Some(json!({"filename": "a.txt", "content_type": "text/plain", "size": 3})),
        )
        .await;
    let put =
        env.http.put(upload["url"].as_str().unwrap()).header("content-type", "text/plain").body("abc").send().await;
    assert_eq!(put.unwrap().status(), StatusCode::OK);
    let id = upload["file_id"].as_str().unwrap();

    let attempts = [
        (reqwest::Method::POST, "/files/confirm-upload".to_owned(), Some(json!({"file_key": upload["file_key"]}))),
        (reqwest::Method::GET, format!("/files/{id}"), None),
        (reqwest::Method::GET, format!("/files/{id}/download-url"), None),
        (reqwest::Method::DELETE, format!("/files/{id}"), None),
    ];
    for (method, path, body) in attempts {
        let (status, problem) = env.call(method.clone(), &path, &mallory, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
    }
    assert!(env.row_exists(id).await);
}

#[tokio::test]
async fn requests_without_a_token_are_401_problems() {
    let env = Env::new();

    let response = env.http.get(format!("{}/files/{}", env.base, uuid::Uuid::new_v4())).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn a_tampered_upload_url_is_refused_by_the_server() {
    let env = Env::new();
    let alice = env.token("alice", &org());
    let (_, upload) = env
        .call(
            reqwest::Method::POST,
            "/files/initiate-upload",
            &alice,
            Some(json!({"filename": "a.txt", "content_type": "text/plain", "size": 3})),
        )
        .await;
    let tampered = upload["url"].as_str().unwrap().replace("size=3", "size=4");

    let put = env.http.put(tampered).header("content-type", "text/plain").body("abcd").send().await.unwrap();

    assert_eq!(put.status(), StatusCode::FORBIDDEN);
    assert!(!env.media_root.join(upload["file_key"].as_str().unwrap()).exists());
}
