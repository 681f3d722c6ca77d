//! The local media server (`local-media`, the local backend's storage endpoint under
//! `make dev`): a signed PUT and a signed GET of a generated body over loopback HTTP, with the
//! server's peak RSS, to show that any size moves in constant memory.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use files_core::services::{ConfirmUpload, ConfirmUploadRequest, InitiateUpload, InitiateUploadRequest};
use files_core::state::FromSettings as _;
use files_core::Settings;
use futures_util::StreamExt as _;

use crate::functions::Fixture;
use crate::measure::Plan;
use crate::report::{Figure, Target, Unit};

const MIB: f64 = 1024.0 * 1024.0;

/// The fixture's settings (and its environment), with room for `max_size` bytes of
/// `application/octet-stream`, and `overrides`.
///
/// # Errors
/// When the settings are invalid.
pub fn sized_settings(
    fixture: &Fixture,
    max_size: u64,
    overrides: &[(&str, String)],
) -> anyhow::Result<(Settings, Vec<(String, String)>)> {
    let mut env = fixture.env.clone();
    env.retain(|(k, _)| k != "UPLOAD_MAX_SIZE_BYTES" && k != "UPLOAD_ALLOWED_CONTENT_TYPES");
    env.push(("UPLOAD_MAX_SIZE_BYTES".to_owned(), max_size.to_string()));
    env.push(("UPLOAD_ALLOWED_CONTENT_TYPES".to_owned(), "application/octet-stream".to_owned()));
    for (k, v) in overrides {
        env.retain(|(key, _)| key != k);
        env.push(((*k).to_owned(), v.clone()));
    }
    let map: std::collections::HashMap<String, String> = env.iter().cloned().collect();
    Ok((Settings::from_map(&map).context("the bench settings")?, env))
}

/// A free loopback port (bound, then let go for the server to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Per size, over `plan.stream_runs` fresh servers on the local fixture: PUT and GET MB/s and
/// the server's peak RSS.
///
/// # Errors
/// When the server does not start or answers wrongly.
pub async fn figures(plan: &Plan, fixture: &Fixture) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for &mib in &plan.stream_mib {
        let (mut puts, mut gets, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..plan.stream_runs {
            let (put, get, peak_kib) = one_run(plan, fixture, mib).await?;
            puts.push(put);
            gets.push(get);
            peaks.push(peak_kib as f64 / 1024.0);
        }
        let size = if mib >= 1024 { format!("{} GiB", mib / 1024) } else { format!("{mib} MiB") };
        let rss_target = (mib >= 1024).then_some(Target::below(64e6 / MIB, "#15 constant memory"));
        figures.push(Figure::new("local media server", format!("signed PUT {size}"), Unit::MBps, puts, None));
        figures.push(Figure::new("local media server", format!("signed GET {size}"), Unit::MBps, gets, None));
        figures.push(Figure::new("local media server", format!("peak RSS {size}"), Unit::MiB, peaks, rss_target));
    }
    Ok(figures)
}

async fn one_run(plan: &Plan, fixture: &Fixture, mib: u64) -> anyhow::Result<(f64, f64, u64)> {
    let size = mib * 1024 * 1024;
    let port = free_port()?;
    // The fixture's environment, with room for the size measured.
    let (settings, env) = sized_settings(fixture, size, &[])?;
    let initiate = InitiateUpload::from_settings(&settings).await?;
    let confirm_upload = ConfirmUpload::from_settings(&settings).await?;
    let server = start_server(plan, &env, port).await?;
    // The fixture's URLs are signed for its PUBLIC_BASE_URL; the same path goes to this port.
    let here = |url: &str| -> anyhow::Result<String> {
        let rest = url.split_once("://").and_then(|(_, r)| r.split_once('/')).context("a URL with a path")?.1;
        Ok(format!("http://127.0.0.1:{port}/{rest}"))
    };
    let request = InitiateUploadRequest {
        filename: "bench.bin".to_owned(),
        content_type: "application/octet-stream".to_owned(),
        size: i64::try_from(size)?,
        checksum_sha256: None,
        owner: None,
        upload_method: None,
        part_size: None,
        checksum_crc64nvme: None,
    };
    let upload = initiate.initiate_upload(fixture.caller(), request).await?;
    let http = reqwest::Client::new();
    let mut put = http.put(here(&upload.url)?).header("content-length", size);
    for (name, value) in &upload.headers {
        put = put.header(name, value);
    }
    let started = Instant::now();
    let answer = put.body(reqwest::Body::wrap_stream(crate::stream::generated_body(size))).send().await?;
    let put_seconds = started.elapsed().as_secs_f64();
    if !answer.status().is_success() {
        bail!("the signed PUT answered {}", answer.status());
    }
    let confirm = ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let view = confirm_upload.confirm_upload(fixture.caller(), confirm).await?;
    let url = view.download_url.context("a download URL")?;
    let started = Instant::now();
    let mut body = http.get(here(&url)?).send().await?.error_for_status()?.bytes_stream();
    let mut read = 0u64;
    while let Some(chunk) = body.next().await {
        read += chunk?.len() as u64;
    }
    let get_seconds = started.elapsed().as_secs_f64();
    let peak = server.peak_rss_kib()?;
    drop(server);
    fixture.state.objects.delete_file(&upload.file_key).await?;
    if read != size {
        bail!("the signed GET served {read} bytes of {size}");
    }
    Ok((size as f64 / 1e6 / put_seconds, size as f64 / 1e6 / get_seconds, peak))
}

/// The release local media server on `port`, with `env`; killed when dropped.
pub struct Server {
    child: tokio::process::Child,
    pid: u32,
}

impl Server {
    /// Its peak resident set so far, in KiB.
    ///
    /// # Errors
    /// When `/proc` cannot be read.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        crate::emulator::peak_rss_kib(&format!("/proc/{}/status", self.pid))
    }

    /// Its peak resident set so far, in MiB.
    ///
    /// # Errors
    /// As [`Server::peak_rss_kib`].
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        Ok(self.peak_rss_kib()? as f64 / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Starts `target/release/local-media` on `port` and waits until it listens.
///
/// # Errors
/// When it does not start or listen within 10 s.
pub async fn start_server(plan: &Plan, env: &[(String, String)], port: u16) -> anyhow::Result<Server> {
    let child = tokio::process::Command::new(plan.release_dir.join("local-media"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("LOCAL_MEDIA_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("start target/release/local-media")?;
    let pid = child.id().context("the server's pid")?;
    let server = Server { child, pid };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("local-media did not listen on {port}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(server)
}
