//! Streaming through the storage layer: `save_proxied_file` then `get_file_stream` of a body
//! generated on the fly, in a child process of its own (`files-bench stream`) so that its peak
//! RSS is that of the storage layer alone.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use files_core::keys::{ContentType, FileKey, OriginalFilename};
use files_core::storage::{build_objects, ByteStream, PutConstraints};
use files_core::Settings;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

const CHUNK: usize = 64 * 1024;
const PATTERN: usize = 1024 * 1024;

/// What the child reports on its last line of output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamResult {
    /// Bytes saved and read back.
    pub bytes: u64,
    /// `save_proxied_file`, seconds.
    pub save_seconds: f64,
    /// `get_file_stream` to the last byte, seconds.
    pub read_seconds: f64,
    /// Peak RSS of the process (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
}

/// `len` (a multiple of 8) pseudo-random bytes from xorshift64, continuing from `state`:
/// incompressible enough that no layer can shortcut them.
pub fn noise(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len / 8)
        .flat_map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            state.to_le_bytes()
        })
        .collect()
}

/// A body of `size` bytes, made of 64 KiB slices of one random 1 MiB pattern: nothing but the
/// pattern is ever held, however large the body.
pub fn generated_body(size: u64) -> ByteStream {
    let pattern = Bytes::from(noise(&mut 0x9E37_79B9_7F4A_7C15_u64, PATTERN));
    let stream = futures_util::stream::unfold(0u64, move |sent| {
        let pattern = pattern.clone();
        async move {
            if sent >= size {
                return None;
            }
            let len = (size - sent).min(CHUNK as u64) as usize;
            let offset = (sent % PATTERN as u64) as usize;
            let chunk = pattern.slice(offset..offset + len);
            Some((Ok(chunk), sent + len as u64))
        }
    });
    Box::pin(stream)
}

/// The child: saves and reads back `mib` MiB with the storage the environment configures,
/// deletes it, and prints a [`StreamResult`] as JSON.
///
/// # Errors
/// When the settings are invalid or the storage fails.
pub async fn child(mib: u64) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let storage = build_objects(&settings.storage).await?;
    let size = mib * 1024 * 1024;
    let key = FileKey::generate(&OriginalFilename::parse("stream.bin")?);
    let constraints = PutConstraints {
        content_type: ContentType::parse("application/octet-stream")?,
        exact_size: Some(size),
        max_size: size,
        checksum_sha256: None,
    };
    let started = Instant::now();
    let meta = storage.save_proxied_file(&key, generated_body(size), &constraints).await.context("save")?;
    let save_seconds = started.elapsed().as_secs_f64();
    if meta.size != size {
        bail!("saved {} bytes of {size}", meta.size);
    }
    let started = Instant::now();
    let mut stream = storage.get_file_stream(&key).await.context("open the stream")?;
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        read += chunk.context("read")?.len() as u64;
    }
    let read_seconds = started.elapsed().as_secs_f64();
    storage.delete_file(&key).await.context("delete")?;
    if read != size {
        bail!("read {read} bytes of {size}");
    }
    let peak_rss_kib = crate::emulator::peak_rss_kib("/proc/self/status")?;
    let result = StreamResult { bytes: size, save_seconds, read_seconds, peak_rss_kib };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Runs `files-bench stream --mib <mib>` with `env` (and nothing else) and returns its result;
/// the child is killed after `limit`.
///
/// # Errors
/// When the child fails, times out, or prints no result.
pub async fn measure(exe: &Path, env: &[(String, String)], mib: u64, limit: Duration) -> anyhow::Result<StreamResult> {
    let mib_arg = mib.to_string();
    crate::child::run(exe, &["stream", "--mib", &mib_arg], env, limit, &format!("streaming {mib} MiB")).await
}
