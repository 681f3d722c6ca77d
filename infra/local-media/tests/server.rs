//! local-media: the signed local PUT/GET target, over real HTTP to the server on loopback,
//! on a real temporary directory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use files_core::config::StorageSettings;
use files_core::disposition::DispositionKind;
use files_core::keys::{Checksum, ContentType, FileKey, OriginalFilename};
use files_core::storage::local::url::{Grant, UrlSigner};
use files_core::storage::local::LocalFileStorage;
use files_core::storage::{DownloadRequest, SignDownloads as _, SignUrls, UploadGrantRequest};
use files_core::Settings;
use files_testkit::{sha256_base64, SIGNING_SECRET};
use local_media::{App, Origins};
use proptest::prelude::*;
use reqwest::header::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The base the service signs URLs for (`PUBLIC_BASE_URL` in the test settings).
const SIGNED_BASE: &str = "http://127.0.0.1:9000";

/// A server on a free loopback port for `settings`, running until the test ends.
async fn start(settings: &Settings) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App::new(settings, None, Origins::parse("https://erp.example")));
    tokio::spawn(local_media::serve(listener, app));
    addr
}

/// A response, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

struct Client {
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, http: reqwest::Client::new() }
    }

    /// `url` as signed, sent to this server instead.
    fn here(&self, url: &str) -> String {
        let rest = url.strip_prefix(SIGNED_BASE).expect("URL on the public base");
        format!("http://{}{rest}", self.addr)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        Answer { status, headers, body }
    }

    async fn put(&self, url: &str, content_type: &str, body: &[u8]) -> Answer {
        self.send(self.http.put(self.here(url)).header("content-type", content_type).body(body.to_vec())).await
    }

    async fn get(&self, url: &str) -> Answer {
        self.send(self.http.get(self.here(url))).await
    }

    async fn method(&self, method: &str, url: &str) -> Answer {
        self.send(self.http.request(method.parse().unwrap(), self.here(url))).await
    }

    /// Raw bytes on a fresh connection, for requests a client library would normalise; the
    /// answer's status (0 when the server closed without one).
    async fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let _ = stream.shutdown().await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }
}

struct Media {
    dir: tempfile::TempDir,
    storage: LocalFileStorage,
    client: Client,
}

impl Media {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("media");
        std::fs::create_dir_all(&root).unwrap();
        let settings = Settings::from_map(&files_testkit::test_env(&root, "postgres://unused@127.0.0.1:1/x")).unwrap();
        let StorageSettings::Local(local) = &settings.storage else { panic!("the local backend") };
        let storage = LocalFileStorage::from_settings(local);
        let client = Client::new(start(&settings).await);
        Self { dir, storage, client }
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
        self.download_url_as(key, filename, "text/plain").await
    }

    async fn download_url_as(&self, key: &str, filename: &str, content_type: &str) -> String {
        let (filename, content_type) =
            (OriginalFilename::parse(filename).unwrap(), ContentType::parse(content_type).unwrap());
        let request = DownloadRequest {
            filename: &filename,
            disposition: DispositionKind::Attachment,
            content_type: &content_type,
            expires_in: Duration::from_secs(60),
            version: None,
        };
        self.storage.get_download_url(&FileKey::parse(key).unwrap(), &request).await.unwrap().url
    }

    /// Stores `body` under `key` through a signed PUT; its answer must be 200.
    async fn stored(&self, key: &str, content_type: &str, body: &[u8]) {
        let url = self.upload_url(key, content_type, body, true).await;
        let answer = self.client.put(&url, content_type, body).await;
        assert_eq!(answer.status, 200, "{}", answer.json());
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
}

