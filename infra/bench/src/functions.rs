//! The functions `make bench` measures (one line each in [`FUNCTIONS`]), the event each is
//! invoked with, and the fixture those events need: a backend configuration, a caller, and an
//! available file to read, confirm, sign and delete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use files_core::auth::issue_local_token;
use files_core::keys::ContentType;
use files_core::services::{ConfirmUpload, ConfirmUploadRequest, FileView, InitiateUpload, InitiateUploadRequest};
use files_core::state::FromSettings as _;
use files_core::storage::{ObjectStore, PutConstraints};
use files_core::{Caller, Settings};
use files_testkit::{sha256_base64, ApiEvent, Backend};
use serde_json::json;

use crate::emulator::{Answer, Outcome};

/// How a function is invoked.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    /// `POST /files/initiate-upload` of a 1 KiB PDF with its checksum: 201.
    InitiateUpload,
    /// `POST /files/confirm-upload` of an already confirmed key (the idempotent path): 200.
    ConfirmUpload,
    /// `GET route?query` as the caller, `{id}` being an available file's id: 200.
    Get {
        /// The route template, e.g. `/files/{id}`.
        route: &'static str,
        /// The raw query string.
        query: &'static str,
    },
    /// `DELETE /files/{id}` of a fresh available file: 204.
    DeleteFile,
    /// `POST /files/upload-local` of a small multipart form: 201.
    UploadLocal,
    /// An event fixture from `infra/events/` as it is (non-HTTP triggers): answered, not an error.
    Event(&'static str),
}

/// A function binary and how to measure it.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    /// Folder, package, binary and function name.
    pub name: &'static str,
    /// The event it is invoked with.
    pub probe: Probe,
    /// The storage configurations it runs in.
    pub backends: &'static [Backend],
    /// Whether warm latency is measured (p50/p99 over many invocations).
    pub warm: bool,
    /// Whether it serves HTTP (the memory target applies).
    pub http: bool,
}

const BOTH: &[Backend] = &[Backend::Local, Backend::S3];

const fn http(name: &'static str, probe: Probe, backends: &'static [Backend], warm: bool) -> Function {
    Function { name, probe, backends, warm, http: true }
}

/// Every function measured. Adding one is one line.
pub const FUNCTIONS: &[Function] = &[
    http("initiate-upload", Probe::InitiateUpload, BOTH, true),
    http("confirm-upload", Probe::ConfirmUpload, BOTH, true),
    http("download-url", Probe::Get { route: "/files/{id}/download-url", query: "" }, BOTH, true),
    http("get-file", Probe::Get { route: "/files/{id}", query: "" }, BOTH, true),
    http("delete-file", Probe::DeleteFile, BOTH, false),
    http("upload-local", Probe::UploadLocal, BOTH, false),
    http("search-files", Probe::Get { route: "/files/search", query: "q=report" }, BOTH, false),
    Function {
        name: "s3-indexer",
        probe: Probe::Event("sqs-s3-put.json"),
        backends: &[Backend::S3],
        warm: false,
        http: false,
    },
    Function {
        name: "reconcile",
        probe: Probe::Event("eventbridge-schedule.json"),
        backends: &[Backend::S3],
        warm: false,
        http: false,
    },
];

/// A short name for a backend.
pub fn label(backend: Backend) -> &'static str {
    match backend {
        Backend::Local => "local",
        Backend::S3 => "s3",
    }
}

/// An event and what a correct answer to it looks like.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The event JSON.
    pub event: String,
    /// The HTTP status expected, for API Gateway events.
    pub status: Option<u16>,
}

impl Invocation {
    /// Fails unless `answer` is a response (not an error) with the expected status: a bench
    /// that measured error paths would measure the wrong thing.
    ///
    /// # Errors
    /// Naming the function and showing the start of the body.
    pub fn check(&self, function: &str, answer: &Answer) -> anyhow::Result<()> {
        let body = String::from_utf8_lossy(&answer.body);
        let excerpt: String = body.chars().take(400).collect();
        if answer.outcome == Outcome::Error {
            bail!("{function} answered with an invocation error: {excerpt}");
        }
        if let Some(expected) = self.status {
            if answer.status_code() != Some(expected) {
                bail!("{function} answered {:?}, expected {expected}: {excerpt}", answer.status_code());
            }
        }
        Ok(())
    }
}

const JWT_TTL_SECONDS: i64 = 6 * 3600;
const BOUNDARY: &str = "----files-bench-boundary-7MA4YWxk";
const SAMPLE_NAME: &str = "Q3 report.pdf";
const SAMPLE_TYPE: &str = "application/pdf";

