//! `files-admin index-worker`, the real binary, applies the outbox as confirms fill it (what
//! `make dev` runs instead of the indexer's queue), and keeps extracting PDF text after its own
//! executable was replaced on disk, as a rebuild under `make dev` does.

use std::time::Duration;

use files_core::services::{ConfirmUploadRequest, SearchRequest};
use files_testkit::{caller, TestApp};

const PDF: &[u8] = include_bytes!("../../../shared/tests/fixtures/quokka.pdf");

/// Kills the worker when the test ends, however it ends.
struct Worker(std::process::Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_worker_indexes_confirmed_files_with_their_text_after_its_binary_is_replaced() {
    let app = TestApp::new().await;
    let alice = caller("alice", "acme", &[]);
    // A copy of the binary, run and then deleted: the running process's path is gone.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("files-admin");
    std::fs::copy(env!("CARGO_BIN_EXE_files-admin"), &copy).unwrap();
    let child = std::process::Command::new(&copy)
        .args(["index-worker", "--interval-ms", "50"])
        .env_clear()
        // No EXTRACT_PROGRAM: the worker is its own PDF extractor, as the functions are.
        .envs(files_testkit::function_env(app.media.path(), &app.db.url))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("the worker starts");
    let _worker = Worker(child);
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::remove_file(&copy).unwrap();
    std::fs::write(&copy, b"#!/bin/sh\nexit 1\n").unwrap();

    let upload = app.initiate(&alice, "field notes.pdf", "application/pdf", PDF, true).await;
    app.store(upload.file_key.as_str(), "application/pdf", PDF).await;
    let confirm = ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let file = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();

    // Searched without applying the outbox here: only the worker can make it findable.
    let mut found = Vec::new();
    for _ in 0..200 {
        let request = SearchRequest { q: "quokka".into(), ..Default::default() };
        found = app.finder.files.search(&alice, request).await.unwrap().files;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found.iter().map(|f| f.file.id).collect::<Vec<_>>(), vec![file.id], "found by a word of its text");
    assert_eq!(app.outbox.pending().await.unwrap(), 0);
}
