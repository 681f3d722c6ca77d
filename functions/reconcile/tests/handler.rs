//! reconcile through the scheduled event EventBridge sends (`infra/events/`), against a real
//! PostgreSQL and media root.

use files_core::reconcile::{Policy, Reconciler, Summary};
use files_core::state::FromSettings as _;
use files_testkit::{caller, TestApp};
use lambda_runtime::{Context, LambdaEvent};
use reconcile::{handle, State};

fn scheduled() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../infra/events/eventbridge-schedule.json")).unwrap()
}

#[tokio::test]
async fn a_scheduled_run_expires_an_abandoned_upload_and_leaves_a_recent_one() {
    let app = TestApp::new().await;
    let alice = caller("alice", "acme", &[]);
    let old = app.initiate(&alice, "abandoned.txt", "text/plain", b"abandoned", false).await;
    app.store(old.file_key.as_str(), "text/plain", b"abandoned").await;
    let recent = app.initiate(&alice, "recent.txt", "text/plain", b"recent", false).await;
    let client = app.db.client().await;
    client
        .execute("UPDATE stored_files SET created_at = now() - interval '2 days' WHERE id = $1", &[&old.file_id])
        .await
        .unwrap();
    let state = State {
        reconciler: Reconciler::from_settings(&app.settings).await.unwrap(),
        policy: Policy { pending_ttl: app.settings.upload.pending_ttl, ..Default::default() },
    };

    let summary = handle(&state, LambdaEvent::new(scheduled(), Context::default())).await.unwrap();

    assert_eq!(summary, Summary { expired: 1, objects_removed: 1, ..Summary::default() });
    assert_eq!(app.status_of(old.file_id).await.as_deref(), Some("expired"));
    assert_eq!(app.status_of(recent.file_id).await.as_deref(), Some("pending"));
    assert!(app.stored_paths().iter().all(|p| !p.ends_with(old.file_key.as_str())), "{:?}", app.stored_paths());
    assert_eq!(app.settings.upload.pending_ttl, std::time::Duration::from_secs(86_400));
}