#[tokio::test]
async fn a_signed_put_stores_the_bytes_and_a_signed_get_serves_them_with_name_and_type() {
    let media = Media::new().await;
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", true).await;

    let stored = media.client.put(&url, "text/plain", b"hello").await;
    let fetched = media.client.get(&media.download_url("uploads/a.txt", "Grüße.txt").await).await;

    assert_eq!(stored.status, 200, "{}", stored.json());
    assert_eq!(stored.header("x-amz-checksum-sha256"), sha256_base64(b"hello"));
    let etag = format!("\"{}\"", Checksum::of(b"hello").to_hex());
    assert_eq!(stored.header("etag"), etag);
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, b"hello");
    assert_eq!(fetched.header("content-type"), "text/plain");
    assert_eq!(fetched.header("content-length"), "5");
    assert_eq!(fetched.header("etag"), etag);
    assert_eq!(fetched.header("accept-ranges"), "bytes");
    assert_eq!(
        fetched.header("content-disposition"),
        "attachment; filename=\"Gr__e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt"
    );
    assert_eq!(fetched.header("content-security-policy"), "sandbox");
    assert_eq!(fetched.header("x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn tampered_foreign_or_misused_urls_are_403_and_store_nothing() {
    let media = Media::new().await;
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", false).await;
    let tampered_signature = {
        let (head, sig) = url.rsplit_once("signature=").unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        format!("{head}signature={flipped}{}", &sig[1..])
    };
    let client = &media.client;
    let answers = [
        client.put(&tampered_signature, "text/plain", b"hello").await,
        client.put(&url.replace("size=5", "size=6"), "text/plain", b"hello!").await,
        client.put(&url.replace("uploads/a.txt", "uploads/b.txt"), "text/plain", b"hello").await,
        client.put(&url.replace("&signature=", "&x=1&signaturex="), "text/plain", b"hello").await,
        client.get(&url).await,
        client.put(&url, "text/html", b"hello").await,
    ];

    for answer in answers {
        assert_eq!(answer.status, 403, "{}", answer.json());
        assert_eq!(answer.header("content-type"), "application/problem+json");
    }
    assert!(media.files().is_empty(), "{:?}", media.files());
}

#[tokio::test]
async fn an_expired_url_is_403_even_with_a_valid_signature() {
    let media = Media::new().await;
    let grant = Grant::Put {
        key: FileKey::parse("uploads/a.txt").unwrap(),
        expires: chrono::Utc::now().timestamp() - 10,
        size: 5,
        content_type: "text/plain".into(),
        checksum_sha256: None,
    };
    let signature = UrlSigner::new(SIGNING_SECRET.as_bytes()).sign(&grant);
    let url = format!(
        "{SIGNED_BASE}/media/uploads/a.txt?expires={}&size=5&content_type=text%2Fplain&signature={signature}",
        grant.expires()
    );

    let answer = media.client.put(&url, "text/plain", b"hello").await;

    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["code"], "url_expired");
    assert!(media.files().is_empty());
}

