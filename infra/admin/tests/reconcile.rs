//! `files-admin reconcile`, the real binary, on both storage backends: never-confirmed uploads
//! past the pending TTL expire and lose their objects, objects no live file has are removed after
//! the grace period (and on a versioned bucket the versions a file does not pin), index documents
//! that differ from the database are refreshed on both search backends, everything else is left
//! alone, two runs at once never act twice, and outbox entries left undelivered are applied.

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
    reconcile_with(env, &[])
}

fn reconcile_with(env: &HashMap<String, String>, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_files-admin"))
        .arg("reconcile")
        .args(args)
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
    let confirm = ConfirmUploadRequest { file_key: old.file_key.to_string(), parts: None };
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
    let confirm = ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let file = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();
    let fresh = reconcile(&env);
    assert!(fresh.contains("0 applied"), "an entry younger than the delay is left to its message: {fresh}");
    app.db.client().await.execute("UPDATE index_outbox SET created_at = now() - interval '1 hour'", &[]).await.unwrap();

    let out = reconcile(&env);

    assert!(out.contains("1 applied"), "{out}");
    assert_eq!(app.outbox.pending().await.unwrap(), 0);
    assert_eq!(app.found(&alice, "axolotl").await, vec![file.id]);
}

#[tokio::test]
async fn two_runs_at_once_never_expire_an_upload_twice() {
    let app = TestApp::new().await;
    let env = env_of(&app, Backend::Local);
    let alice = caller("alice", "acme", &[]);
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(app.initiate(&alice, &format!("abandoned {i}.txt"), "text/plain", b"x", false).await.file_id);
    }
    make_old(&app, &ids).await;

    let runs: Vec<std::thread::JoinHandle<String>> = (0..2)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || reconcile_with(&env, &["--page", "5"]))
        })
        .collect();
    let outputs: Vec<String> = runs.into_iter().map(|r| r.join().unwrap()).collect();

    let expired: usize = outputs
        .iter()
        .filter_map(|out| out.split(" pending uploads expired").next()?.rsplit(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(expired, ids.len(), "each upload expired by exactly one run: {outputs:?}");
    for id in &ids {
        assert_eq!(app.status_of(*id).await.as_deref(), Some("expired"));
    }
}

/// The object store's view of `key`: its versions (S3) or whether it exists.
async fn s3_versions(s3: &files_core::storage::s3::S3ObjectStore, key: &str) -> Vec<String> {
    let listed = s3.client().list_object_versions().bucket(s3.bucket()).prefix(key).send().await.unwrap();
    let mut all: Vec<String> = listed.versions().iter().filter_map(|v| v.version_id().map(str::to_owned)).collect();
    all.extend(listed.delete_markers().iter().filter_map(|m| m.version_id().map(str::to_owned)));
    all
}

async fn put_raw(s3: &files_core::storage::s3::S3ObjectStore, key: &str, body: &'static [u8]) {
    s3.client()
        .put_object()
        .bucket(s3.bucket())
        .key(key)
        .content_type("text/plain")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(body))
        .send()
        .await
        .unwrap();
}

