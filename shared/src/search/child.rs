//! The extractor child: an executable started with [`EXTRACTOR_ARG`] reads a document on its
//! standard input and writes its text, under an address-space limit, so that a hostile document
//! can at worst kill the child, never the function.

use super::extract::{normalise, truncate, EXIT_UNREADABLE, EXTRACTOR_ARG};

/// The `main` of a function that extracts text (s3-indexer): the document text extractor when
/// started as one ([`serve_if_asked`], before any thread), otherwise
/// `serve` on a multi-threaded Tokio runtime, as `#[tokio::main]` would run it.
///
/// # Errors
/// `serve`'s, or the runtime's when it cannot be built.
pub fn run_or_extract<E: From<std::io::Error>>(
    serve: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), E> {
    serve_if_asked();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve)
}

/// When the process was started as a document text extractor ([`EXTRACTOR_ARG`]), does that and
/// exits; otherwise returns at once. Every executable that extracts text calls it first thing
/// in `main`: the functions through [`run_or_extract`], files-extract, and the tools
/// (files-admin, files-bench).
pub fn serve_if_asked() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(EXTRACTOR_ARG) {
        return;
    }
    let max_chars = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let max_memory = args.next().and_then(|a| a.parse::<u64>().ok());
    let kind = args.next().unwrap_or_default();
    if let Some(limit) = max_memory {
        limit_address_space(limit);
    }
    let mut bytes = Vec::new();
    let (code, out) = match std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes) {
        Err(e) => (EXIT_UNREADABLE, format!("unreadable pdf: {e}")),
        Ok(_) => match super::office::child_text(&kind, bytes, max_chars) {
            Ok(text) => (0, truncate(&normalise(&text), max_chars)),
            Err(reason) => (EXIT_UNREADABLE, reason),
        },
    };
    let mut stdout = std::io::stdout().lock();
    let written =
        std::io::Write::write_all(&mut stdout, out.as_bytes()).and_then(|()| std::io::Write::flush(&mut stdout));
    std::process::exit(if written.is_ok() { code } else { 1 });
}

/// Caps the process's address space, so that a decompression bomb fails an allocation (and
/// aborts this child) instead of exhausting the function's memory.
fn limit_address_space(bytes: u64) {
    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
    // SAFETY: setrlimit reads the struct it is given and changes only this process's limit.
    let result = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    if result != 0 {
        eprintln!("pdf extractor: the address-space limit could not be set");
    }
}
