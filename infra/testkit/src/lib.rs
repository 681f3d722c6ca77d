//! Test helpers shared by the core crate's and the functions' tests: a fresh migrated
//! PostgreSQL database per test, settings and an [`AppState`] over it with a temporary media
//! root, development tokens, API Gateway v2 event JSON for handlers, and a TCP proxy that can
//! cut a dependency off and bring it back.
//!
//! The database server comes from `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! when it cannot be reached the test fails, it is never skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use files_core::auth::issue_local_token;
use files_core::db::{FileRepository, PgFileRepository};
use files_core::indexing::Indexer;
use files_core::services::{ConfirmUpload, DeleteFile, InitiateUpload, ProxiedUpload, ReadFile, SearchFiles};
use files_core::state::FromSettings as _;
use files_core::storage::s3::{S3ObjectStore, S3UrlSigner};
use files_core::storage::ObjectStore;
use files_core::{AppState, Settings};
use lambda_http::Request;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::NoTls;

/// The development JWT secret of test states.
pub const JWT_SECRET: &str = "testkit-local-jwt-secret-testkit-local-jwt";
/// The local signing secret of test states.
pub const SIGNING_SECRET: &str = "testkit-local-signing-secret-testkit-local";

fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_dbname(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{name}")
}

/// A pool of `pool_size` connections to `url` (plain, no TLS) that waits `seconds` for one.
///
/// # Panics
/// When the settings are refused.
pub async fn pool(url: &str, pool_size: usize, seconds: u64) -> Arc<files_core::db::DbPool> {
    let settings = files_core::config::DatabaseSettings {
        source: files_core::config::DatabaseSource::Url(files_core::config::Secret::new(url)),
        tls: Default::default(),
        pool_size,
        timeout: std::time::Duration::from_secs(seconds),
    };
    files_core::db::DbPool::new(&settings, None).await.expect("the pool builds")
}

/// A fresh database with the migrations applied, dropped when the value is dropped.
pub struct TestDb {
    /// Its connection URL.
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates and migrates a database named `t_<uuid>`.
    ///
    /// # Panics
    /// When the server is unreachable: a test that needs PostgreSQL fails without it.
    pub async fn new() -> Self {
        Self::migrated_to(None).await
    }

    /// Creates a database migrated up to migration `version` only (an older schema).
    ///
    /// # Panics
    /// As [`TestDb::new`].
    pub async fn at_version(version: i32) -> Self {
        Self::migrated_to(Some(version)).await
    }

    async fn migrated_to(version: Option<i32>) -> Self {
        let admin_url = server_url();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let (client, conn) = tokio_postgres::connect(&admin_url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required at TEST_DATABASE_URL ({admin_url}): {e}"));
        let driver = tokio::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        drop(client);
        let _ = driver.await;
        let url = with_dbname(&admin_url, &name);
        match version {
            None => files_core::db::run_migrations(&url, &Default::default()).await,
            Some(version) => files_core::db::run_migrations_to(&url, &Default::default(), version).await,
        }
        .expect("migrations apply to a fresh database");
        Self { url, name, admin_url }
    }

    /// A direct connection, for asserting on rows.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await.expect("connect to the test database");
        tokio::spawn(conn);
        client
    }

    /// The number of rows in `stored_files`.
    pub async fn count_files(&self) -> i64 {
        self.client().await.query_one("SELECT count(*) FROM stored_files", &[]).await.expect("count").get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; the clean-up gets its own thread and runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&admin_url, NoTls).await.ok()?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
            })
        })
        .join();
    }
}

/// The PDF text extractor tests run as the functions' child (`files-extract`, built with the
/// workspace): a test binary is not an extractor itself. Found beside the test binary
/// (`target/<profile>/deps/<test>` → `target/<profile>/files-extract`).
///
/// # Panics
/// When it has not been built (`cargo build -p files-core --bin files-extract`).
pub fn extractor() -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(std::path::Path::parent).expect("target/<profile>");
    let program = profile_dir.join("files-extract");
    assert!(
        program.is_file(),
        "{} is missing: build it with `cargo build -p files-core --bin files-extract`",
        program.display()
    );
    program.to_str().expect("utf-8 target path").to_owned()
}