fn sample_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.resize(1024, b'x');
    bytes
}

/// One backend configuration: the environment the function processes get, the same state
/// built in this process for seeding, and the caller's token.
pub struct Fixture {
    /// Which backend.
    pub backend: Backend,
    /// The application's variables for the function processes.
    pub env: Vec<(String, String)>,
    /// The workflows the functions build from `env`, for seeding.
    pub state: Seeder,
    caller: Caller,
    token: String,
    available: FileView,
    _media: Option<tempfile::TempDir>,
}

impl Fixture {
    /// The configuration for `backend` over `database_url` (the S3 backend on `s3_endpoint`,
    /// bucket `bucket`, created when missing), with one available file seeded.
    ///
    /// # Errors
    /// When the settings are invalid or PostgreSQL or S3 cannot be reached.
    pub async fn new(backend: Backend, database_url: &str, s3_endpoint: &str, bucket: &str) -> anyhow::Result<Self> {
        Self::with(backend, database_url, s3_endpoint, bucket, &[]).await
    }

    /// As [`Fixture::new`], with `overrides` of the application's variables.
    ///
    /// # Errors
    /// As [`Fixture::new`].
    pub async fn with(
        backend: Backend,
        database_url: &str,
        s3_endpoint: &str,
        bucket: &str,
        overrides: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let media = match backend {
            Backend::Local => Some(tempfile::Builder::new().prefix("files-bench-media").tempdir()?),
            Backend::S3 => None,
        };
        let media_root = media.as_ref().map(|m| m.path().to_owned()).unwrap_or_else(|| PathBuf::from("/nonexistent"));
        let mut env: HashMap<String, String> = files_testkit::function_env(&media_root, database_url);
        if backend == Backend::S3 {
            env.remove("LOCAL_MEDIA_ROOT");
            env.extend(files_testkit::s3_env(bucket));
            env.insert("AWS_S3_ENDPOINT_URL".to_owned(), s3_endpoint.to_owned());
        }
        env.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let settings = Settings::from_map(&env).context("the bench settings are valid")?;
        if backend == Backend::S3 {
            let storage =
                files_core::storage::s3::S3ObjectStore::new(settings.storage.s3().context("the S3 settings")?).await?;
            files_core::storage::s3::ensure_bucket(&storage)
                .await
                .with_context(|| format!("S3 at {s3_endpoint} is required (bucket {bucket})"))?;
        }
        let state = Seeder {
            initiate: InitiateUpload::from_settings(&settings).await?,
            confirm: ConfirmUpload::from_settings(&settings).await?,
            objects: files_core::storage::build_objects(&settings.storage).await?,
        };
        let caller = Caller { user_id: "bench".to_owned(), org_id: "bench-org".to_owned(), roles: Vec::new() };
        let token = issue_local_token(
            files_testkit::JWT_SECRET,
            "org_id",
            &caller.user_id,
            &caller.org_id,
            &[],
            JWT_TTL_SECONDS,
        )?;
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        let available = seed_file(&state, &caller).await?;
        Ok(Self { backend, env, state, caller, token, available, _media: media })
    }

    /// The caller files are seeded for.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    fn event(&self, method: &str, route: &str, path: &str) -> ApiEvent {
        ApiEvent::new(method, route, path).bearer(&self.token)
    }

    /// The event `probe` sends, and the answer it expects.
    ///
    /// # Errors
    /// When seeding a file for it fails.
    pub async fn invocation(&self, probe: Probe) -> anyhow::Result<Invocation> {
        let http = |event: ApiEvent, status: u16| Invocation { event: event.to_json(), status: Some(status) };
        Ok(match probe {
            Probe::InitiateUpload => {
                let bytes = sample_bytes();
                let body = json!({
                    "filename": SAMPLE_NAME,
                    "content_type": SAMPLE_TYPE,
                    "size": bytes.len(),
                    "checksum_sha256": sha256_base64(&bytes),
                });
                http(self.event("POST", "/files/initiate-upload", "/files/initiate-upload").json(&body), 201)
            }
            Probe::ConfirmUpload => {
                let body = json!({ "file_key": self.available.file_key });
                http(self.event("POST", "/files/confirm-upload", "/files/confirm-upload").json(&body), 200)
            }
            Probe::Get { route, query } => {
                let id = self.available.id.to_string();
                let path = route.replace("{id}", &id);
                let mut event = self.event("GET", route, &path);
                if route.contains("{id}") {
                    event = event.path_param("id", &id);
                }
                if !query.is_empty() {
                    event = event.query(query);
                }
                http(event, 200)
            }
            Probe::DeleteFile => {
                let id = seed_file(&self.state, &self.caller).await?.id.to_string();
                http(self.event("DELETE", "/files/{id}", &format!("/files/{id}")).path_param("id", &id), 204)
            }
            Probe::UploadLocal => {
                let mut body = format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
                     Content-Type: text/plain\r\n\r\n"
                )
                .into_bytes();
                body.extend_from_slice(b"hello from the bench\n");
                body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
                let event = self
                    .event("POST", "/files/upload-local", "/files/upload-local")
                    .binary(&format!("multipart/form-data; boundary={BOUNDARY}"), &body);
                http(event, 201)
            }
            Probe::Event(fixture) => {
                let path = events_dir().join(fixture);
                let event = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
                Invocation { event, status: None }
            }
        })
    }
}

