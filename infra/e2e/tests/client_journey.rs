//! The client's whole journey through the service as `make dev` runs it (local-media in front
//! of `cargo lambda watch`) on loopback, with a plain HTTP client: initiate → send the bytes →
//! confirm → download-url → GET → delete. One suite, run against each storage backend: every
//! test loops over [`backends`].
//!
//! `make test` starts one server per backend and sets `E2E_BASE_URL` (local backend),
//! `E2E_S3_BASE_URL` (S3 backend on LocalStack), `E2E_DATABASE_URL` and `E2E_S3_DATABASE_URL`
//! (one database per backend, each with its index worker), `E2E_MEDIA_ROOT`,
//! `E2E_S3_BUCKET`, `TEST_S3_ENDPOINT` and `E2E_JWT_SECRET`; without them these tests fail.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

enum Store {
    Local(std::path::PathBuf),
    S3(files_core::storage::s3::S3ObjectStore),
}

struct Env {
    name: &'static str,
    base: String,
    database_url: String,
    store: Store,
    secret: String,
    http: Client,
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the end-to-end tests through `make test`"))
}

/// The same server setup, once per storage backend.
async fn backends() -> Vec<Env> {
    let env = |name, base: &str, database: &str, store| Env {
        name,
        base: required(base),
        database_url: required(database),
        store,
        secret: required("E2E_JWT_SECRET"),
        http: Client::new(),
    };
    let settings = files_core::Settings::from_lookup(|name| match name {
        "FILE_STORAGE_BACKEND" => Some("s3".to_owned()),
        "AWS_S3_BUCKET_NAME" => Some(required("E2E_S3_BUCKET")),
        "AWS_S3_REGION_NAME" => Some("us-east-1".to_owned()),
        "AWS_S3_ENDPOINT_URL" => Some(required("TEST_S3_ENDPOINT")),
        "AWS_S3_ADDRESSING_STYLE" => Some("path".to_owned()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("test".to_owned()),
        _ => None,
    })
    .unwrap();
    let s3 = files_core::storage::s3::S3ObjectStore::new(settings.storage.s3().unwrap()).await.unwrap();
    files_core::storage::s3::ensure_bucket(&s3).await.expect("the S3 server answers");
    vec![
        env("local", "E2E_BASE_URL", "E2E_DATABASE_URL", Store::Local(required("E2E_MEDIA_ROOT").into())),
        env("s3", "E2E_S3_BASE_URL", "E2E_S3_DATABASE_URL", Store::S3(s3)),
    ]
}

impl Env {
    async fn object_exists(&self, key: &str) -> bool {
        match &self.store {
            Store::Local(root) => root.join(key).exists(),
            Store::S3(storage) => {
                use files_core::storage::ReadObjects as _;
                let key = files_core::keys::FileKey::parse(key).unwrap();
                storage.file_exists(&key).await.unwrap()
            }
        }
    }

    /// Initiates the upload of a 3-byte text file.
    async fn initiate_small(&self, token: &str) -> Value {
        let body = json!({"filename": "a.txt", "content_type": "text/plain", "size": 3});
        let (status, upload) = self.call(reqwest::Method::POST, "/files/initiate-upload", token, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{}: {upload}", self.name);
        upload
    }

    /// Waits for the index worker to apply the outbox, then makes the search server's recent
    /// writes visible (the S3 server searches Elasticsearch; the local one PostgreSQL, which
    /// needs nothing).
    async fn refresh_search(&self) {
        let (client, conn) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        for _ in 0..200 {
            let row = client.query_one("SELECT count(*) FROM index_outbox", &[]).await.unwrap();
            if row.get::<_, i64>(0) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let row = client.query_one("SELECT count(*) FROM index_outbox", &[]).await.unwrap();
        assert_eq!(row.get::<_, i64>(0), 0, "{}: the index worker did not apply the outbox", self.name);
        if self.name == "s3" {
            let url = format!("{}/e2e-files/_refresh", required("TEST_ELASTICSEARCH_URL"));
            self.http.post(url).send().await.expect("the search server answers");
        }
    }

    /// Sends the bytes exactly as initiate-upload said: a PUT with its headers, or a form POST.
    async fn send_bytes(&self, upload: &Value, bytes: &[u8]) -> StatusCode {
        let url = upload["url"].as_str().unwrap();
        let response = if upload["method"] == "POST" {
            let mut form = reqwest::multipart::Form::new();
            for (name, value) in upload["fields"].as_object().unwrap() {
                form = form.text(name.clone(), value.as_str().unwrap().to_owned());
            }
            form = form.part("file", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("upload"));
            self.http.post(url).multipart(form).send().await
        } else {
            let mut put = self.http.put(url);
            for (name, value) in upload["headers"].as_object().unwrap() {
                if !name.eq_ignore_ascii_case("content-length") {
                    put = put.header(name, value.as_str().unwrap());
                }
            }
            put.body(bytes.to_vec()).send().await
        };
        response.expect("the upload target answers").status()
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
async fn a_file_goes_from_initiate_to_delete_through_the_server() {
    for env in backends().await {
        journey(&env, None).await;
    }
}

#[tokio::test]
async fn a_browser_form_post_upload_goes_through_on_s3() {
    for env in backends().await.into_iter().filter(|e| e.name == "s3") {
        journey(&env, Some("post")).await;
    }
}

async fn journey(env: &Env, upload_method: Option<&str>) {
    let org = org();
    let alice = env.token("alice", &org);
    let bytes = "Grüße aus dem Lager\n".as_bytes();

    let (status, upload) = env
        .call(
            reqwest::Method::POST,
            "/files/initiate-upload",
            &alice,
            Some(json!({
                "filename": "Lieferschein März.txt",
                "content_type": "text/plain",
                "size": bytes.len(),
                "checksum_sha256": files_core::keys::Checksum::from_digest(sha256(bytes)).to_base64(),
                "upload_method": upload_method.unwrap_or("put"),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{}: {upload}", env.name);
    let (status, _) = env
        .call(reqwest::Method::POST, "/files/confirm-upload", &alice, Some(json!({"file_key": upload["file_key"]})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{}: confirm before the bytes", env.name);

    let sent = env.send_bytes(&upload, bytes).await;
    assert!(sent.is_success(), "{}: {sent}", env.name);

    let (status, file) = env
        .call(reqwest::Method::POST, "/files/confirm-upload", &alice, Some(json!({"file_key": upload["file_key"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    assert_eq!(file["status"], "available");
    let id = file["id"].as_str().unwrap().to_owned();

    env.refresh_search().await;
    let (status, found) = env.call(reqwest::Method::GET, "/files/search?q=Lager", &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{}: {found}", env.name);
    assert_eq!(found["files"][0]["id"].as_str(), Some(id.as_str()), "{}: {found}", env.name);
    assert!(found["files"][0]["highlights"].to_string().contains("<em>Lager</em>"), "{}: {found}", env.name);

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
    if env.name == "local" {
        // S3 signs a GET for GET only; the local target answers HEAD on the same URL.
        let head = env.http.head(&url).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD of a local download URL");
        assert_eq!(head.headers()["content-type"], "text/plain");
        assert_eq!(head.bytes().await.unwrap().len(), 0);
    }

    let (status, _) = env.call(reqwest::Method::DELETE, &format!("/files/{id}"), &alice, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!env.row_exists(&id).await);
    assert!(!env.object_exists(upload["file_key"].as_str().unwrap()).await, "{}", env.name);
    assert_eq!(env.http.get(&url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let (status, _) = env.call(reqwest::Method::GET, &format!("/files/{id}"), &alice, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.refresh_search().await;
    let (_, found) = env.call(reqwest::Method::GET, "/files/search?q=Lager", &alice, None).await;
    assert_eq!(found["files"], json!([]), "{}: {found}", env.name);
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

#[tokio::test]
async fn another_organization_gets_404_on_every_route() {
    for env in backends().await {
        another_organization(&env).await;
    }
}

async fn another_organization(env: &Env) {
    let org = org();
    let alice = env.token("alice", &org);
    let mallory = env.token("mallory", "evil-corp");
    let upload = env.initiate_small(&alice).await;
    assert!(env.send_bytes(&upload, b"abc").await.is_success());
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
    for env in backends().await {
        let response = env.http.get(format!("{}/files/{}", env.base, uuid::Uuid::new_v4())).send().await.unwrap();

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
}

#[tokio::test]
async fn a_tampered_upload_url_is_refused_by_the_server() {
    for env in backends().await {
        tampered_upload(&env).await;
    }
}

async fn tampered_upload(env: &Env) {
    let alice = env.token("alice", &org());
    let upload = env.initiate_small(&alice).await;
    let mut tampered = upload.clone();
    let url = upload["url"].as_str().unwrap();
    tampered["url"] = json!(if env.name == "local" {
        url.replace("size=3", "size=4")
    } else {
        url.replace("X-Amz-Expires=", "X-Amz-Expires=9")
    });

    let status = env.send_bytes(&tampered, b"abc").await;

    assert_eq!(status, StatusCode::FORBIDDEN, "{}", env.name);
    assert!(!env.object_exists(upload["file_key"].as_str().unwrap()).await, "{}", env.name);
}

#[tokio::test]
async fn the_indexer_takes_a_sample_queue_event_through_the_local_invoke_api() {
    let env = backends().await.remove(0);
    let event: Value = serde_json::from_str(include_str!("../../events/sqs-s3-put.json")).unwrap();

    let response = env
        .http
        .post(format!("{}/2015-03-31/functions/s3-indexer/invocations", env.base))
        .json(&event)
        .send()
        .await
        .expect("the invoke API answers");

    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    // The sample's key is no file's: its bytes are taken for a replay's and removed, which is
    // success, so no message comes back.
    assert_eq!(answer, json!({"batchItemFailures": []}));
}

impl Env {
    /// initiate → send → confirm of `bytes` as `content_type`; the confirmed file.
    async fn upload_confirmed(&self, token: &str, filename: &str, content_type: &str, bytes: &[u8]) -> Value {
        let body = json!({"filename": filename, "content_type": content_type, "size": bytes.len()});
        let (status, upload) = self.call(reqwest::Method::POST, "/files/initiate-upload", token, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{}: {upload}", self.name);
        let sent = self.send_bytes(&upload, bytes).await;
        assert!(sent.is_success(), "{}: the upload target answered {sent}", self.name);
        let confirm = json!({"file_key": upload["file_key"]});
        let (status, file) = self.call(reqwest::Method::POST, "/files/confirm-upload", token, Some(confirm)).await;
        assert_eq!(status, StatusCode::OK, "{}: {file}", self.name);
        file
    }

    /// The bytes a fresh download URL of file `id` serves.
    async fn downloaded(&self, token: &str, id: &str) -> Vec<u8> {
        let (status, signed) = self.call(reqwest::Method::GET, &format!("/files/{id}/download-url"), token, None).await;
        assert_eq!(status, StatusCode::OK, "{}: {signed}", self.name);
        let response = self.http.get(signed["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", self.name);
        response.bytes().await.unwrap().to_vec()
    }

    /// The object's bytes as stored.
    async fn stored_bytes(&self, key: &str) -> Vec<u8> {
        match &self.store {
            Store::Local(root) => std::fs::read(root.join(key)).unwrap(),
            Store::S3(storage) => {
                use files_core::storage::ReadObjects as _;
                use futures_util::TryStreamExt as _;
                let key = files_core::keys::FileKey::parse(key).unwrap();
                let chunks: Vec<bytes::Bytes> =
                    storage.get_file_stream(&key).await.unwrap().try_collect().await.unwrap();
                chunks.concat()
            }
        }
    }

    async fn raw_post(&self, path: &str, token: &str, content_type: Option<&str>, body: &[u8]) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).body(body.to_vec());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let problem = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(problem.as_deref(), Some("application/problem+json"), "{path}: {status} {body}");
        (status, body)
    }
}

/// A Windows-1252 CSV: "Müller;Straße" and "Preis;5€", none of it UTF-8.
const CP1252_CSV: &[u8] = b"Name;Adresse\r\nM\xfcller;Stra\xdfe 1\r\nPreis;5\x80\r\n";

#[tokio::test]
async fn bytes_that_are_not_utf8_sent_as_text_are_stored_and_served_byte_exact() {
    for env in backends().await {
        let alice = env.token("alice", &org());
        let mut bodies = vec![CP1252_CSV.to_vec(), vec![0xff, 0xfe, 0x00, b'a', 0x00], (0..=255u8).rev().collect()];
        bodies.push(vec![0xc3]);
        for (i, body) in bodies.iter().enumerate() {
            let file = env.upload_confirmed(&alice, &format!("liste-{i}.csv"), "text/csv", body).await;
            let key = file["file_key"].as_str().unwrap();
            assert_eq!(&env.stored_bytes(key).await, body, "{}: stored", env.name);
            assert_eq!(&env.downloaded(&alice, file["id"].as_str().unwrap()).await, body, "{}: served", env.name);
        }

        // The same bytes as a text part of a proxied upload.
        let part = reqwest::multipart::Part::bytes(CP1252_CSV.to_vec()).file_name("Adressen.csv").mime_str("text/csv");
        let form = reqwest::multipart::Form::new().part("file", part.unwrap());
        let response = env
            .http
            .post(format!("{}/files/upload-local", env.base))
            .bearer_auth(&alice)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{}", env.name);
        let file: Value = response.json().await.unwrap();
        assert_eq!(env.stored_bytes(file["file_key"].as_str().unwrap()).await, CP1252_CSV, "{}", env.name);
        assert_eq!(env.downloaded(&alice, file["id"].as_str().unwrap()).await, CP1252_CSV, "{}", env.name);
    }
}

#[tokio::test]
async fn a_text_body_that_is_not_utf8_is_a_400_problem_on_every_route_never_a_500() {
    for env in backends().await {
        let alice = env.token("alice", &org());
        for (path, content_type) in [
            ("/files/initiate-upload", Some("application/json")),
            ("/files/confirm-upload", Some("application/json; charset=utf-8")),
            ("/files/upload-local", Some("text/csv")),
            ("/files/upload-local", None),
        ] {
            let (status, problem) = env.raw_post(path, &alice, content_type, CP1252_CSV).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {path} {content_type:?}: {problem}", env.name);
        }
        // The functions' own answers to garbage that is UTF-8 are 4xx problems too.
        let (status, _) = env.raw_post("/files/upload-local", &alice, Some("text/csv"), b"a;b\n").await;
        assert!(status.is_client_error(), "{}: {status}", env.name);
        let truncated = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nab";
        let multipart = Some("multipart/form-data; boundary=XyZ");
        let (status, problem) = env.raw_post("/files/upload-local", &alice, multipart, truncated).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {problem}", env.name);
    }
}

#[tokio::test]
async fn a_file_over_the_lambda_payload_limit_goes_up_and_down_whole_with_ranges_on_the_local_backend() {
    let env = backends().await.remove(0);
    let alice = env.token("alice", &org());
    let body: Vec<u8> = (0..9u32 * 1024 * 1024).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();

    let file = env.upload_confirmed(&alice, "scan.bin", "application/octet-stream", &body).await;
    let id = file["id"].as_str().unwrap();
    assert!(env.downloaded(&alice, id).await == body, "the 9 MiB download differs");
    let (_, signed) = env.call(reqwest::Method::GET, &format!("/files/{id}/download-url"), &alice, None).await;
    let url = signed["url"].as_str().unwrap();
    let head = env.http.head(url).send().await.unwrap();
    let part = env.http.get(url).header("range", "bytes=7340032-7340041").send().await.unwrap();

    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], body.len().to_string().as_str());
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], format!("bytes 7340032-7340041/{}", body.len()).as_str());
    assert_eq!(part.bytes().await.unwrap().as_ref(), &body[7_340_032..7_340_042]);
}

#[tokio::test]
async fn media_requests_on_the_s3_backend_are_404_at_once() {
    let env = backends().await.remove(1);
    for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::HEAD] {
        let url = format!("{}/media/uploads/{}.txt?expires=1&signature=x", env.base, uuid::Uuid::new_v4());
        let request = env.http.request(method.clone(), url).body("abc").send();
        let response = tokio::time::timeout(std::time::Duration::from_secs(5), request).await.expect("answered");
        assert_eq!(response.unwrap().status(), StatusCode::NOT_FOUND, "{method}");
    }
}

#[tokio::test]
async fn browser_code_on_the_configured_origin_may_call_the_api_and_read_its_headers() {
    for env in backends().await {
        let preflight = |origin: &'static str| {
            env.http
                .request(reqwest::Method::OPTIONS, format!("{}/files/initiate-upload", env.base))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization,content-type")
                .send()
        };
        let allowed = preflight("http://app.localhost:5173").await.unwrap();
        let other = preflight("https://evil.example").await.unwrap();
        let answer = env
            .http
            .get(format!("{}/files/{}", env.base, uuid::Uuid::new_v4()))
            .header("origin", "http://app.localhost:5173")
            .send()
            .await
            .unwrap();

        assert!(allowed.status().is_success(), "{}", env.name);
        assert_eq!(allowed.headers()["access-control-allow-origin"], "http://app.localhost:5173");
        assert_eq!(allowed.headers()["access-control-allow-headers"], "authorization,content-type");
        assert!(allowed.headers().get("access-control-allow-credentials").is_none());
        assert!(other.headers().get("access-control-allow-origin").is_none(), "{}", env.name);
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(answer.headers()["access-control-allow-origin"], "http://app.localhost:5173");
        let exposed = answer.headers()["access-control-expose-headers"].to_str().unwrap();
        assert!(exposed.contains("retry-after") && exposed.contains("content-disposition"), "{exposed}");
    }
}

/// 1 GiB of deterministic bytes, a MiB at a time (every byte value, no repeating pattern a
/// store could shortcut).
fn gib_chunks() -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    const MIB: u32 = 1 << 20;
    futures_util::stream::iter((0..1024u32).map(|n| {
        let chunk: Vec<u8> = (0..MIB).map(|i| ((n * MIB + i).wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        Ok(bytes::Bytes::from(chunk))
    }))
}

#[tokio::test]
async fn a_one_gib_file_goes_up_and_down_byte_exact_through_the_local_media_server() {
    use futures_util::StreamExt as _;
    use sha2::Digest as _;
    let env = backends().await.remove(0);
    let alice = env.token("alice", &org());
    let mut hasher = sha2::Sha256::new();
    let mut chunks = std::pin::pin!(gib_chunks());
    while let Some(chunk) = chunks.next().await {
        hasher.update(chunk.unwrap());
    }
    let digest = hasher.finalize();
    let checksum = files_core::keys::Checksum::from_digest(digest.into()).to_base64();
    let body = json!({"filename": "archive.bin", "content_type": "application/octet-stream", "size": 1u64 << 30,
                      "checksum_sha256": checksum});
    let (status, upload) = env.call(reqwest::Method::POST, "/files/initiate-upload", &alice, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");

    let mut put = env.http.put(upload["url"].as_str().unwrap());
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let sent = put.header("content-length", (1u64 << 30).to_string()).body(reqwest::Body::wrap_stream(gib_chunks()));
    let sent = sent.send().await.unwrap();
    assert!(sent.status().is_success(), "the media server answered {}", sent.status());
    let confirm = json!({"file_key": upload["file_key"]});
    let (status, file) = env.call(reqwest::Method::POST, "/files/confirm-upload", &alice, Some(confirm)).await;
    assert_eq!(status, StatusCode::OK, "{file}");

    let id = file["id"].as_str().unwrap();
    let (_, signed) = env.call(reqwest::Method::GET, &format!("/files/{id}/download-url"), &alice, None).await;
    let response = env.http.get(signed["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream();
    let (mut downloaded, mut size) = (sha2::Sha256::new(), 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        size += chunk.len() as u64;
        downloaded.update(&chunk);
    }
    assert_eq!(size, 1 << 30);
    assert!(downloaded.finalize() == digest, "the 1 GiB download differs from the upload");
    let (status, _) = env.call(reqwest::Method::DELETE, &format!("/files/{id}"), &alice, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the gibibyte does not stay on the disk");
}
