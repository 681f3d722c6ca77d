//! local-media: the signed local PUT/GET target, through API Gateway v2 event JSON, on a real
//! temporary directory.

use std::time::Duration;

use files_core::config::StorageSettings;
use files_core::disposition::DispositionKind;
use files_core::keys::{Checksum, ContentType, FileKey, OriginalFilename};
use files_core::storage::local::url::{Grant, UrlSigner};
use files_core::storage::local::LocalFileStorage;
use files_core::storage::{DownloadRequest, SignUrls, UploadGrantRequest};
use files_core::Settings;
use files_testkit::{json_of, sha256_base64, ApiEvent, SIGNING_SECRET};
use local_media::{handle, MediaState};

struct Media {
    dir: tempfile::TempDir,
    state: MediaState,
    storage: LocalFileStorage,
}

impl Media {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("media");
        std::fs::create_dir_all(&root).unwrap();
        let settings = Settings::from_map(&files_testkit::test_env(&root, "postgres://unused@127.0.0.1:1/x")).unwrap();
        let state = MediaState::new(&settings);
        let StorageSettings::Local(local) = &settings.storage else { panic!("the local backend") };
        let storage = LocalFileStorage::from_settings(local);
        Self { dir, state, storage }
    }

    async fn upload_url(&self, key: &str, content_type: &str, body: &[u8], checksum: bool) -> String {
        let request = UploadGrantRequest {
            method: files_core::storage::UploadMethod::Put,
            content_type: ContentType::parse(content_type).unwrap(),
            size: body.len() as u64,
            checksum_sha256: checksum.then(|| Checksum::parse_base64(&sha256_base64(body)).unwrap()),
            expires_in: Duration::from_secs(60),
        };
        self.storage.get_presigned_upload_url(&FileKey::parse(key).unwrap(), &request).await.unwrap().url
    }

    async fn download_url(&self, key: &str, filename: &str) -> String {
        let (filename, content_type) =
            (OriginalFilename::parse(filename).unwrap(), ContentType::parse("text/plain").unwrap());
        let request = DownloadRequest {
            filename: &filename,
            disposition: DispositionKind::Attachment,
            content_type: &content_type,
            expires_in: Duration::from_secs(60),
            version: None,
        };
        self.storage.get_download_url(&FileKey::parse(key).unwrap(), &request).await.unwrap().url
    }

    /// Every regular file anywhere under the temporary directory (inside the root or not).
    fn files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out)
                } else {
                    out.push(path)
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }

    async fn send(&self, event: ApiEvent) -> lambda_http::Response<lambda_http::Body> {
        handle(&self.state, event.request()).await.unwrap()
    }
}

fn event(method: &str, url: &str) -> ApiEvent {
    let rest = url.strip_prefix("http://127.0.0.1:9000").expect("URL on the public base");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    ApiEvent::new(method, "/media/{key+}", path).path_param("key", path.trim_start_matches("/media/")).query(query)
}

fn put(url: &str, content_type: &str, body: &[u8]) -> ApiEvent {
    event("PUT", url).binary(content_type, body)
}

