//! Logging for every function: tracing to stdout, where Lambda collects it.
//!
//! As `lambda_runtime`'s default subscriber (Lambda's advanced logging controls:
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO`; JSON lines when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`; no timestamps, which Lambda adds), but filtered by level only:
//! the default's per-module directive filter links a regular-expression engine and its Unicode
//! tables into every function, a fifth of a small function's size. A value that is not a level
//! (such as `files_core=debug`) falls back to `INFO`.

use std::io::IsTerminal as _;
use std::str::FromStr as _;

use lambda_http::tracing::subscriber::filter::LevelFilter;

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
        .with_max_level(level)
        .with_ansi(!json && std::io::stdout().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
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
    fn the_level_comes_from_lambda_then_rust_log_then_info() {
        assert_eq!(level(Some("DEBUG"), Some("error")), LevelFilter::DEBUG);
        assert_eq!(level(None, Some("warn")), LevelFilter::WARN);
        assert_eq!(level(None, None), LevelFilter::INFO);
        assert_eq!(level(None, Some("files_core=debug")), LevelFilter::INFO);
        assert_eq!(level(Some("trace"), None), LevelFilter::TRACE);
    }
}
