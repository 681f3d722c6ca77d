//! upload-parts (and confirm-upload's completion) through real API Gateway v2 event JSON,
//! against a real PostgreSQL, on both backends: LocalStack S3, and the local backend behind
//! the real local media server on loopback. Parts go up over HTTP to the URLs the service
//! signed, as a client sends them.

use std::sync::Arc;

use files_core::services::{ConfirmUploadRequest, InitiateUploadRequest, PartTag, RequestedUploadMethod};
use files_testkit::{caller, json_of, token, ApiEvent, Backend, TestApp};
use serde_json::{json, Value};
use upload_parts::handle;

const MIB: usize = 1024 * 1024;

/// A service on `backend`, with the local media server serving its signed URLs.
async fn app(backend: Backend) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let env = [
        ("PUBLIC_BASE_URL", base.as_str()),
        ("UPLOAD_MAX_SIZE_BYTES", "17179869184"),
        ("UPLOAD_ALLOWED_CONTENT_TYPES", "text/*,application/octet-stream"),
    ];
    let app = TestApp::with_backend(backend, &env).await;
    let media = Arc::new(local_media::App::new(&app.settings, None, local_media::Origins::Any));
    tokio::spawn(local_media::serve(listener, media));
    app
}

fn backends() -> [Backend; 2] {
    [Backend::Local, Backend::S3]
}

/// Deterministic bytes that differ from part to part.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn sha(bytes: &[u8]) -> String {
    files_testkit::sha256_base64(bytes)
}

async fn initiate(app: &TestApp, user: &str, body: &[u8], checksum: Option<String>) -> (String, String) {
    initiate_with_crc(app, user, body, checksum, None).await
}

async fn initiate_with_crc(
    app: &TestApp,
    user: &str,
    body: &[u8],
    checksum: Option<String>,
    crc: Option<String>,
) -> (String, String) {
    let request = InitiateUploadRequest {
        filename: "ledger.csv".into(),
        content_type: "text/csv".into(),
        size: body.len() as i64,
        checksum_sha256: checksum,
        owner: None,
        upload_method: Some(RequestedUploadMethod::Multipart),
        part_size: Some(5 * MIB as i64),
        checksum_crc64nvme: crc,
    };
    let upload = app.initiate.files.initiate_upload(&caller(user, "acme", &[]), request).await.unwrap();
    let answer = serde_json::to_value(&upload).unwrap();
    assert_eq!(answer["method"], "MULTIPART");
    assert_eq!(answer["part_size"], 5 * MIB);
    (upload.file_key.to_string(), answer["upload_id"].as_str().unwrap().to_owned())
}

async fn call(app: &TestApp, event: ApiEvent) -> (u16, Value) {
    let response = handle(&app.parts, event.request()).await.unwrap();
    let status = response.status().as_u16();
    (status, if status == 204 { Value::Null } else { json_of(&response) })
}

fn post(user: &str, path: &str, body: Value) -> ApiEvent {
    ApiEvent::new("POST", path, path).bearer(&token(user, "acme", &[])).json(&body)
}

fn list(user: &str, key: &str, upload_id: &str) -> ApiEvent {
    ApiEvent::new("GET", "/files/upload-parts", "/files/upload-parts")
        .bearer(&token(user, "acme", &[]))
        .query(&format!("file_key={key}&upload_id={upload_id}"))
}

/// Sends `method` to a signed URL with its headers (`Content-Length` is the body's own).
async fn send(method: &str, signed: &Value, body: Vec<u8>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().request(method.parse().unwrap(), signed["url"].as_str().unwrap());
    for (name, value) in signed["headers"].as_object().unwrap() {
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, etag, response.text().await.unwrap())
}

/// Signs and sends every part of `body`; answers the entity tags.
async fn send_parts(app: &TestApp, user: &str, key: &str, upload_id: &str, body: &[u8]) -> Vec<String> {
    let (status, signed) =
        call(app, post(user, "/files/upload-parts", json!({"file_key": key, "upload_id": upload_id}))).await;
    assert_eq!(status, 200, "{signed}");
    let mut etags = Vec::new();
    for (part, chunk) in signed["parts"].as_array().unwrap().iter().zip(body.chunks(5 * MIB)) {
        let (status, etag, text) = send("PUT", part, chunk.to_vec()).await;
        assert_eq!(status, 200, "{text}");
        etags.push(etag);
    }
    etags
}