/// Runs `program` as the PDF text extractor the functions start (`--extract-pdf-text`) on a real
/// PDF, and asserts that it answers with the document's text: each function that indexes text
/// must serve it, since in Lambda it is its own extractor.
///
/// # Panics
/// When it does not.
pub fn assert_serves_pdf_extraction(program: &str) {
    use std::io::Write as _;
    let pdf = include_bytes!("../../../shared/tests/fixtures/quokka.pdf");
    let mut child = std::process::Command::new(program)
        .args([files_core::search::extract::EXTRACTOR_ARG, "1000", "268435456"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the function's executable");
    child.stdin.take().expect("stdin").write_all(pdf).expect("write the pdf");
    let out = child.wait_with_output().expect("the extractor's output");
    assert!(out.status.success(), "{program} as an extractor: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("quokka"), "{program} as an extractor gave {text:?}");
}

/// Asserts that the executable at `program` holds no document parser: started as an extractor
/// with a PDF on its input it prints none of its text, and the binary carries nothing of the
/// PDF crates (their source paths, which any code of theirs that can panic embeds).
pub fn assert_has_no_pdf_parser(program: &str) {
    use std::io::Write as _;
    let pdf = include_bytes!("../../../shared/tests/fixtures/quokka.pdf");
    let mut child = std::process::Command::new(program)
        .env_clear()
        .args([files_core::search::extract::EXTRACTOR_ARG, "1000", "268435456"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the function's executable");
    // It may exit before reading: a broken pipe is an answer too.
    let _ = child.stdin.take().expect("stdin").write_all(pdf);
    let out = child.wait_with_output().expect("the executable's output");
    assert!(!out.status.success(), "{program} answered as an extractor");
    assert!(!String::from_utf8_lossy(&out.stdout).to_lowercase().contains("quokka"), "{program} extracted the PDF");
    let binary = std::fs::read(program).expect("read the executable");
    for crate_name in ["pdf-extract", "lopdf"] {
        let needle = format!("{crate_name}-");
        assert!(!binary.windows(needle.len()).any(|w| w == needle.as_bytes()), "{program} links {crate_name}");
    }
}

/// The environment of a test state: local backend under `media_root`, local-jwt auth, and the
/// workspace's `files-extract` as the PDF extractor ([`extractor`]).
pub fn test_env(media_root: &std::path::Path, database_url: &str) -> HashMap<String, String> {
    let mut env = function_env(media_root, database_url);
    env.insert("EXTRACT_PROGRAM".to_owned(), extractor());
    env
}

/// As [`test_env`] without `EXTRACT_PROGRAM`: for release function binaries (the bench), each
/// its own extractor as deployed.
pub fn function_env(media_root: &std::path::Path, database_url: &str) -> HashMap<String, String> {
    [
        ("FILE_STORAGE_BACKEND", "local"),
        ("LOCAL_MEDIA_ROOT", media_root.to_str().expect("utf-8 temp path")),
        ("LOCAL_SIGNING_SECRET", SIGNING_SECRET),
        ("PUBLIC_BASE_URL", "http://127.0.0.1:9000"),
        ("DATABASE_URL", database_url),
        ("DATABASE_TIMEOUT_SECONDS", "2"),
        ("AUTH_MODE", "local-jwt"),
        ("AUTH_LOCAL_JWT_SECRET", JWT_SECRET),
        ("UPLOAD_MAX_SIZE_BYTES", "1048576"),
        ("UPLOAD_ALLOWED_CONTENT_TYPES", "text/*,image/*,application/pdf,application/json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The S3-compatible server tests use (LocalStack, started by `make test`).
pub fn s3_endpoint() -> String {
    std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned())
}

/// The AWS SDK configuration of the test server (LocalStack: S3, SQS, Secrets Manager).
pub fn localstack_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(files_core::aws::http_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(s3_endpoint())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("test", "test", None, None, "test"),
        ))
        .build()
}

/// A fresh bucket name.
pub fn bucket_name() -> String {
    format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..24])
}

/// The variables that switch a test environment to the S3 backend on `bucket`.
pub fn s3_env(bucket: &str) -> Vec<(String, String)> {
    [
        ("FILE_STORAGE_BACKEND", "s3"),
        ("AWS_S3_BUCKET_NAME", bucket),
        ("AWS_S3_REGION_NAME", "us-east-1"),
        ("AWS_S3_ENDPOINT_URL", &s3_endpoint()),
        ("AWS_S3_ADDRESSING_STYLE", "path"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Both halves of the S3 backend for one bucket, as tests use them together: dereferences to
/// the object store; `signer` signs its URLs.
pub struct S3Storage {
    /// The URL signer.
    pub signer: S3UrlSigner,
    /// The object store.
    pub objects: S3ObjectStore,
}

impl std::ops::Deref for S3Storage {
    type Target = S3ObjectStore;

    fn deref(&self) -> &S3ObjectStore {
        &self.objects
    }
}

/// An S3 storage on a fresh bucket of the test server, with `overrides` applied to its settings.
///
/// # Panics
/// When the server cannot be reached: a test that needs S3 fails without it.
pub async fn s3_storage(overrides: &[(&str, &str)]) -> S3Storage {
    let media = std::path::Path::new("/nonexistent");
    let mut env = test_env(media, "postgres://unused@127.0.0.1:1/x");
    env.extend(s3_env(&bucket_name()));
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    bucket_for(&Settings::from_map(&env).expect("S3 test settings are valid")).await
}

/// The S3 storage of `settings`, with its bucket created on the test server.
async fn bucket_for(settings: &Settings) -> S3Storage {
    let s3 = settings.storage.s3().expect("S3 settings");
    let objects = S3ObjectStore::new(s3).await.expect("S3 storage builds");
    files_core::storage::s3::ensure_bucket(&objects)
        .await
        .unwrap_or_else(|e| panic!("the S3 server at {} is required: {e:?}", s3_endpoint()));
    S3Storage { signer: S3UrlSigner::new(s3).await.expect("S3 signer builds"), objects }
}

/// The Elasticsearch-compatible server tests use (osmem-server, started by `make test`).
pub fn elasticsearch_url() -> String {
    std::env::var("TEST_ELASTICSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".to_owned())
}

/// Variables that point a test state at the search server with a fresh index alias.
pub fn search_env() -> Vec<(String, String)> {
    vec![
        ("ELASTICSEARCH_URL".to_owned(), elasticsearch_url()),
        ("ELASTICSEARCH_INDEX".to_owned(), format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])),
    ]
}

/// [`search_env`] as the `&str` pairs [`TestApp::with_backend`] takes (leaked: tests only).
pub fn search_env_refs() -> Vec<(&'static str, &'static str)> {
    search_env().into_iter().map(|(k, v)| (&*Box::leak(k.into_boxed_str()), &*Box::leak(v.into_boxed_str()))).collect()
}

/// Which storage backend a test state uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The local filesystem.
    Local,
    /// The S3-compatible test server.
    S3,
}

/// Everything a handler test needs: a fresh database, a temporary media root, and the state of
/// every function, each as that function builds it at cold start.
pub struct TestApp {
    /// initiate-upload's.
    pub initiate: AppState<InitiateUpload>,
    /// confirm-upload's.
    pub confirm: AppState<ConfirmUpload>,
    /// upload-local's.
    pub proxied: AppState<ProxiedUpload>,
    /// get-file's and download-url's.
    pub read: AppState<ReadFile>,
    /// delete-file's.
    pub delete: AppState<DeleteFile>,
    /// upload-parts'.
    pub parts: AppState<files_core::services::UploadParts>,
    /// search-files'.
    pub finder: AppState<SearchFiles>,
    /// s3-indexer's.
    pub indexer: Indexer,
    /// The object store of the backend.
    pub objects: Arc<dyn ObjectStore>,
    /// The file records.
    pub repo: Arc<dyn FileRepository>,
    /// The index outbox the API workflows write to.
    pub outbox: Arc<dyn files_core::outbox::Outbox>,
    /// The settings it was built from.
    pub settings: Settings,
    /// The database.
    pub db: TestDb,
    /// The media root.
    pub media: tempfile::TempDir,
}

impl TestApp {
    /// A state with the default test environment.
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// A state with the test environment plus `overrides`.
    pub async fn with_env(overrides: &[(&str, &str)]) -> Self {
        Self::with_backend(Backend::Local, overrides).await
    }

    /// A state on `backend` (S3: a fresh bucket), with `overrides`.
    pub async fn with_backend(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::new().await;
        let media = tempfile::tempdir().expect("temp dir");
        let mut env = test_env(media.path(), &db.url);
        if backend == Backend::S3 {
            let bucket = bucket_name();
            env.extend(s3_env(&bucket));
            env.remove("LOCAL_MEDIA_ROOT");
            let mut bucket_env = env.clone();
            for (k, v) in overrides {
                bucket_env.insert((*k).to_owned(), (*v).to_owned());
            }
            bucket_for(&Settings::from_map(&bucket_env).expect("S3 test settings are valid")).await;
        }
        for (k, v) in overrides {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Self::from_parts(db, media, &env).await
    }

    /// A state over `db` and `media` with exactly the environment `env` (its `DATABASE_URL` may
    /// lead to `db` through a proxy).
    pub async fn from_parts(db: TestDb, media: tempfile::TempDir, env: &HashMap<String, String>) -> Self {
        let settings = Settings::from_map(env).expect("test settings are valid");
        let pool = files_core::state::build_pool(&settings, &settings.database).await.expect("the pool builds");
        Self {
            initiate: AppState::build(&settings).await.expect("initiate-upload's state builds"),
            confirm: AppState::build(&settings).await.expect("confirm-upload's state builds"),
            proxied: AppState::build(&settings).await.expect("upload-local's state builds"),
            read: AppState::build(&settings).await.expect("get-file's state builds"),
            delete: AppState::build(&settings).await.expect("delete-file's state builds"),
            parts: AppState::build(&settings).await.expect("upload-parts' state builds"),
            finder: AppState::build(&settings).await.expect("search-files' state builds"),
            indexer: Indexer::from_settings(&settings).await.expect("the indexer builds"),
            objects: files_core::storage::build_objects(&settings.storage).await.expect("storage builds"),
            repo: Arc::new(PgFileRepository::new(pool.clone())),
            outbox: Arc::new(files_core::db::PgOutbox::new(pool)),
            settings,
            db,
            media,
        }
    }

    /// Every regular file under the media root (objects, sidecars and temporaries alike).
    pub fn stored_paths(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.file_name().is_some_and(|n| n == ".gone") {
                    // Tombstones of deleted keys: no object.
                    continue;
                }
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.media.path(), &mut out);
        out
    }
}

/// A development token for `user` in `org`.
pub fn token(user: &str, org: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    issue_local_token(JWT_SECRET, "org_id", user, org, &roles, 600).expect("token signs")
}

/// A request as API Gateway's HTTP API (payload 2.0) delivers it, built from the real event
/// JSON in `infra/events/`.
#[derive(Debug, Clone)]
pub struct ApiEvent {
    event: Value,
}

impl ApiEvent {
    /// `method` on `path` (the route's template is `route`, e.g. `/files/{id}`).
    pub fn new(method: &str, route: &str, path: &str) -> Self {
        let mut event: Value =
            serde_json::from_str(include_str!("../../events/apigw-v2-request.json")).expect("fixture is JSON");
        event["routeKey"] = json!(format!("{method} {route}"));
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        Self { event }
    }

    /// Sets a path parameter.
    pub fn path_param(mut self, name: &str, value: &str) -> Self {
        self.event["pathParameters"][name] = json!(value);
        self
    }

    /// Sets the raw query string and its parsed parameters (first value of each name).
    pub fn query(mut self, raw: &str) -> Self {
        self.event["rawQueryString"] = json!(raw);
        let mut params = serde_json::Map::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            params.entry(decode(k)).or_insert(json!(decode(v)));
        }
        self.event["queryStringParameters"] = Value::Object(params);
        self
    }

    /// Sets a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Replaces the JWT authorizer claims (API Gateway auth).
    pub fn claims(mut self, claims: Value) -> Self {
        self.event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
        self
    }

    /// Removes the authorizer context entirely.
    pub fn without_authorizer(mut self) -> Self {
        if let Some(ctx) = self.event["requestContext"].as_object_mut() {
            ctx.remove("authorizer");
        }
        self
    }

    /// A JSON body.
    pub fn json(self, body: &Value) -> Self {
        self.text("application/json", &body.to_string())
    }

    /// A text body with this content type.
    pub fn text(mut self, content_type: &str, body: &str) -> Self {
        self.event["body"] = json!(body);
        self.event["isBase64Encoded"] = json!(false);
        self.event["headers"]["content-length"] = json!(body.len().to_string());
        self.header("content-type", content_type)
    }

    /// A binary body (base64 in the event, as API Gateway sends it).
    pub fn binary(mut self, content_type: &str, body: &[u8]) -> Self {
        use base64::Engine as _;
        self.event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        self.event["isBase64Encoded"] = json!(true);
        self.event["headers"]["content-length"] = json!(body.len().to_string());
        self.header("content-type", content_type)
    }

    /// The event JSON.
    pub fn to_json(&self) -> String {
        self.event.to_string()
    }

    /// The request lambda_http makes of the event.
    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.to_json()).expect("the event parses as an API Gateway request")
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The status and JSON body of a handler's response.
pub fn json_of(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    let body: &[u8] = response.body().as_ref();
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// A TCP proxy in front of a real server, so a test can take the server "down" (refuse and
/// cut every connection) and bring it back without touching the server itself.
pub struct CutProxy {
    /// The address to connect to instead of the server.
    pub addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl CutProxy {
    /// Starts a proxy to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(generation);
        let target = target.to_owned();
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let mut cut = gen2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, generation }
    }

    /// Refuses new connections and cuts the open ones.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Accepts connections again.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by `addr` (to route a database URL through a proxy).
pub fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{userinfo}{addr}/{path}")
}

/// The host and port of a URL.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority).to_owned()
}

/// A caller, as the authenticator would produce it.
pub fn caller(user: &str, org: &str, roles: &[&str]) -> files_core::Caller {
    files_core::Caller {
        user_id: user.to_owned(),
        org_id: org.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

/// The base64 SHA-256 of `bytes`.
pub fn sha256_base64(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    files_core::keys::Checksum::from_digest(sha2::Sha256::digest(bytes).into()).to_base64()
}

impl TestApp {
    /// A state on the local backend whose search uses the test search server (a fresh index,
    /// created), with `overrides`.
    pub async fn with_elasticsearch(overrides: &[(&str, &str)]) -> Self {
        let env = search_env();
        let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(overrides);
        let app = Self::with_env(&all).await;
        app.elastic()
            .ensure_index()
            .await
            .unwrap_or_else(|e| panic!("the search server at {} is required: {e:?}", elasticsearch_url()));
        app
    }

    /// The Elasticsearch index of this state's settings.
    pub fn elastic(&self) -> files_core::search::elastic::ElasticIndex {
        files_core::search::elastic::ElasticIndex::from_settings(&self.settings.search).expect("search settings")
    }

    /// Applies every outbox entry with the indexer, as the indexer's queue (or `make dev`'s
    /// worker) would; how many were applied.
    pub async fn drain_outbox(&self) -> usize {
        let mut applied = 0;
        loop {
            let pass = files_core::outbox::drain(self.outbox.as_ref(), &self.indexer, 100, std::time::Duration::ZERO)
                .await
                .expect("the outbox drains");
            assert_eq!((pass.failed, pass.dropped), (0, 0), "outbox entries failed to apply");
            if pass.applied == 0 {
                return applied;
            }
            applied += pass.applied;
        }
    }

    /// Applies the outbox and makes recent index writes searchable (the refresh is a no-op for
    /// the PostgreSQL fallback).
    pub async fn refresh_search(&self) {
        self.drain_outbox().await;
        if self.settings.search.elasticsearch_url.is_some() {
            self.elastic().refresh().await.expect("refresh");
        }
    }

    /// The organization-scoped search, as the service answers it.
    pub async fn search(&self, caller: &files_core::Caller, q: &str) -> files_core::services::SearchResults {
        self.refresh_search().await;
        let request = files_core::services::SearchRequest { q: q.to_owned(), ..Default::default() };
        self.finder.files.search(caller, request).await.expect("search succeeds")
    }

    /// The ids of the files a search finds.
    pub async fn found(&self, caller: &files_core::Caller, q: &str) -> Vec<uuid::Uuid> {
        self.search(caller, q).await.files.into_iter().map(|f| f.file.id).collect()
    }

    /// Initiates an upload of `bytes` through the service (declaring the checksum when asked).
    pub async fn initiate(
        &self,
        caller: &files_core::Caller,
        filename: &str,
        content_type: &str,
        bytes: &[u8],
        declare_checksum: bool,
    ) -> files_core::services::InitiatedUpload {
        let request = files_core::services::InitiateUploadRequest {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            size: i64::try_from(bytes.len()).expect("test sizes fit"),
            checksum_sha256: declare_checksum.then(|| sha256_base64(bytes)),
            owner: None,
            upload_method: None,
            part_size: None,
            checksum_crc64nvme: None,
        };
        self.initiate.files.initiate_upload(caller, request).await.expect("initiate succeeds")
    }

    /// Stores an object directly, as a client's PUT to the signed URL would (or a client that
    /// ignored what it declared).
    pub async fn store(&self, key: &str, content_type: &str, bytes: &[u8]) {
        let key = files_core::keys::FileKey::parse(key).expect("valid key");
        let data = bytes::Bytes::copy_from_slice(bytes);
        let body = Box::pin(futures_util::stream::once(async move { Ok::<_, std::io::Error>(data) }));
        let constraints = files_core::storage::PutConstraints {
            content_type: files_core::keys::ContentType::parse(content_type).expect("valid type"),
            exact_size: None,
            max_size: u64::MAX,
            checksum_sha256: None,
        };
        self.objects.save_proxied_file(&key, body, &constraints).await.expect("store succeeds");
    }

    /// Initiates, stores and confirms a file, and applies the outbox: an available, indexed file
    /// owned by `caller`.
    pub async fn upload(
        &self,
        caller: &files_core::Caller,
        filename: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> files_core::services::FileView {
        let upload = self.initiate(caller, filename, content_type, bytes, true).await;
        self.store(upload.file_key.as_str(), content_type, bytes).await;
        let confirm =
            files_core::services::ConfirmUploadRequest { file_key: upload.file_key.as_str().to_owned(), parts: None };
        let file = self.confirm.files.confirm_upload(caller, confirm).await.expect("confirm succeeds");
        // Indexed as the indexer would do it next, so that the file is searchable on return.
        self.drain_outbox().await;
        file
    }

    /// The status of the file with `id`, or `None` when there is no row.
    pub async fn status_of(&self, id: uuid::Uuid) -> Option<String> {
        self.db
            .client()
            .await
            .query_opt("SELECT status FROM stored_files WHERE id = $1", &[&id])
            .await
            .expect("query")
            .map(|r| r.get(0))
    }
}

/// Everything the service logs while it is held, through the service's own filter at `level`
/// (on this thread: a `#[tokio::test]` runs on one).
pub struct LogCapture {
    written: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: lambda_http::tracing::dispatcher::DefaultGuard,
}

#[derive(Clone)]
struct CaptureWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Starts capturing at `level`.
    pub fn start(level: lambda_http::tracing::subscriber::filter::LevelFilter) -> Self {
        use lambda_http::tracing::subscriber::layer::SubscriberExt as _;
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = CaptureWriter(written.clone());
        let subscriber = lambda_http::tracing::subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
            .with(files_core::telemetry::filter(level));
        let guard = lambda_http::tracing::subscriber::util::SubscriberInitExt::set_default(subscriber);
        Self { written, _guard: guard }
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.written.lock().expect("log buffer")).into_owned()
    }
}
