//! The measuring children (`files-bench stream`, `files-bench extract-pdf`): each runs in a
//! process of its own so that its peak RSS is its work's alone, and reports one JSON line.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::de::DeserializeOwned;

/// Runs `exe args…` with `env` (and nothing else), kills it after `limit`, and parses the last
/// line it printed. `what` names the work in errors.
///
/// # Errors
/// When the child fails, times out, or prints no result.
pub async fn run<T: DeserializeOwned>(
    exe: &Path,
    args: &[&str],
    env: &[(String, String)],
    limit: Duration,
    what: &str,
) -> anyhow::Result<T> {
    let child = tokio::process::Command::from({
        let mut command = Command::new(exe);
        command
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    })
    .kill_on_drop(true)
    .spawn()
    .with_context(|| format!("spawn the child for {what}"))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("{what} took longer than {limit:?}"))??;
    if !output.status.success() {
        bail!("{what} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    let out = String::from_utf8_lossy(&output.stdout);
    let last = out.lines().last().with_context(|| format!("the child for {what} printed nothing"))?;
    serde_json::from_str(last).with_context(|| format!("unexpected output of {what}: {last}"))
}