async fn confirm(app: &TestApp, user: &str, key: &str, parts: Option<Vec<PartTag>>) -> Result<Value, u16> {
    let request = ConfirmUploadRequest { file_key: key.to_owned(), parts };
    match app.confirm.files.confirm_upload(&caller(user, "acme", &[]), request).await {
        Ok(view) => Ok(serde_json::to_value(view).unwrap()),
        Err(e) => Err(files_core::ApiError::from(e).code().kind().status()),
    }
}

async fn downloaded(view: &Value) -> Vec<u8> {
    let response = reqwest::get(view["download_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn parts_signed_in_a_batch_go_up_and_confirm_completes_the_file_byte_exact() {
    for backend in backends() {
        let app = app(backend).await;
        let body = bytes(11 * MIB + 123, 7);
        let (key, upload_id) = initiate(&app, "alice", &body, Some(sha(&body))).await;

        let etags = send_parts(&app, "alice", &key, &upload_id, &body).await;
        let (status, listed) = call(&app, list("alice", &key, &upload_id)).await;
        let view = confirm(&app, "alice", &key, None).await.unwrap();

        assert_eq!(etags.len(), 3, "{backend:?}");
        assert_eq!(status, 200);
        let sizes: Vec<u64> = listed["parts"].as_array().unwrap().iter().map(|p| p["size"].as_u64().unwrap()).collect();
        assert_eq!(sizes, [5 * MIB as u64, 5 * MIB as u64, MIB as u64 + 123], "{backend:?}");
        assert_eq!(listed["part_count"], 3);
        assert_eq!(view["status"], "available");
        assert_eq!(view["size"], body.len());
        assert_eq!(view["checksum_sha256"], sha(&body));
        assert_eq!(downloaded(&view).await, body, "{backend:?}");
        // Confirming again answers the same file; the upload is gone from the store.
        assert_eq!(confirm(&app, "alice", &key, None).await.unwrap()["id"], view["id"]);
    }
}

#[tokio::test]
async fn a_missing_part_a_replaced_part_or_a_checksum_mismatch_leaves_the_file_pending_with_422() {
    for backend in backends() {
        let app = app(backend).await;
        let body = bytes(10 * MIB + 1, 3);

        // A part missing.
        let (key, upload_id) = initiate(&app, "alice", &body, None).await;
        let (_, signed) =
            call(&app, post("alice", "/files/upload-parts", json!({"file_key": key, "upload_id": upload_id}))).await;
        let first = &signed["parts"][0];
        assert_eq!(send("PUT", first, body[..5 * MIB].to_vec()).await.0, 200);
        assert_eq!(confirm(&app, "alice", &key, None).await, Err(422), "{backend:?}: missing part");

        // A part replaced with other bytes after the client was answered its tag.
        let etags = send_parts(&app, "alice", &key, &upload_id, &body).await;
        let tags: Vec<PartTag> = etags
            .iter()
            .enumerate()
            .map(|(i, etag)| PartTag { part_number: i as u32 + 1, etag: etag.clone() })
            .collect();
        assert_eq!(send("PUT", &signed["parts"][1], bytes(5 * MIB, 99)).await.0, 200);
        assert_eq!(confirm(&app, "alice", &key, Some(tags)).await, Err(422), "{backend:?}: replaced part");

        // A part of another length than signed is refused by the store.
        let (status, _, _) = send("PUT", first, body[..5 * MIB - 1].to_vec()).await;
        assert!((400..500).contains(&status), "{backend:?}: a short part answered {status}");

        // The whole file differs from the declared checksum.
        let other = bytes(10 * MIB + 1, 4);
        let (key2, upload2) = initiate(&app, "alice", &body, Some(sha(&other))).await;
        send_parts(&app, "alice", &key2, &upload2, &body).await;
        assert_eq!(confirm(&app, "alice", &key2, None).await, Err(422), "{backend:?}: checksum");

        for key in [&key, &key2] {
            let row =
                app.db.client().await.query_one("SELECT status FROM stored_files WHERE file_key = $1", &[key]).await;
            assert_eq!(row.unwrap().get::<_, String>(0), "pending", "{backend:?}");
        }
    }
}

#[tokio::test]
async fn another_callers_key_or_upload_id_is_404_on_every_multipart_route() {
    for backend in backends() {
        let app = app(backend).await;
        let body = bytes(6 * MIB, 1);
        let (key, upload_id) = initiate(&app, "alice", &body, None).await;
        let (bob_key, bob_upload) = initiate(&app, "bob", &body, None).await;

        let events = [
            post("bob", "/files/upload-parts", json!({"file_key": key, "upload_id": upload_id})),
            list("bob", &key, &upload_id),
            post("bob", "/files/abort-upload", json!({"file_key": key, "upload_id": upload_id})),
            post(
                "bob",
                "/files/sign-request",
                json!({"method": "PUT", "key": key, "uploadId": upload_id, "partNumber": 1}),
            ),
            post("bob", "/files/sign-request", json!({"method": "POST", "key": key, "uploadId": upload_id})),
            post("bob", "/files/sign-request", json!({"method": "DELETE", "key": key, "uploadId": upload_id})),
            // Alice's key with Bob's upload id, and Bob's key with Alice's.
            post("alice", "/files/upload-parts", json!({"file_key": key, "upload_id": bob_upload})),
            list("alice", &bob_key, &upload_id),
            post("alice", "/files/sign-request", json!({"method": "GET", "key": key, "uploadId": bob_upload})),
        ];
        for event in events {
            let (status, body) = call(&app, event).await;
            assert_eq!(status, 404, "{backend:?}: {body}");
            assert_eq!(body["code"], "upload_not_found");
        }
        // Nothing changed: Alice's upload goes on.
        send_parts(&app, "alice", &key, &upload_id, &body).await;
        assert_eq!(confirm(&app, "alice", &key, None).await.unwrap()["status"], "available");
    }
}

/// A `sign-request` call as Uppy's `signRequest` hook makes it.
async fn sign(app: &TestApp, request: Value) -> Value {
    let (status, answer) = call(app, post("alice", "/files/sign-request", request)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn xml_field(xml: &str, name: &str) -> String {
    let start = xml.find(&format!("<{name}>")).unwrap_or_else(|| panic!("no {name} in {xml}")) + name.len() + 2;
    xml[start..].split(&format!("</{name}>")).next().unwrap().to_owned()
}

#[tokio::test]
async fn sign_request_drives_a_multipart_upload_as_an_s3_client_does_on_both_backends() {
    for backend in backends() {
        let app = app(backend).await;
        let body = bytes(7 * MIB, 5);
        let start = json!({"method": "POST", "key": "client-proposed.csv", "contentType": "text/csv",
                           "filename": "ledger.csv", "size": body.len()});
        let create = sign(&app, start).await;
        let key = create["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("uploads/"), "{create}");
        let (status, _, created) = send("POST", &create, Vec::new()).await;
        assert_eq!(status, 200, "{backend:?}: {created}");
        let upload_id = xml_field(&created, "UploadId");

        let mut parts = Vec::new();
        for (i, chunk) in body.chunks(5 * MIB).enumerate() {
            let signed =
                sign(&app, json!({"method": "PUT", "key": key, "uploadId": upload_id, "partNumber": i + 1})).await;
            assert!(signed["headers"].get("Content-Length").is_none(), "a browser sets its own length");
            let (status, etag, text) = send("PUT", &signed, chunk.to_vec()).await;
            assert_eq!(status, 200, "{backend:?}: {text}");
            parts.push(format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>", i + 1));
        }
        let listing = sign(&app, json!({"method": "GET", "key": key, "uploadId": upload_id})).await;
        let (status, _, listed) = send("GET", &listing, Vec::new()).await;
        assert_eq!((status, listed.matches("<Part>").count()), (200, 2), "{backend:?}: {listed}");
        let complete = sign(&app, json!({"method": "POST", "key": key, "uploadId": upload_id})).await;
        let xml = format!("<CompleteMultipartUpload>{}</CompleteMultipartUpload>", parts.concat());
        let (status, _, completed) = send("POST", &complete, xml.into_bytes()).await;
        assert_eq!(status, 200, "{backend:?}: {completed}");
        assert_eq!(xml_field(&completed, "Key"), key);

        let view = confirm(&app, "alice", &key, None).await.unwrap();
        assert_eq!(downloaded(&view).await, body, "{backend:?}");
    }
}

#[tokio::test]
async fn aborting_removes_the_pending_file_and_its_parts() {
    for backend in backends() {
        let app = app(backend).await;
        let body = bytes(6 * MIB, 2);
        let (key, upload_id) = initiate(&app, "alice", &body, None).await;
        send_parts(&app, "alice", &key, &upload_id, &body[..5 * MIB]).await;

        let (status, _) =
            call(&app, post("alice", "/files/abort-upload", json!({"file_key": key, "upload_id": upload_id}))).await;
        let (again, _) =
            call(&app, post("alice", "/files/abort-upload", json!({"file_key": key, "upload_id": upload_id}))).await;

        assert_eq!((status, again), (204, 404), "{backend:?}");
        assert_eq!(confirm(&app, "alice", &key, None).await, Err(404));
        let rows = app.db.client().await.query("SELECT 1 FROM stored_files WHERE file_key = $1", &[&key]).await;
        assert!(rows.unwrap().is_empty());
        let store = files_core::storage::build_uploads(&app.settings.storage).await.unwrap().2;
        let (file_key, id) = (
            files_core::keys::FileKey::parse(&key).unwrap(),
            files_core::storage::multipart::UploadId::parse(&upload_id).unwrap(),
        );
        let listed =
            files_core::storage::multipart::CompleteMultipart::list_parts(store.as_ref(), &file_key, &id).await;
        assert!(
            matches!(listed, Err(files_core::storage::StorageError::NotFound)),
            "{backend:?}: the store's upload is gone"
        );
        if backend == Backend::Local {
            let leftovers: Vec<_> =
                app.stored_paths().into_iter().filter(|p| p.to_string_lossy().contains(".parts/")).collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }
}

#[tokio::test]
async fn one_call_signs_up_to_a_thousand_distinct_part_urls_and_no_more() {
    let app = app(Backend::S3).await;
    let size = 1_000 * 5 * MIB + 1;
    let request = InitiateUploadRequest {
        filename: "archive.bin".into(),
        content_type: "application/octet-stream".into(),
        size: size as i64,
        checksum_sha256: None,
        owner: None,
        upload_method: None,
        part_size: Some(5 * MIB as i64),
        checksum_crc64nvme: None,
    };
    let upload = app.initiate.files.initiate_upload(&caller("alice", "acme", &[]), request).await.unwrap();
    let answer = serde_json::to_value(&upload).unwrap();
    let (key, upload_id) = (upload.file_key.to_string(), answer["upload_id"].as_str().unwrap().to_owned());

    let (status, signed) =
        call(&app, post("alice", "/files/upload-parts", json!({"file_key": key, "upload_id": upload_id}))).await;
    let numbers: Vec<u32> = (1..=1_001).collect();
    let (too_many, body) = call(
        &app,
        post("alice", "/files/upload-parts", json!({"file_key": key, "upload_id": upload_id, "part_numbers": numbers})),
    )
    .await;
    let (beyond, _) = call(
        &app,
        post("alice", "/files/upload-parts", json!({"file_key": key, "upload_id": upload_id, "part_numbers": [1_002]})),
    )
    .await;

    assert_eq!(status, 200);
    let urls: std::collections::HashSet<&str> =
        signed["parts"].as_array().unwrap().iter().map(|p| p["url"].as_str().unwrap()).collect();
    assert_eq!(urls.len(), 1_000);
    assert_eq!(signed["part_count"], 1_001);
    assert_eq!((too_many, body["code"].as_str()), (400, Some("invalid_part_number")));
    assert_eq!(beyond, 400);
}

#[tokio::test]
async fn a_declared_full_object_crc64nvme_is_checked_at_completion_on_both_backends() {
    for backend in backends() {
        let app = app(backend).await;
        let body = bytes(10 * MIB + 17, 11);
        let crc = files_core::keys::Crc64::of(&body).to_base64();
        let other = files_core::keys::Crc64::of(b"other bytes").to_base64();

        let (key, upload_id) = initiate_with_crc(&app, "alice", &body, None, Some(crc)).await;
        send_parts(&app, "alice", &key, &upload_id, &body).await;
        let view = confirm(&app, "alice", &key, None).await;
        let (wrong, wrong_id) = initiate_with_crc(&app, "alice", &body, None, Some(other)).await;
        send_parts(&app, "alice", &wrong, &wrong_id, &body).await;

        assert_eq!(view.unwrap()["status"], "available", "{backend:?}");
        assert_eq!(confirm(&app, "alice", &wrong, None).await, Err(422), "{backend:?}");
        let row =
            app.db.client().await.query_one("SELECT status FROM stored_files WHERE file_key = $1", &[&wrong]).await;
        assert_eq!(row.unwrap().get::<_, String>(0), "pending");
    }
}
