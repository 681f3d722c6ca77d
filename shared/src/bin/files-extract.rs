//! The PDF text extractor on its own: what the functions run as their child when
//! `EXTRACT_PROGRAM` is unset, for tests and tools whose own executable is not one
//! (`EXTRACT_PROGRAM=target/debug/files-extract`). Document on standard input, text on output.

fn main() {
    files_core::search::extract::serve_if_asked();
    eprintln!(
        "usage: files-extract {} <max-chars> <max-memory-bytes> < document.pdf",
        files_core::search::extract::EXTRACTOR_ARG
    );
    std::process::exit(2);
}