impl Fixture {
    /// A pending upload of `bytes` sent as a client sends it (initiated with its checksum; S3:
    /// the pre-signed PUT itself, so S3 keeps the SHA-256; local: stored as the local media
    /// server stores a signed PUT), and the confirm event that makes it available.
    ///
    /// # Errors
    /// When initiating or sending fails.
    pub async fn pending_confirm(
        &self,
        filename: &str,
        content_type: &str,
        bytes: &bytes::Bytes,
    ) -> anyhow::Result<Invocation> {
        let request = InitiateUploadRequest {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            size: i64::try_from(bytes.len())?,
            checksum_sha256: Some(sha256_base64(bytes)),
            owner: None,
            upload_method: None,
            part_size: None,
            checksum_crc64nvme: None,
        };
        let upload = self.state.initiate.initiate_upload(&self.caller, request).await.context("initiate")?;
        match self.backend {
            Backend::S3 => {
                let mut put = reqwest::Client::new().put(&upload.url);
                for (name, value) in &upload.headers {
                    put = put.header(name, value);
                }
                let status = put.body(bytes.clone()).send().await.context("the pre-signed PUT")?.status();
                anyhow::ensure!(status.is_success(), "the pre-signed PUT answered {status}");
            }
            Backend::Local => {
                let data = bytes.clone();
                let body = Box::pin(futures_util::stream::once(async move { Ok::<_, std::io::Error>(data) }));
                let constraints = PutConstraints {
                    content_type: ContentType::parse(content_type)?,
                    exact_size: Some(bytes.len() as u64),
                    max_size: bytes.len() as u64,
                    checksum_sha256: None,
                };
                self.state.objects.save_proxied_file(&upload.file_key, body, &constraints).await.context("store")?;
            }
        }
        let body = json!({ "file_key": upload.file_key });
        let event = self.event("POST", "/files/confirm-upload", "/files/confirm-upload").json(&body);
        Ok(Invocation { event: event.to_json(), status: Some(200) })
    }
}

fn events_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
}

/// Initiates, stores and confirms a 1 KiB file through the service: an available file owned
/// by `caller`.
/// The workflows a fixture seeds files with.
pub struct Seeder {
    initiate: InitiateUpload,
    confirm: ConfirmUpload,
    pub(crate) objects: std::sync::Arc<dyn ObjectStore>,
}

async fn seed_file(state: &Seeder, caller: &Caller) -> anyhow::Result<FileView> {
    let bytes = sample_bytes();
    let request = InitiateUploadRequest {
        filename: SAMPLE_NAME.to_owned(),
        content_type: SAMPLE_TYPE.to_owned(),
        size: i64::try_from(bytes.len())?,
        checksum_sha256: Some(sha256_base64(&bytes)),
        owner: None,
        upload_method: None,
        part_size: None,
        checksum_crc64nvme: None,
    };
    let upload = state.initiate.initiate_upload(caller, request).await.context("initiate a seed upload")?;
    let key = upload.file_key;
    let data = bytes::Bytes::from(bytes);
    let body = Box::pin(futures_util::stream::once(async move { Ok::<_, std::io::Error>(data) }));
    let constraints = PutConstraints {
        content_type: ContentType::parse(SAMPLE_TYPE)?,
        exact_size: None,
        max_size: u64::MAX,
        checksum_sha256: None,
    };
    state.objects.save_proxied_file(&key, body, &constraints).await.context("store a seed object")?;
    let confirm = ConfirmUploadRequest { file_key: key.to_string(), parts: None };
    state.confirm.confirm_upload(caller, confirm).await.context("confirm a seed upload")
}