#[tokio::test]
async fn a_body_that_differs_from_the_signed_one_is_refused_and_leaves_no_file() {
    let media = Media::new().await;
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", true).await;
    let client = &media.client;

    let longer = client.put(&url, "text/plain", b"hello, world").await;
    let shorter = client.put(&url, "text/plain", b"hell").await;
    let other_bytes = client.put(&url, "text/plain", b"HELLO").await;
    let other_checksum_header = client
        .send(
            client
                .http
                .put(client.here(&url))
                .header("content-type", "text/plain")
                .header("x-amz-checksum-sha256", sha256_base64(b"x"))
                .body("hello"),
        )
        .await;
    // A body that streams past the signed size without a length: refused as it passes it.
    let chunks =
        futures_util::stream::iter(["hel", "lo", "!!"].map(|c| Ok::<_, std::io::Error>(c.as_bytes().to_vec())));
    let streamed_longer = client
        .send(
            client
                .http
                .put(client.here(&url))
                .header("content-type", "text/plain")
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;

    assert_eq!(longer.status, 413);
    assert_eq!(longer.json()["code"], "payload_too_large");
    assert_eq!(shorter.status, 400);
    assert_eq!(shorter.json()["code"], "size_mismatch");
    assert_eq!(other_bytes.status, 400);
    assert_eq!(other_bytes.json()["code"], "checksum_mismatch");
    assert_eq!(other_checksum_header.status, 403);
    assert_eq!(streamed_longer.status, 413, "{}", streamed_longer.json());
    assert!(media.files().is_empty(), "{:?}", media.files());
}

#[tokio::test]
async fn a_client_that_breaks_off_mid_body_leaves_no_file() {
    let media = Media::new().await;
    let body = vec![b'x'; 1000];
    let url = media.upload_url("uploads/cut.bin", "application/octet-stream", &body, false).await;
    let target = media.client.here(&url);
    let path = target.split_once(&media.client.addr.to_string()).unwrap().1;

    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n{}",
        "x".repeat(10)
    );
    let _ = media.client.raw(request.as_bytes()).await;

    // The server notices the broken body and cleans up; give it a moment.
    for _ in 0..50 {
        if media.files().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(media.files().is_empty(), "{:?}", media.files());
    assert_eq!(media.client.get(&media.download_url("uploads/cut.bin", "c.bin").await).await.status, 404);
}

#[tokio::test]
async fn an_existing_object_is_never_overwritten() {
    let media = Media::new().await;
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", false).await;
    assert_eq!(media.client.put(&url, "text/plain", b"hello").await.status, 200);
    let second_url = media.upload_url("uploads/a.txt", "text/plain", b"HELLO", false).await;

    let again = media.client.put(&url, "text/plain", b"hello").await;
    let other = media.client.put(&second_url, "text/plain", b"HELLO").await;

    assert_eq!(again.status, 409);
    assert_eq!(other.status, 409);
    assert_eq!(other.json()["code"], "object_exists");
    assert_eq!(std::fs::read(media.dir.path().join("media/uploads/a.txt")).unwrap(), b"hello");
}

#[tokio::test]
async fn no_key_escapes_the_media_root() {
    let media = Media::new().await;
    let url = media.upload_url("uploads/a.txt", "text/plain", b"hello", false).await;
    let (_, query) = url.split_once('?').unwrap();

    // Sent as raw bytes: an HTTP client would resolve the dot segments itself.
    for path in [
        "/media/../escape.txt",
        "/media/uploads/../../escape.txt",
        "/media/.meta/x.json",
        "/media/uploads/%2e%2e/x",
        "/media/uploads/%2E%2E/%2E%2E/x",
        "/media/uploads%2F..%2F..%2Fx",
        "/media/",
        "/media",
    ] {
        let request = format!(
            "PUT {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
        let (status, text) = media.client.raw(request.as_bytes()).await;
        assert!([400, 403, 404].contains(&status), "{path}: {text}");
    }
    assert!(media.files().is_empty(), "{:?}", media.files());
}

#[tokio::test]
async fn a_valid_get_for_a_missing_object_is_404_and_other_methods_are_405() {
    let media = Media::new().await;
    let url = media.download_url("uploads/missing.txt", "m.txt").await;

    let missing = media.client.get(&url).await;
    let delete = media.client.method("DELETE", &url).await;
    let post = media.client.method("POST", &url).await;

    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "object_not_found");
    assert_eq!(delete.status, 405);
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn keys_with_spaces_and_non_ascii_round_trip_through_their_urls() {
    let media = Media::new().await;
    let key = "imports/Rapport été+2025 (1).txt";
    let url = media.upload_url(key, "text/plain", b"hello", false).await;
    assert!(url.contains("/media/imports/Rapport%20%C3%A9t%C3%A9%2B2025%20%281%29.txt?"), "{url}");

    let stored = media.client.put(&url, "text/plain", b"hello").await;
    let fetched = media.client.get(&media.download_url(key, "r.txt").await).await;

    assert_eq!(stored.status, 200, "{}", stored.json());
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, b"hello");
    assert_eq!(std::fs::read(media.dir.path().join("media").join(key)).unwrap(), b"hello");
}

#[tokio::test]
async fn a_file_larger_than_a_lambda_payload_streams_both_ways_byte_exact() {
    let media = Media::new().await;
    // 24 MiB of bytes that are not UTF-8 anywhere near the start, sent as text.
    let body: Vec<u8> = (0..24u32 * 1024 * 1024).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80).collect();
    media.stored("uploads/big.csv", "text/csv", &body).await;
    let url = media.download_url_as("uploads/big.csv", "big.csv", "text/csv").await;

    let fetched = media.client.get(&url).await;
    let head = media.client.method("HEAD", &url).await;

    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body.len(), body.len());
    assert!(fetched.body == body, "the bytes served differ from those stored");
    assert_eq!(std::fs::read(media.dir.path().join("media/uploads/big.csv")).unwrap(), body);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), body.len().to_string());
    assert_eq!(head.header("content-type"), "text/csv");
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn one_range_is_a_206_with_its_bytes_and_a_range_outside_is_416() {
    let media = Media::new().await;
    let body: Vec<u8> = (0..=255u8).collect();
    media.stored("uploads/r.bin", "application/octet-stream", &body).await;
    let url = media.client.here(&media.download_url("uploads/r.bin", "r.bin").await);
    let ranged = |range: &'static str| {
        let request = media.client.http.get(&url).header("range", range);
        media.client.send(request)
    };

    let first = ranged("bytes=0-9").await;
    let tail = ranged("bytes=-6").await;
    let open = ranged("bytes=250-").await;
    let past_end = ranged("bytes=200-999").await;
    let outside = ranged("bytes=256-").await;
    let several = ranged("bytes=0-1,5-6").await;
    let nonsense = ranged("lines=1-2").await;
    let head = media.client.send(media.client.http.head(&url).header("range", "bytes=10-19")).await;

    assert_eq!((first.status, first.header("content-range")), (206, "bytes 0-9/256"));
    assert_eq!(first.body, &body[..10]);
    assert_eq!(first.header("content-length"), "10");
    assert_eq!((tail.status, tail.header("content-range")), (206, "bytes 250-255/256"));
    assert_eq!(tail.body, &body[250..]);
    assert_eq!(open.body, &body[250..]);
    assert_eq!((past_end.status, past_end.header("content-range")), (206, "bytes 200-255/256"));
    assert_eq!(past_end.body, &body[200..]);
    assert_eq!((outside.status, outside.header("content-range")), (416, "bytes */256"));
    assert!(outside.body.is_empty());
    assert_eq!((several.status, several.body.len()), (200, 256));
    assert_eq!((nonsense.status, nonsense.body.len()), (200, 256));
    assert_eq!((head.status, head.header("content-range"), head.body.len()), (206, "bytes 10-19/256", 0));
}

