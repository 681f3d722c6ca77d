//! Logging for every function: tracing to stdout, where Lambda collects it.
//!
//! As `lambda_runtime`'s default subscriber (Lambda's advanced logging controls:
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO`; JSON lines when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`; no timestamps, which Lambda adds), but filtered by level only:
//! the default's per-module directive filter links a regular-expression engine and its Unicode
//! tables into every function, a fifth of a small function's size. A value that is not a level
//! (such as `files_core=debug`) falls back to `INFO`.
//!
//! The level applies to this service's own crates only; every other crate is capped at `INFO`
//! ([`filter`]). Their `DEBUG` and `TRACE` events carry what must never reach a log: the
//! runtime logs every raw event (its bearer token included) at `TRACE`, and HTTP and database
//! clients log headers and connection details. Our own events never hold a token, a signature or
//! a password.

use std::io::IsTerminal as _;
use std::str::FromStr as _;

use lambda_http::tracing::subscriber::filter::{LevelFilter, Targets};
use lambda_http::tracing::subscriber::layer::SubscriberExt as _;
use lambda_http::tracing::subscriber::util::SubscriberInitExt as _;

/// The crates (log targets) of this service.
pub const OWN_TARGETS: &[&str] = &[
    "files_core",
    "initiate_upload",
    "confirm_upload",
    "upload_local",
    "get_file",
    "download_url",
    "delete_file",
    "search_files",
    "local_media",
    "s3_indexer",
];

/// The filter of `level`: our own crates at `level`, every other at `level` or `INFO`,
/// whichever shows less. Matching is by target prefix, with no regular expressions.
pub fn filter(level: LevelFilter) -> Targets {
    OWN_TARGETS.iter().fold(Targets::new().with_default(level.min(LevelFilter::INFO)), |targets, own| {
        targets.with_target(*own, level)
    })
}

/// The level named by the environment.
fn level(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    aws_lambda_log_level.or(rust_log).and_then(|v| LevelFilter::from_str(v.trim()).ok()).unwrap_or(LevelFilter::INFO)
}

/// Installs the subscriber; call once, first thing in `main`.
pub fn init() {
    let var = |name: &str| std::env::var(name).ok();
    let level = level(var("AWS_LAMBDA_LOG_LEVEL").as_deref(), var("RUST_LOG").as_deref());
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = lambda_http::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(!json && std::io::stdout().is_terminal());
    if json {
        builder.json().finish().with(filter(level)).init();
    } else {
        builder.finish().with(filter(level)).init();
    }
}

/// `outer: inner: innermost`, for logs.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_crates_never_log_below_info_whatever_the_level() {
        use lambda_http::tracing::Level;
        let trace = filter(LevelFilter::TRACE);
        assert!(!trace.would_enable("lambda_runtime::layers::api_response", &Level::TRACE), "raw events");
        for target in ["lambda_http", "hyper", "aws_smithy_runtime", "tokio_postgres", "reqwest", "elasticsearch"] {
            assert!(!trace.would_enable(target, &Level::DEBUG), "{target}");
            assert!(trace.would_enable(target, &Level::INFO), "{target}");
        }
        for own in ["files_core::services::upload", "confirm_upload", "s3_indexer"] {
            assert!(trace.would_enable(own, &Level::TRACE), "{own}");
        }
        let warn = filter(LevelFilter::WARN);
        assert!(!warn.would_enable("files_core", &Level::INFO));
        assert!(!warn.would_enable("hyper", &Level::INFO));
        assert!(warn.would_enable("hyper", &Level::WARN));
    }

    #[test]
    fn the_level_comes_from_lambda_then_rust_log_then_info() {
        assert_eq!(level(Some("DEBUG"), Some("error")), LevelFilter::DEBUG);
        assert_eq!(level(None, Some("warn")), LevelFilter::WARN);
        assert_eq!(level(None, None), LevelFilter::INFO);
        assert_eq!(level(None, Some("files_core=debug")), LevelFilter::INFO);
        assert_eq!(level(Some("trace"), None), LevelFilter::TRACE);
    }
}