#[tokio::test]
async fn a_signed_put_stores_the_bytes_and_a_signed_get_serves_them_with_name_and_type() {
    let media = Media::new();
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", true).await;

    let stored = media.send(put(&url, "text/plain", b"hello")).await;
    let fetched = media.send(event("GET", &media.download_url("uploads/a.txt", "Grüße.txt").await)).await;

    assert_eq!(stored.status(), 200);
    assert_eq!(stored.headers()["x-amz-checksum-sha256"], sha256_base64(b"hello").as_str());
    assert_eq!(fetched.status(), 200);
    let body: &[u8] = fetched.body().as_ref();
    assert_eq!(body, b"hello");
    assert_eq!(fetched.headers()["content-type"], "text/plain");
    assert_eq!(
        fetched.headers()["content-disposition"],
        "attachment; filename=\"Gr__e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt"
    );
    assert_eq!(fetched.headers()["content-security-policy"], "sandbox");
    assert_eq!(fetched.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn tampered_foreign_or_misused_urls_are_403_and_store_nothing() {
    let media = Media::new();
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", false).await;
    let tampered_signature = {
        let (head, sig) = url.rsplit_once("signature=").unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        format!("{head}signature={flipped}{}", &sig[1..])
    };
    let cases = [
        put(&tampered_signature, "text/plain", b"hello"),
        put(&url.replace("size=5", "size=6"), "text/plain", b"hello!"),
        put(&url.replace("uploads/a.txt", "uploads/b.txt"), "text/plain", b"hello"),
        put(&url.replace("&signature=", "&x=1&signaturex="), "text/plain", b"hello"),
        event("GET", &url),
        put(&url, "text/html", b"hello"),
    ];

    for case in cases {
        let response = media.send(case).await;
        assert_eq!(response.status(), 403, "{}", json_of(&response));
    }
    assert!(media.files().is_empty(), "{:?}", media.files());
}

#[tokio::test]
async fn an_expired_url_is_403_even_with_a_valid_signature() {
    let media = Media::new();
    let grant = Grant::Put {
        key: FileKey::parse("uploads/a.txt").unwrap(),
        expires: chrono::Utc::now().timestamp() - 10,
        size: 5,
        content_type: "text/plain".into(),
        checksum_sha256: None,
    };
    let signature = UrlSigner::new(SIGNING_SECRET.as_bytes()).sign(&grant);
    let url = format!(
        "http://127.0.0.1:9000/media/uploads/a.txt?expires={}&size=5&content_type=text%2Fplain&signature={signature}",
        grant.expires()
    );

    let response = media.send(put(&url, "text/plain", b"hello")).await;

    assert_eq!(response.status(), 403);
    assert_eq!(json_of(&response)["code"], "url_expired");
    assert!(media.files().is_empty());
}

#[tokio::test]
async fn a_body_that_differs_from_the_signed_one_is_refused_and_leaves_no_file() {
    let media = Media::new();
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", true).await;

    let longer = media.send(put(&url, "text/plain", b"hello, world")).await;
    let shorter = media.send(put(&url, "text/plain", b"hell")).await;
    let other_bytes = media.send(put(&url, "text/plain", b"HELLO")).await;
    let other_checksum_header =
        media.send(put(&url, "text/plain", b"hello").header("x-amz-checksum-sha256", &sha256_base64(b"x"))).await;

    assert_eq!(longer.status(), 413);
    assert_eq!(shorter.status(), 400);
    assert_eq!(json_of(&shorter)["code"], "size_mismatch");
    assert_eq!(other_bytes.status(), 400);
    assert_eq!(json_of(&other_bytes)["code"], "checksum_mismatch");
    assert_eq!(other_checksum_header.status(), 403);
    assert!(media.files().is_empty(), "{:?}", media.files());
}

#[tokio::test]
async fn an_existing_object_is_never_overwritten() {
    let media = Media::new();
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", false).await;
    assert_eq!(media.send(put(&url, "text/plain", b"hello")).await.status(), 200);
    let second_url = media.upload_url("uploads/a.txt", "text/plain", b"HELLO", false).await;

    let again = media.send(put(&url, "text/plain", b"hello")).await;
    let other = media.send(put(&second_url, "text/plain", b"HELLO")).await;

    assert_eq!(again.status(), 409);
    assert_eq!(other.status(), 409);
    assert_eq!(json_of(&other)["code"], "object_exists");
    assert_eq!(std::fs::read(media.dir.path().join("media/uploads/a.txt")).unwrap(), b"hello");
}

#[tokio::test]
async fn no_key_escapes_the_media_root() {
    let media = Media::new();
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", false).await;
    let (_, query) = url.split_once('?').unwrap();

    for path in [
        "/media/../escape.txt",
        "/media/uploads/../../escape.txt",
        "/media/.meta/x.json",
        "/media/uploads/%2e%2e/x",
        "/media/",
    ] {
        let event = ApiEvent::new("PUT", "/media/{key+}", path).query(query).binary("text/plain", b"hello");
        let response = media.send(event).await;
        assert!([400, 404].contains(&response.status().as_u16()), "{path}: {}", response.status());
    }
    assert!(media.files().is_empty(), "{:?}", media.files());
}

#[tokio::test]
async fn a_valid_get_for_a_missing_object_is_404_and_other_methods_are_405() {
    let media = Media::new();
    let url = media.download_url("uploads/missing.txt", "m.txt").await;

    let missing = media.send(event("GET", &url)).await;
    let delete = media.send(event("DELETE", &url)).await;

    assert_eq!(missing.status(), 404);
    assert_eq!(delete.status(), 405);
}

#[tokio::test]
async fn keys_with_spaces_and_non_ascii_round_trip_through_their_urls() {
    let media = Media::new();
    let key = "imports/Rapport été+2025 (1).txt";
    let url = media.upload_url(key, "text/plain", b"hello", false).await;
    assert!(url.contains("/media/imports/Rapport%20%C3%A9t%C3%A9%2B2025%20%281%29.txt?"), "{url}");

    let stored = media.send(put(&url, "text/plain", b"hello")).await;
    let fetched = media.send(event("GET", &media.download_url(key, "r.txt").await)).await;

    assert_eq!(stored.status(), 200, "{}", json_of(&stored));
    assert_eq!(fetched.status(), 200);
    assert_eq!(std::fs::read(media.dir.path().join("media").join(key)).unwrap(), b"hello");
}

#[tokio::test]
async fn on_the_s3_backend_every_media_request_is_404_at_once() {
    let mut env = files_testkit::test_env(std::path::Path::new("/nonexistent"), "postgres://unused@127.0.0.1:1/x");
    env.extend(files_testkit::s3_env("any-bucket"));
    let state = MediaState::new(&Settings::from_map(&env).unwrap());

    for method in ["GET", "PUT", "HEAD"] {
        let request = event(method, "http://127.0.0.1:9000/media/uploads/a.txt?expires=1&signature=x").request();
        let response = tokio::time::timeout(Duration::from_secs(2), handle(&state, request)).await.unwrap().unwrap();
        assert_eq!(response.status(), 404, "{method}");
        assert_eq!(json_of(&response)["code"], "object_not_found");
    }
}

#[tokio::test]
async fn a_replayed_upload_url_after_confirm_or_delete_stores_nothing() {
    let app = files_testkit::TestApp::new().await;
    let media = MediaState::new(&app.settings);
    let alice = files_testkit::caller("alice", "acme", &[]);
    let upload = app.initiate(&alice, "ledger.csv", "text/csv", b"a;b\n1;2\n", true).await;
    let send = |event: ApiEvent| {
        let media = &media;
        async move { handle(media, event.request()).await.unwrap() }
    };
    assert_eq!(send(put(&upload.url, "text/csv", b"a;b\n1;2\n")).await.status(), 200);
    let confirm = files_core::services::ConfirmUploadRequest { file_key: upload.file_key.to_string() };
    let view = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();
    let download = view.download_url.clone().unwrap();

    // After confirm: the same URL again, with the same bytes or others of the same length.
    for body in [&b"a;b\n1;2\n"[..], b"x;y\n9;9\n"] {
        let replay = send(put(&upload.url, "text/csv", body)).await;
        assert_eq!(replay.status(), 409, "{}", json_of(&replay));
    }
    let served = send(event("GET", &download)).await;
    assert_eq!(served.body().as_ref(), b"a;b\n1;2\n");

    // After delete: the key is gone for good; the URL stores nothing and nothing is served.
    app.delete.files.delete_file(&alice, view.id).await.unwrap();
    let replay = send(put(&upload.url, "text/csv", b"x;y\n9;9\n")).await;
    assert_eq!(replay.status(), 409, "{}", json_of(&replay));
    assert!(app.stored_paths().is_empty(), "{:?}", app.stored_paths());
    assert_eq!(send(event("GET", &download)).await.status(), 404);
}