fn counted(out: &str, what: &str) -> usize {
    out.split(what).next().and_then(|head| head.rsplit(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

async fn removes_orphans_after_the_grace_period_and_nothing_else(backend: Backend) {
    let app = TestApp::with_backend(backend, &[]).await;
    let mut env = env_of(&app, backend);
    let alice = caller("alice", "acme", &[]);
    let s3 = match backend {
        Backend::S3 => {
            let s3 = files_core::storage::s3::S3ObjectStore::new(app.settings.storage.s3().unwrap()).await.unwrap();
            let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build();
            s3.client()
                .put_bucket_versioning()
                .bucket(s3.bucket())
                .versioning_configuration(versioning)
                .send()
                .await
                .unwrap();
            Some(s3)
        }
        Backend::Local => None,
    };
    let available = app.upload(&alice, "kept.txt", "text/plain", b"kept").await;
    let pending = app.initiate(&alice, "on its way.txt", "text/plain", b"on its way", false).await;
    app.store(pending.file_key.as_str(), "text/plain", b"on its way").await;
    // Bytes no file has: written behind the service's back.
    let stray = files_core::keys::FileKey::generate(&files_core::keys::OriginalFilename::parse("stray.txt").unwrap());
    app.store(stray.as_str(), "text/plain", b"nobody's").await;
    let mut orphans = vec![stray.clone()];
    let mut expected_versions_removed = 0;
    match &s3 {
        Some(s3) => {
            // A deleted file's upload URL replayed: the key comes back without a file.
            let deleted = app.upload(&alice, "deleted.txt", "text/plain", b"deleted").await;
            app.delete.files.delete_file(&alice, deleted.id).await.unwrap();
            put_raw(s3, deleted.file_key.as_str(), b"replayed").await;
            orphans.push(deleted.file_key.clone());
            // A replay over an available file: a second version the file does not pin.
            put_raw(s3, available.file_key.as_str(), b"replayed over").await;
            expected_versions_removed = 1;
        }
        None => {
            // A write that crashed between its bytes and its metadata: bytes without a sidecar.
            let bare =
                files_core::keys::FileKey::generate(&files_core::keys::OriginalFilename::parse("bare.bin").unwrap());
            std::fs::write(app.media.path().join(bare.as_str()), b"half written").unwrap();
            orphans.push(bare);
        }
    }

    let within_grace = reconcile(&env);
    assert_eq!(counted(&within_grace, " orphan keys"), 0, "{within_grace}");
    for key in &orphans {
        assert!(app.media.path().join(key.as_str()).exists() || exists(&app, key).await, "{key} is young: kept");
    }

    env.insert("UPLOAD_ORPHAN_GRACE_SECONDS".to_owned(), "0".to_owned());
    let swept = reconcile(&env);
    let again = reconcile(&env);

    assert_eq!(counted(&swept, " orphan keys"), orphans.len(), "{swept}");
    assert_eq!(counted(&swept, " unpinned versions removed"), expected_versions_removed, "{swept}");
    assert_eq!(counted(&again, " orphan keys"), 0, "{again}");
    assert_eq!(counted(&again, " unpinned versions removed"), 0, "{again}");
    for key in &orphans {
        assert!(!exists(&app, key).await, "{key} is gone");
        assert!(!app.media.path().join(key.as_str()).exists(), "{key}: no bytes left");
        if let Some(s3) = &s3 {
            assert!(s3_versions(s3, key.as_str()).await.is_empty(), "{key}: no version left");
        }
    }
    assert!(exists(&app, &available.file_key).await);
    assert!(exists(&app, &pending.file_key).await);
    assert_eq!(app.status_of(pending.file_id).await.as_deref(), Some("pending"));
    assert_eq!(app.status_of(available.id).await.as_deref(), Some("available"));
    if let Some(s3) = &s3 {
        let pinned = app.repo.find_by_key("acme", &available.file_key).await.unwrap().unwrap().object_version;
        let pinned = pinned.expect("a versioned bucket pins the confirmed version").as_str().to_owned();
        assert_eq!(s3_versions(s3, available.file_key.as_str()).await, vec![pinned], "only the pinned version is left");
        let current = app.objects.get_file_stream(&available.file_key).await.unwrap();
        let bytes: Vec<u8> =
            futures_util::TryStreamExt::try_concat(futures_util::TryStreamExt::map_ok(current, |b| b.to_vec()))
                .await
                .unwrap();
        assert_eq!(bytes, b"kept", "the file's own bytes are current again");
    }
}

#[tokio::test]
async fn reconcile_removes_orphan_objects_after_the_grace_period_on_the_local_backend() {
    removes_orphans_after_the_grace_period_and_nothing_else(Backend::Local).await;
}

#[tokio::test]
async fn reconcile_removes_orphan_objects_and_unpinned_versions_after_the_grace_period_on_s3() {
    removes_orphans_after_the_grace_period_and_nothing_else(Backend::S3).await;
}

/// Drift on either search backend: a document lost, a document left at an older version with
/// other words, and (Elasticsearch, where a document can outlive its row) a document of a file
/// deleted behind the service's back.
async fn repairs_index_drift(app: TestApp, env: HashMap<String, String>) {
    let alice = caller("alice", "acme", &[]);
    let lost = app.upload(&alice, "lost.txt", "text/plain", b"a lost pangolin").await;
    let stale = app.upload(&alice, "stale.txt", "text/plain", b"a fresh tapir").await;
    let gone = app.upload(&alice, "gone.txt", "text/plain", b"a vanished okapi").await;
    let kept = app.upload(&alice, "kept.txt", "text/plain", b"a steady wombat").await;
    let client = app.db.client().await;
    let elastic = app.settings.search.elasticsearch_url.is_some();
    let version_of = |key: &files_core::keys::FileKey| {
        let (client, key) = (&client, key.as_str().to_owned());
        async move {
            client
                .query_one("SELECT version FROM index_state WHERE file_key = $1", &[&key])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    if elastic {
        let index = app.elastic();
        use files_core::search::{IndexDocuments as _, Removal, SearchDocument, Upsert};
        // The lost document was removed by a change the database has no file for any more.
        let v = version_of(&lost.file_key).await;
        index.write(&[], &[Removal { file_key: lost.file_key.clone(), version: v + 1 }]).await.unwrap();
        // The stale one was written with other words at a version older than its key's last.
        let v = version_of(&stale.file_key).await;
        let record = app.repo.find_by_key("acme", &stale.file_key).await.unwrap().unwrap();
        let old = Upsert { document: SearchDocument::of(record, Ok("an old pelican".to_owned())), version: v + 1 };
        index.write(&[old], &[]).await.unwrap();
        // The gone one's file was deleted behind the service's back (no outbox entry).
        client.execute("DELETE FROM stored_files WHERE id = $1", &[&gone.id]).await.unwrap();
        client
            .execute(
                "UPDATE index_state SET version = version + 3 WHERE file_key = ANY($1)",
                &[&vec![lost.file_key.as_str(), stale.file_key.as_str()]],
            )
            .await
            .unwrap();
    } else {
        client.execute("DELETE FROM file_search_text WHERE file_id = $1", &[&lost.id]).await.unwrap();
        client
            .execute(
                "UPDATE file_search_text SET content = 'an old pelican', document = to_tsvector('simple', 'an old pelican'), \
                 version = version - 1 WHERE file_id = $1",
                &[&stale.id],
            )
            .await
            .unwrap();
    }
    assert!(app.found(&alice, "pangolin").await.is_empty(), "the lost document is lost");
    assert_eq!(app.found(&alice, "pelican").await, vec![stale.id], "the stale document is stale");
    // The service's answers come from rows, so the index itself is asked about the deleted file.
    let held = |key: files_core::keys::FileKey| {
        let index = app.elastic();
        async move { !files_core::search::IndexInventory::documents_of(&index, &[key]).await.unwrap().is_empty() }
    };
    if elastic {
        assert!(held(gone.file_key.clone()).await, "the deleted file's document is left over");
    }

    // Files confirmed less than the delay ago are still on their way: not missing yet.
    let first = reconcile(&env);
    let out = reconcile_with(&env, &["--resend-after-seconds", "0"]);
    let again = reconcile_with(&env, &["--resend-after-seconds", "0"]);

    let stale_expected = if elastic { 2 } else { 1 };
    assert_eq!((counted(&first, " stale and"), counted(&first, " missing documents")), (stale_expected, 0), "{first}");
    assert_eq!((counted(&out, " stale and"), counted(&out, " missing documents")), (0, 1), "{out}");
    assert_eq!((counted(&again, " stale and"), counted(&again, " missing documents")), (0, 0), "{again}");
    assert_eq!(app.found(&alice, "pangolin").await, vec![lost.id]);
    assert_eq!(app.found(&alice, "tapir").await, vec![stale.id]);
    assert!(app.found(&alice, "pelican").await.is_empty());
    if elastic {
        app.elastic().refresh().await.unwrap();
        assert!(!held(gone.file_key.clone()).await, "the deleted file's document is gone");
    } else {
        assert_eq!(app.found(&alice, "okapi").await, vec![gone.id], "untouched");
    }
    assert_eq!(app.found(&alice, "wombat").await, vec![kept.id]);
    assert_eq!(app.outbox.pending().await.unwrap(), 0, "every repair was applied");
}

#[tokio::test]
async fn reconcile_repairs_index_drift_on_the_postgres_fallback() {
    let app = TestApp::new().await;
    let env = env_of(&app, Backend::Local);
    repairs_index_drift(app, env).await;
}

#[tokio::test]
async fn reconcile_repairs_index_drift_on_the_search_server() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let mut env = env_of(&app, Backend::Local);
    env.insert("ELASTICSEARCH_URL".to_owned(), files_testkit::elasticsearch_url());
    env.insert("ELASTICSEARCH_INDEX".to_owned(), app.settings.search.index.clone());
    repairs_index_drift(app, env).await;
}

/// Multipart uploads begun before the pending TTL are aborted (their parts go), later ones are
/// left alone.
async fn aborts_stale_multipart_uploads(backend: Backend) {
    let app = TestApp::with_backend(backend, &[]).await;
    let mut env = env_of(&app, backend);
    env.insert("UPLOAD_PENDING_TTL_SECONDS".into(), "3".into());
    let store = files_core::storage::build_uploads(&app.settings.storage).await.unwrap().2;
    let content_type = files_core::keys::ContentType::parse("text/plain").unwrap();
    let name = files_core::keys::OriginalFilename::parse("parts.txt").unwrap();
    let (old_key, new_key) = (files_core::keys::FileKey::generate(&name), files_core::keys::FileKey::generate(&name));
    let old = store.create_multipart(&old_key, &content_type).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let new = store.create_multipart(&new_key, &content_type).await.unwrap();

    let out = reconcile(&env);

    assert_eq!(counted(&out, " multipart uploads aborted"), 1, "{out}");
    assert!(matches!(store.list_parts(&old_key, &old).await, Err(files_core::storage::StorageError::NotFound)));
    assert!(store.list_parts(&new_key, &new).await.is_ok(), "a recent upload is left alone");
}

#[tokio::test]
async fn reconcile_aborts_stale_multipart_uploads_on_the_local_backend() {
    aborts_stale_multipart_uploads(Backend::Local).await;
}

#[tokio::test]
async fn reconcile_aborts_stale_multipart_uploads_on_s3() {
    aborts_stale_multipart_uploads(Backend::S3).await;
}
