//! A minimal Lambda Runtime API on 127.0.0.1, and a function process running against it.
//!
//! The emulator hands out one queued event per `GET /2018-06-01/runtime/invocation/next` with
//! the headers Lambda sends (request id, deadline, function ARN, trace id) and collects what the
//! function posts to `/invocation/{id}/response`, `/invocation/{id}/error` and `/init/error`.
//! Each answer carries two instants taken by the emulator itself: when the event was handed out
//! and when the answer arrived, so a measured invocation is what Lambda would bill, the runtime
//! client's loopback round trips included.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot, Mutex};

const API: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The function posted a response.
    Response,
    /// The function posted an invocation error.
    Error,
}

/// A function's answer to one event.
#[derive(Debug)]
pub struct Answer {
    /// Response or error.
    pub outcome: Outcome,
    /// The posted body.
    pub body: Bytes,
    /// When the event left the emulator.
    pub handed_out: Instant,
    /// When the answer arrived.
    pub answered: Instant,
}

impl Answer {
    /// Event handed out → answer received.
    pub fn latency(&self) -> Duration {
        self.answered.saturating_duration_since(self.handed_out)
    }

    /// The HTTP status of an API Gateway proxy response (`statusCode`), if the body is one.
    pub fn status_code(&self) -> Option<u16> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        value.get("statusCode")?.as_u64().and_then(|s| u16::try_from(s).ok())
    }
}

struct Queued {
    id: String,
    event: String,
    answer: oneshot::Sender<Answer>,
}

struct InFlight {
    handed_out: Instant,
    answer: oneshot::Sender<Answer>,
}

struct Shared {
    function_arn: String,
    queue: Mutex<mpsc::UnboundedReceiver<Queued>>,
    in_flight: StdMutex<HashMap<String, InFlight>>,
    first_poll: StdMutex<Option<Instant>>,
    init_error: StdMutex<Option<String>>,
}

