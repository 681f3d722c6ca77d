//! `files-admin reindex` rebuilds the search index from PostgreSQL, run as the real binary
//! against the real database and search server.

use files_testkit::{caller, TestApp};

#[tokio::test]
async fn reindex_rebuilds_the_index_from_the_database_behind_a_new_index() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let alice = caller("alice", "acme", &[]);
    let file = app.upload(&alice, "plain.txt", "text/plain", b"nothing special").await;
    let kept = app.upload(&alice, "kept.txt", "text/plain", b"kept as it is").await;
    // The database changes behind the index's back: only a rebuild can catch up.
    let client = app.db.client().await;
    client
        .execute("UPDATE stored_files SET original_filename = 'renamed narwhal.txt' WHERE id = $1", &[&file.id])
        .await
        .unwrap();
    assert!(app.found(&alice, "narwhal").await.is_empty());
    let before = app.elastic().aliased_indexes().await.unwrap();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_files-admin"))
        .arg("reindex")
        .env_clear()
        .envs(files_testkit::test_env(app.media.path(), &app.db.url))
        .env("ELASTICSEARCH_URL", app.settings.search.elasticsearch_url.as_deref().unwrap())
        .env("ELASTICSEARCH_INDEX", &app.settings.search.index)
        .output()
        .expect("files-admin runs");

    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("reindexed 2 files"));
    assert_eq!(app.found(&alice, "narwhal").await, vec![file.id]);
    assert_eq!(app.found(&alice, "kept").await, vec![kept.id]);
    let after = app.elastic().aliased_indexes().await.unwrap();
    assert_eq!(after.len(), 1);
    assert_ne!(after, before);
}