#[tokio::test]
async fn a_browser_on_an_allowed_origin_may_put_and_read_the_headers_it_needs() {
    let media = Media::new().await;
    let url = media.client.here(&media.upload_url("uploads/c.txt", "text/plain", b"hello", true).await);
    let preflight = |origin: &'static str| {
        let request = media
            .client
            .http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type,x-amz-checksum-sha256");
        media.client.send(request)
    };

    let allowed = preflight("https://erp.example").await;
    let other = preflight("https://evil.example").await;
    media.stored("uploads/d.txt", "text/plain", b"hello").await;
    let download = media.client.here(&media.download_url("uploads/d.txt", "d.txt").await);
    let fetched = media.client.send(media.client.http.get(&download).header("origin", "https://erp.example")).await;

    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("access-control-allow-origin"), "https://erp.example");
    assert!(allowed.header("access-control-allow-methods").contains("PUT"), "{:?}", allowed.headers);
    assert_eq!(allowed.header("access-control-allow-headers"), "content-type,x-amz-checksum-sha256");
    assert!(allowed.headers.get("access-control-allow-credentials").is_none());
    assert!(other.headers.get("access-control-allow-origin").is_none(), "{:?}", other.headers);
    assert_eq!(fetched.header("access-control-allow-origin"), "https://erp.example");
    let exposed = fetched.header("access-control-expose-headers");
    for name in ["etag", "content-disposition", "content-range", "x-amz-checksum-sha256", "retry-after", "location"] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[test]
fn origins_with_a_port_wildcard_allow_every_port_of_their_host_and_nothing_else() {
    let local = Origins::parse(local_media::LOCAL_ORIGINS);
    for allowed in ["http://localhost:5173", "http://127.0.0.1:9000", "http://[::1]:3000", "HTTP://LOCALHOST:8080"] {
        assert!(local.allows(allowed), "{allowed}");
    }
    for refused in [
        "http://localhost",
        "http://localhost:",
        "http://localhost:80a",
        "http://localhost.evil.example:5173",
        "http://localhost:5173.evil.example",
        "https://localhost:5173",
        "http://127.0.0.2:9000",
        "https://erp.example",
        "null",
    ] {
        assert!(!local.allows(refused), "{refused}");
    }
    let exact = Origins::parse("https://erp.example, https://admin.erp.example/");
    assert!(exact.allows("https://erp.example") && exact.allows("https://admin.erp.example"));
    assert!(!exact.allows("https://erp.example:8443") && !exact.allows("http://erp.example"));
    assert!(Origins::parse("*").allows("https://anything.example"));
}

#[tokio::test]
async fn on_the_s3_backend_every_media_request_is_404_at_once() {
    let mut env = files_testkit::test_env(std::path::Path::new("/nonexistent"), "postgres://unused@127.0.0.1:1/x");
    env.extend(files_testkit::s3_env("any-bucket"));
    let client = Client::new(start(&Settings::from_map(&env).unwrap()).await);

    for method in ["GET", "PUT", "HEAD"] {
        let url = format!("{SIGNED_BASE}/media/uploads/a.txt?expires=1&signature=x");
        let answer = tokio::time::timeout(Duration::from_secs(2), client.method(method, &url)).await.unwrap();
        assert_eq!(answer.status, 404, "{method}");
        if method != "HEAD" {
            assert_eq!(answer.json()["code"], "object_not_found");
        }
    }
}