/// The runtime API of one function instance, on an ephemeral loopback port.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    enqueue: mpsc::UnboundedSender<Queued>,
    server: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Starts serving on 127.0.0.1 for the function called `function_name`.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn start(function_name: &str) -> anyhow::Result<Self> {
        let (enqueue, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue: Mutex::new(queue),
            in_flight: StdMutex::new(HashMap::new()),
            first_poll: StdMutex::new(None),
            init_error: StdMutex::new(None),
        });
        let for_server = shared.clone();
        let make = make_service_fn(move |_| {
            let shared = for_server.clone();
            async move { Ok::<_, Infallible>(service_fn(move |request| route(shared.clone(), request))) }
        });
        let server = hyper::Server::try_bind(&SocketAddr::from(([127, 0, 0, 1], 0)))
            .context("bind the runtime API emulator on 127.0.0.1")?
            .http1_keepalive(true)
            .tcp_nodelay(true)
            .serve(make);
        let addr = server.local_addr();
        let server = tokio::spawn(async move {
            if let Err(e) = server.await {
                eprintln!("runtime API emulator stopped: {e}");
            }
        });
        Ok(Self { addr, shared, enqueue, server })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `event`; the receiver yields the function's answer.
    pub fn enqueue(&self, event: String) -> oneshot::Receiver<Answer> {
        let (answer, receiver) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        // The receiving half lives in `shared` as long as the emulator does.
        let _ = self.enqueue.send(Queued { id, event, answer });
        receiver
    }

    /// When the function first asked for an event (its init is over).
    pub fn first_poll(&self) -> Option<Instant> {
        *self.shared.first_poll.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the function reported to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn reply(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn epoch_ms(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

fn trace_id(id: &str) -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    format!("Root=1-{seconds:08x}-{};Parent={};Sampled=0", &hex[..24], &hex[8..24])
}

async fn route(shared: Arc<Shared>, request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(API) else { return Ok(reply(StatusCode::NOT_FOUND)) };
    let method = request.method().clone();
    let response = match (method, rest) {
        (Method::GET, "/invocation/next") => next(&shared).await,
        (Method::POST, "/init/error") => {
            let body = hyper::body::to_bytes(request.into_body()).await.unwrap_or_default();
            *shared.init_error.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(String::from_utf8_lossy(&body).into_owned());
            reply(StatusCode::ACCEPTED)
        }
        (Method::POST, rest) => match rest.strip_prefix("/invocation/").and_then(|r| r.rsplit_once('/')) {
            Some((id, kind @ ("response" | "error"))) => {
                let outcome = if kind == "response" { Outcome::Response } else { Outcome::Error };
                let id = id.to_owned();
                let body = hyper::body::to_bytes(request.into_body()).await.unwrap_or_default();
                let answered = Instant::now();
                let in_flight = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                match in_flight {
                    Some(f) => {
                        let _ = f.answer.send(Answer { outcome, body, handed_out: f.handed_out, answered });
                        reply(StatusCode::ACCEPTED)
                    }
                    None => reply(StatusCode::BAD_REQUEST),
                }
            }
            _ => reply(StatusCode::NOT_FOUND),
        },
        _ => reply(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

async fn next(shared: &Shared) -> Response<Body> {
    shared.first_poll.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(Instant::now);
    let Some(queued) = shared.queue.lock().await.recv().await else {
        return reply(StatusCode::GONE);
    };
    let deadline = epoch_ms(SystemTime::now() + Duration::from_secs(30));
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &queued.id)
        .header("lambda-runtime-deadline-ms", deadline.to_string())
        .header("lambda-runtime-invoked-function-arn", &shared.function_arn)
        .header("lambda-runtime-trace-id", trace_id(&queued.id));
    let handed_out = Instant::now();
    shared
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(queued.id, InFlight { handed_out, answer: queued.answer });
    builder.body(Body::from(queued.event)).unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR))
}

/// A release function binary running against its own emulator, as one Lambda instance.
pub struct Instance {
    name: String,
    child: Child,
    emulator: Emulator,
    log: PathBuf,
}

/// What a cold start measured.
#[derive(Debug)]
pub struct ColdStart {
    /// Process spawn → first event asked for (runtime and application init).
    pub init: Duration,
    /// Process spawn → first invocation answered.
    pub total: Duration,
    /// The first answer.
    pub answer: Answer,
}

/// The environment Lambda gives every function, for `function_name` behind `runtime_api`.
fn lambda_env(function_name: &str, runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", function_name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/{function_name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]00000000000000000000000000000000"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_rust"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("TZ", ":UTC"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Instance {
    /// Spawns `binary` with only the Lambda variables and `app_env` (nothing of this process's
    /// environment), hands it `event` as its first invocation, and times the cold start.
    ///
    /// # Errors
    /// When the process cannot start, exits, reports an init error, or does not answer within
    /// `limit`.
    pub async fn cold_start(
        binary: &Path,
        name: &str,
        app_env: &[(String, String)],
        log: &Path,
        event: String,
        limit: Duration,
    ) -> anyhow::Result<(Self, ColdStart)> {
        let emulator = Emulator::start(name)?;
        let first = emulator.enqueue(event);
        let log_file = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(lambda_env(name, &emulator.address()))
            .envs(app_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().context("duplicate the log file")?)
            .stderr(log_file);
        let spawned = Instant::now();
        let child = command.spawn().with_context(|| format!("spawn {}", binary.display()))?;
        let mut instance = Self { name: name.to_owned(), child, emulator, log: log.to_owned() };
        let answer = instance.wait(first, limit).await?;
        let init = instance.emulator.first_poll().unwrap_or(answer.handed_out).saturating_duration_since(spawned);
        let total = answer.answered.saturating_duration_since(spawned);
        Ok((instance, ColdStart { init, total, answer }))
    }

    /// Invokes the running function with `event`.
    ///
    /// # Errors
    /// As [`Instance::cold_start`].
    pub async fn invoke(&mut self, event: String, limit: Duration) -> anyhow::Result<Answer> {
        let receiver = self.emulator.enqueue(event);
        self.wait(receiver, limit).await
    }

    async fn wait(&mut self, mut receiver: oneshot::Receiver<Answer>, limit: Duration) -> anyhow::Result<Answer> {
        let give_up = tokio::time::Instant::now() + limit;
        loop {
            tokio::select! {
                answer = &mut receiver => return answer.context("the emulator dropped an invocation"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            if let Some(error) = self.emulator.init_error() {
                bail!("{} reported an init error: {error}\n{}", self.name, self.log_tail());
            }
            if let Some(status) = self.child.try_wait().context("poll the function process")? {
                bail!("{} exited ({status}) before answering\n{}", self.name, self.log_tail());
            }
            if tokio::time::Instant::now() >= give_up {
                bail!("{} did not answer within {limit:?}\n{}", self.name, self.log_tail());
            }
        }
    }

    /// The process's peak resident set so far (`VmHWM`), in KiB.
    ///
    /// # Errors
    /// When `/proc/<pid>/status` cannot be read.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        peak_rss_kib(&format!("/proc/{}/status", self.child.id()))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!("last lines of {}:\n{}", self.log.display(), lines[lines.len().saturating_sub(20)..].join("\n"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // A Lambda instance is frozen, then discarded; nothing to shut down gracefully.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmHWM` of a `/proc/<pid>/status` file, in KiB.
///
/// # Errors
/// When the file cannot be read or has no `VmHWM` line.
pub fn peak_rss_kib(status_file: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(status_file).with_context(|| format!("read {status_file}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM in {status_file}"))
}
