//! `files-admin reconcile`, the real binary, on both storage backends: never-confirmed uploads
//! past the pending TTL expire and lose their objects, everything else is left alone, a second
//! run at once does nothing, and outbox entries left undelivered are applied.

use std::collections::HashMap;

use files_core::services::ConfirmUploadRequest;
use files_testkit::{caller, Backend, TestApp};

/// The environment `app` was built from, for the binary.
fn env_of(app: &TestApp, backend: Backend) -> HashMap<String, String> {
    let mut env = files_testkit::test_env(app.media.path(), &app.db.url);
    if backend == Backend::S3 {
        env.remove("LOCAL_MEDIA_ROOT");
        env.extend(files_testkit::s3_env(&app.settings.storage.s3().unwrap().bucket));
    }
    env
}

fn reconcile(env: &HashMap<String, String>) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_files-admin"))
        .arg("reconcile")
        .env_clear()
        .envs(env)
        .output()
        .expect("files-admin runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn exists(app: &TestApp, key: &files_core::keys::FileKey) -> bool {
    app.objects.file_exists(key).await.unwrap()
}

async fn make_old(app: &TestApp, ids: &[uuid::Uuid]) {
    let client = app.db.client().await;
    client
        .execute("UPDATE stored_files SET created_at = now() - interval '2 days' WHERE id = ANY($1)", &[&ids])
        .await
        .unwrap();
}

async fn expires_old_uploads_and_leaves_the_rest(backend: Backend) {
    let app = TestApp::with_backend(backend, &[]).await;
    let env = env_of(&app, backend);
    let alice = caller("alice", "acme", &[]);
    let old = app.initiate(&alice, "old.txt", "text/plain", b"abandoned", false).await;
    app.store(old.file_key.as_str(), "text/plain", b"abandoned").await;
    let old_empty = app.initiate(&alice, "never sent.txt", "text/plain", b"nothing", false).await;
    let recent = app.initiate(&alice, "recent.txt", "text/plain", b"on its way", false).await;
    app.store(recent.file_key.as_str(), "text/plain", b"on its way").await;
    let available = app.upload(&alice, "kept.txt", "text/plain", b"kept").await;
    make_old(&app, &[old.file_id, old_empty.file_id, available.id]).await;

    let first = reconcile(&env);
    let again = reconcile(&env);

    assert!(first.contains("2 pending uploads expired (2 objects removed)"), "{first}");
    assert!(again.contains("0 pending uploads expired"), "{again}");
    assert_eq!(app.status_of(old.file_id).await.as_deref(), Some("expired"));
    assert_eq!(app.status_of(old_empty.file_id).await.as_deref(), Some("expired"));
    assert_eq!(app.status_of(recent.file_id).await.as_deref(), Some("pending"));
    assert_eq!(app.status_of(available.id).await.as_deref(), Some("available"));
    assert!(!exists(&app, &old.file_key).await, "the expired upload's object is gone");
    assert!(exists(&app, &recent.file_key).await);
    assert!(exists(&app, &available.file_key).await);
    // An expired upload is no upload: its confirm finds nothing.
    let confirm = ConfirmUploadRequest { file_key: old.file_key.to_string() };
    let refused = app.confirm.files.confirm_upload(&alice, confirm).await;
    assert!(matches!(refused, Err(files_core::services::ServiceError::UploadNotFound)), "{refused:?}");

    // While another run holds the lock, a run does nothing.
    let holder = app.db.client().await;
    holder.execute("SELECT pg_advisory_lock($1)", &[&files_core::reconcile::LOCK_KEY]).await.unwrap();
    make_old(&app, &[recent.file_id]).await;
    let locked = reconcile(&env);
    assert!(locked.contains("another run holds the lock"), "{locked}");
    assert_eq!(app.status_of(recent.file_id).await.as_deref(), Some("pending"));
    drop(holder);
}

#[tokio::test]
async fn reconcile_expires_old_uploads_and_leaves_the_rest_on_the_local_backend() {
    expires_old_uploads_and_leaves_the_rest(Backend::Local).await;
}

#[tokio::test]
async fn reconcile_expires_old_uploads_and_leaves_the_rest_on_s3() {
    expires_old_uploads_and_leaves_the_rest(Backend::S3).await;
}

#[tokio::test]
async fn reconcile_applies_outbox_entries_left_undelivered() {
    let app = TestApp::new().await;
    let env = env_of(&app, Backend::Local);
    let alice = caller("alice", "acme", &[]);
    // Confirmed, and its entry never delivered (no worker ran).
    let upload = app.initiate(&alice, "lost message.txt", "text/plain", b"an axolotl", false).await;
    app.store(upload.file_key.as_str(), "text/plain", b"an axolotl").await;
    let confirm = ConfirmUploadRequest { file_key: upload.file_key.to_string() };
    let file = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();
    let fresh = reconcile(&env);
    assert!(fresh.contains("0 applied"), "an entry younger than the delay is left to its message: {fresh}");
    app.db.client().await.execute("UPDATE index_outbox SET created_at = now() - interval '1 hour'", &[]).await.unwrap();

    let out = reconcile(&env);

    assert!(out.contains("1 applied"), "{out}");
    assert_eq!(app.outbox.pending().await.unwrap(), 0);
    assert_eq!(app.found(&alice, "axolotl").await, vec![file.id]);
}