#[tokio::test]
async fn without_the_functions_behind_it_other_paths_are_404() {
    let media = Media::new().await;
    let answer = media.client.get(&format!("{SIGNED_BASE}/files/search?q=x")).await;
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn a_replayed_upload_url_after_confirm_or_delete_stores_nothing() {
    let app = files_testkit::TestApp::new().await;
    let client = Client::new(start(&app.settings).await);
    let alice = files_testkit::caller("alice", "acme", &[]);
    let upload = app.initiate(&alice, "ledger.csv", "text/csv", b"a;b\n1;2\n", true).await;
    assert_eq!(client.put(&upload.url, "text/csv", b"a;b\n1;2\n").await.status, 200);
    let confirm = files_core::services::ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let view = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();
    let download = view.download_url.clone().unwrap();

    // After confirm: the same URL again, with the same bytes or others of the same length.
    for body in [&b"a;b\n1;2\n"[..], b"x;y\n9;9\n"] {
        let replay = client.put(&upload.url, "text/csv", body).await;
        assert_eq!(replay.status, 409, "{}", replay.json());
    }
    assert_eq!(client.get(&download).await.body, b"a;b\n1;2\n");

    // After delete: the key is gone for good; the URL stores nothing and nothing is served.
    app.delete.files.delete_file(&alice, view.id).await.unwrap();
    let replay = client.put(&upload.url, "text/csv", b"x;y\n9;9\n").await;
    assert_eq!(replay.status, 409, "{}", replay.json());
    assert!(app.stored_paths().is_empty(), "{:?}", app.stored_paths());
    assert_eq!(client.get(&download).await.status, 404);
}

/// Content types a client may declare, text ones (which the local router once turned into
/// strings) among them.
fn content_type() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "text/csv",
        "text/plain",
        "text/plain; charset=windows-1252",
        "text/html",
        "application/json",
        "application/xml",
        "image/svg+xml",
        "application/octet-stream",
        "image/png",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any bytes, declared as any type, are stored and served back exactly, and a range of
    /// them is exactly that slice.
    #[test]
    fn any_bytes_of_any_type_round_trip_exactly(
        body in prop::collection::vec(any::<u8>(), 0..4096),
        content_type in content_type(),
        cut in any::<prop::sample::Index>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let media = Media::new().await;
            media.stored("uploads/p.bin", content_type, &body).await;
            let url = media.download_url_as("uploads/p.bin", "p.bin", content_type).await;
            let fetched = media.client.get(&url).await;
            assert_eq!(fetched.status, 200);
            assert!(fetched.body == body);
            assert_eq!(std::fs::read(media.dir.path().join("media/uploads/p.bin")).unwrap(), body);
            if !body.is_empty() {
                let start = cut.index(body.len());
                let request = media.client.http.get(media.client.here(&url)).header("range", format!("bytes={start}-"));
                let part = media.client.send(request).await;
                assert_eq!(part.status, 206);
                assert!(part.body == body[start..]);
            }
        });
    }
}

proptest! {
    /// Whatever a page sends as its origin, the local default allows it exactly when it is
    /// `http://` + a loopback name + `:` + a port of digits.
    #[test]
    fn the_local_default_allows_exactly_loopback_origins_with_a_port(
        host in prop_oneof![
            Just("localhost".to_owned()),
            Just("127.0.0.1".to_owned()),
            Just("[::1]".to_owned()),
            Just("localhost.evil".to_owned()),
            "[a-z0-9.:\\[\\]-]{0,12}",
        ],
        scheme in prop_oneof![Just("http".to_owned()), Just("https".to_owned()), "[a-z]{0,5}"],
        port in prop_oneof!["[0-9]{1,5}", ".{0,6}"],
    ) {
        let origin = format!("{scheme}://{host}:{port}");
        let loopback = ["localhost", "127.0.0.1", "[::1]"].contains(&host.as_str());
        let expected = scheme == "http" && loopback && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(Origins::parse(local_media::LOCAL_ORIGINS).allows(&origin), expected, "{}", origin);
    }
}
