//! s3-indexer with real S3 notification JSON and outbox entries in SQS messages, against
//! PostgreSQL and the search server; and end to end with LocalStack's S3 sending real
//! notifications to an SQS queue, whose messages are handed to the handler as the event source
//! mapping would.

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsMessage;
use files_core::config::StorageBackendKind;
use files_core::file::{FileRecord, FileStatus, NewFile, StorageLocation};
use files_core::keys::{ContentType, FileKey, OriginalFilename};
use files_testkit::{caller, CutProxy, TestApp};
mod common;

use common::*;
use s3_indexer::{process, BatchFailure, Report, State};
use serde_json::Value;

/// The sample notification, with its key and sequencer replaced; the key is encoded the way
/// AWS does it (application/x-www-form-urlencoded: a space is `+`).
fn event(fixture: &str, key: &str, sequencer: &str) -> S3Event {
    let mut event: Value = serde_json::from_str(fixture).unwrap();
    let encoded: String = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+")
        .replace("%2F", "/")
        .replace("%2E", ".")
        .replace("%2D", "-")
        .replace("%5F", "_");
    event["Records"][0]["s3"]["object"]["key"] = Value::String(encoded);
    event["Records"][0]["s3"]["object"]["sequencer"] = Value::String(sequencer.to_owned());
    serde_json::from_value(event).unwrap()
}

fn created(key: &str, sequencer: &str) -> S3Event {
    event(include_str!("../../../infra/events/s3-put.json"), key, sequencer)
}

fn removed(key: &str, sequencer: &str) -> S3Event {
    event(include_str!("../../../infra/events/s3-remove.json"), key, sequencer)
}

fn state(app: &TestApp) -> State {
    State { indexer: app.indexer.clone(), outbox: app.outbox.clone() }
}

/// An SQS message as the event source mapping hands it over.
fn message(id: &str, body: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_owned());
    message
}

/// `event` as the body of one SQS message, through the handler's batch processing.
async fn run(app: &TestApp, event: S3Event) -> Result<Report, BatchFailure> {
    process(&state(app), &[message("m-1", &serde_json::to_string(&event).unwrap())]).await
}

/// A confirmed file under `key`, recorded directly (as if it came from another system).
async fn tracked(app: &TestApp, key: &str, filename: &str) -> uuid::Uuid {
    let file = NewFile {
        key: FileKey::parse(key).unwrap(),
        filename: OriginalFilename::parse(filename).unwrap(),
        content_type: ContentType::parse("application/pdf").unwrap(),
        size: 1024,
        checksum: None,
        owner: None,
    };
    let location = StorageLocation { backend: StorageBackendKind::S3, bucket: Some("files".to_owned()) };
    let row = FileRecord::new(&caller("alice", "acme", &[]), &location, file, FileStatus::Available);
    app.repo.insert(&row).await.unwrap();
    row.id
}

#[tokio::test]
async fn a_real_notification_with_an_encoded_key_indexes_the_file_it_names() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let key = "uploads/Rapport trimestriel été+2025.pdf";
    let id = tracked(&app, key, "Rapport trimestriel été 2025.pdf").await;

    let report = run(&app, created(key, "0069296B3E7F1A2B3C")).await.unwrap();

    assert_eq!(report, Report { indexed: 1, ..Report::default() });
    assert_eq!(app.found(&caller("bob", "acme", &[]), "trimestriel").await, vec![id]);
}

#[tokio::test]
async fn the_same_record_twice_leaves_one_document() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let key = "uploads/twice.pdf";
    let id = tracked(&app, key, "twice.pdf").await;

    run(&app, created(key, "0069296B3E7F1A2B3C")).await.unwrap();
    run(&app, created(key, "0069296B3E7F1A2B3C")).await.unwrap();

    let results = app.search(&caller("bob", "acme", &[]), "twice").await;
    assert_eq!(results.total, 1);
    assert_eq!(results.files[0].file.id, id);
}

#[tokio::test]
async fn a_remove_followed_by_a_late_create_leaves_no_document() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let key = "uploads/late+arrival.pdf";
    tracked(&app, key, "late arrival.pdf").await;
    run(&app, created(key, "0069296B3E7F1A2B3C")).await.unwrap();

    let removal = run(&app, removed(key, "0069296B3E7F1A2B4D")).await.unwrap();
    let late = run(&app, created(key, "0069296B3E7F1A2B3D")).await.unwrap();

    assert_eq!(removal, Report { removed: 1, ..Report::default() });
    assert_eq!(late, Report { stale: 1, ..Report::default() });
    assert!(app.found(&caller("bob", "acme", &[]), "arrival").await.is_empty());
}

#[tokio::test]
async fn an_object_no_file_has_is_removed_and_a_pending_one_is_not_indexed() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let upload = app.initiate(&caller("alice", "acme", &[]), "pending gecko.txt", "text/plain", b"gecko", false).await;

    let unknown = run(&app, created("uploads/not-ours.txt", "01")).await.unwrap();
    let pending = run(&app, created(upload.file_key.as_str(), "02")).await.unwrap();

    // No file has the key (deleted since, or never ours to keep): its bytes are removed.
    assert_eq!(unknown, Report { stray: 1, ..Report::default() });
    assert_eq!(pending, Report { not_tracked: 1, ..Report::default() });
    assert!(app.found(&caller("alice", "acme", &[]), "gecko").await.is_empty());
}

#[tokio::test]
async fn malformed_sequencers_and_foreign_keys_are_poison_messages_that_leave_no_state() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let id = tracked(&app, "uploads/capybara.pdf", "capybara.pdf").await;
    let state_rows = |key: &'static str| {
        let app = &app;
        async move {
            let client = app.db.client().await;
            client
                .query_one("SELECT count(*) FROM index_state WHERE file_key = $1", &[&key])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };

    for bad in ["not-hex", "0x1F", "", &"F".repeat(65)] {
        let failure = run(&app, created("uploads/capybara.pdf", bad)).await.expect_err(bad);
        assert_eq!(failure.keys, vec!["uploads/capybara.pdf".to_owned()], "{bad:?}");
        assert!(!failure.retryable, "{bad:?}");
    }
    assert_eq!(state_rows("uploads/capybara.pdf").await, 0, "a refused record applies nothing");
    assert!(app.found(&caller("alice", "acme", &[]), "capybara").await.is_empty());

    for foreign in ["elsewhere/capybara.pdf", "uploadsX/a.pdf", "uploads/../etc/passwd"] {
        let failure = run(&app, created(foreign, "01")).await.expect_err(foreign);
        assert_eq!(failure.keys, vec![foreign.to_owned()]);
        assert_eq!(failure.message_ids, vec!["m-1".to_owned()]);
        assert!(!failure.retryable, "a poison message: {foreign}");
    }
    assert_eq!(state_rows("elsewhere/capybara.pdf").await, 0);

    let report = run(&app, created("uploads/capybara.pdf", "0069296b3e7f1a2b3c")).await.unwrap();
    assert_eq!(report, Report { indexed: 1, ..Report::default() });
    assert_eq!(app.found(&caller("alice", "acme", &[]), "capybara").await, vec![id]);
}

#[tokio::test]
async fn a_search_outage_fails_the_invocation_and_a_retry_converges_on_the_database() {
    let proxy = CutProxy::start(&files_testkit::host_port(&files_testkit::elasticsearch_url())).await;
    let url = format!("http://{}", proxy.addr);
    let app = TestApp::with_elasticsearch(&[("ELASTICSEARCH_URL", &url)]).await;
    let keys = ["uploads/a.pdf", "uploads/b.pdf", "uploads/c.pdf"];
    let mut ids = Vec::new();
    for key in keys {
        ids.push(tracked(&app, key, &format!("outage {}", key.trim_start_matches("uploads/"))).await);
    }
    let mut batch = created(keys[0], "10");
    for key in &keys[1..] {
        batch.records.push(created(key, "11").records.remove(0));
    }

    proxy.down();
    let failure = run(&app, batch.clone()).await.expect_err("the search server is down");
    assert!(failure.retryable);
    assert_eq!(failure.keys.len(), 3);

    proxy.up();
    let report = run(&app, batch).await.unwrap();
    assert_eq!(report.indexed, 3);
    let mut found = app.found(&caller("bob", "acme", &[]), "outage").await;
    found.sort();
    ids.sort();
    assert_eq!(found, ids);
}

#[tokio::test]
async fn notifications_delivered_through_sqs_keep_the_index_in_step_with_the_bucket() {
    let app = TestApp::with_backend(files_testkit::Backend::S3, &files_testkit::search_env_refs()).await;
    app.elastic().ensure_index().await.unwrap();
    let s3 = files_core::storage::s3::S3ObjectStore::new(app.settings.storage.s3().unwrap()).await.unwrap();
    let (sqs, queue_url) = notifications(&s3).await;
    let alice = caller("alice", "acme", &[]);

    // An object arrives for a file recorded as available (e.g. by another system): only its
    // ObjectCreated notification can make it searchable.
    let key = format!("uploads/{}.txt", uuid::Uuid::new_v4());
    let id = tracked_text(&app, &key, "meerkat census.txt").await;
    s3.client()
        .put_object()
        .bucket(s3.bucket())
        .key(&key)
        .content_type("text/plain")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"a census of meerkats"))
        .send()
        .await
        .unwrap();
    for event in receive(&sqs, &queue_url, 1).await {
        assert_eq!(run(&app, event).await.unwrap().indexed, 1);
    }
    assert_eq!(app.found(&alice, "meerkats").await, vec![id]);

    // The object disappears from the bucket behind the service's back: its ObjectRemoved
    // notification takes the document out. (LocalStack stamps every notification with the same
    // sequencer, so ordering is proven with AWS-shaped events above, not here.)
    s3.client().delete_object().bucket(s3.bucket()).key(&key).send().await.unwrap();
    for event in receive(&sqs, &queue_url, 1).await {
        assert_eq!(run(&app, event).await.unwrap().removed, 1);
    }
    assert!(app.found(&alice, "meerkats").await.is_empty());
}

async fn tracked_text(app: &TestApp, key: &str, filename: &str) -> uuid::Uuid {
    let id = tracked(app, key, filename).await;
    let client = app.db.client().await;
    client
        .execute("UPDATE stored_files SET content_type = 'text/plain', size = 20 WHERE id = $1", &[&id])
        .await
        .unwrap();
    id
}

/// A fresh queue that the bucket of `s3` notifies of every created and removed object.
async fn notifications(s3: &files_core::storage::s3::S3ObjectStore) -> (aws_sdk_sqs::Client, String) {
    let sqs = sqs_client();
    let queue = sqs.create_queue().queue_name(format!("q-{}", uuid::Uuid::new_v4().simple())).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    notify(s3, &sqs, &queue_url).await;
    (sqs, queue_url)
}

/// Makes the bucket of `s3` notify `queue_url` of every created and removed object.
async fn notify(s3: &files_core::storage::s3::S3ObjectStore, sqs: &aws_sdk_sqs::Client, queue_url: &str) {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    s3.client()
        .put_bucket_notification_configuration()
        .bucket(s3.bucket())
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .events(Event::from("s3:ObjectRemoved:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&files_testkit::localstack_config())
}

#[test]
fn the_function_is_its_own_pdf_extractor() {
    files_testkit::assert_serves_pdf_extraction(env!("CARGO_BIN_EXE_s3-indexer"));
}

/// Runs every notification that arrives through the handler, as Lambda would, until one of
/// `name` (an event-name prefix) for `key` was among them; what they did, summed. LocalStack
/// stamps every notification with one sequencer, so each gets the next of `sequencer` (S3's
/// grow per key).
async fn deliver_until(
    app: &TestApp,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    sequencer: &mut u64,
    key: &str,
    name: &str,
) -> Report {
    let mut total = Report::default();
    for _ in 0..10 {
        let mut seen = false;
        for mut event in receive(sqs, queue_url, 1).await {
            for record in &mut event.records {
                *sequencer += 1;
                record.s3.object.sequencer = Some(format!("{sequencer:016X}"));
                seen |= record.s3.object.key.as_deref() == Some(key)
                    && record.event_name.as_deref().is_some_and(|n| n.starts_with(name));
            }
            let report = run(app, event).await.unwrap();
            total.indexed += report.indexed;
            total.removed += report.removed;
            total.stale += report.stale;
            total.not_tracked += report.not_tracked;
            total.stray += report.stray;
        }
        if seen {
            return total;
        }
    }
    panic!("no {name} notification for {key} arrived")
}

/// A state on a fresh S3 bucket that keeps versions, as the template's does (what is served is
/// pinned to the verified version), and a client of it.
async fn versioned_s3_app() -> (TestApp, files_core::storage::s3::S3ObjectStore) {
    let app = TestApp::with_backend(files_testkit::Backend::S3, &[]).await;
    let s3 = files_core::storage::s3::S3ObjectStore::new(app.settings.storage.s3().unwrap()).await.unwrap();
    s3.client()
        .put_bucket_versioning()
        .bucket(s3.bucket())
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    (app, s3)
}

/// Every version and delete marker under `key`.
async fn versions(s3: &files_core::storage::s3::S3ObjectStore, key: &str) -> Vec<String> {
    let listed = s3.client().list_object_versions().bucket(s3.bucket()).prefix(key).send().await.unwrap();
    let versions = listed.versions().iter().filter_map(|v| v.version_id().map(str::to_owned));
    let markers = listed.delete_markers().iter().filter_map(|m| m.version_id().map(|v| format!("marker {v}")));
    versions.chain(markers).collect()
}

async fn send_put(target: &files_core::services::InitiatedUpload, body: &'static [u8]) -> reqwest::StatusCode {
    let mut request = reqwest::Client::new().put(&target.url);
    for (name, value) in &target.headers {
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value);
        }
    }
    request.body(body).send().await.unwrap().status()
}

async fn send_post(target: &files_core::services::InitiatedUpload, body: &'static [u8]) -> reqwest::StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in &target.fields {
        form = form.text(name.clone(), value.clone());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(body).file_name("a.txt"));
    reqwest::Client::new().post(&target.url).multipart(form).send().await.unwrap().status()
}

async fn fetch(url: &str) -> (u16, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn replayed_upload_urls_and_forms_are_never_served_and_do_not_outlive_their_notification() {
    use files_core::services::{ConfirmUploadRequest, InitiateUploadRequest};
    use files_core::storage::UploadMethod;
    let (app, s3) = versioned_s3_app().await;
    let (sqs, queue_url) = notifications(&s3).await;
    let mut sequencer = 1u64;
    let alice = caller("alice", "acme", &[]);
    let upload = |method: UploadMethod| InitiateUploadRequest {
        filename: "offer.txt".into(),
        content_type: "text/plain".into(),
        size: 13,
        checksum_sha256: None,
        owner: None,
        upload_method: Some(match method {
            UploadMethod::Post => files_core::services::RequestedUploadMethod::Post,
            _ => files_core::services::RequestedUploadMethod::Put,
        }),
        part_size: None,
        checksum_crc64nvme: None,
    };
    let confirm = |key: &files_core::keys::FileKey| ConfirmUploadRequest { file_key: key.to_string(), parts: None };

    for (method, original, replayed) in [
        (UploadMethod::Put, b"original put!", b"replayed put!"),
        (UploadMethod::Post, b"original form", b"replayed form"),
    ] {
        let target = app.initiate.files.initiate_upload(&alice, upload(method)).await.unwrap();
        let key = target.file_key.to_string();
        let send = |body: &'static [u8]| {
            let target = target.clone();
            async move {
                match method {
                    UploadMethod::Post => send_post(&target, body).await,
                    _ => send_put(&target, body).await,
                }
            }
        };
        assert!(send(original).await.is_success());
        let view = app.confirm.files.confirm_upload(&alice, confirm(&target.file_key)).await.unwrap();
        let pinned = versions(&s3, &key).await;
        assert_eq!(pinned.len(), 1);
        let report = deliver_until(&app, &sqs, &queue_url, &mut sequencer, &key, "ObjectCreated:").await;
        assert_eq!(report.stray, 0, "the upload's own notification: {report:?}");

        // After confirm. A PUT is create-only (412); a form cannot be, so S3 stores a version,
        // which is never served and goes with its notification.
        let status = send(replayed).await;
        match method {
            UploadMethod::Put | UploadMethod::Multipart => assert_eq!(status.as_u16(), 412),
            UploadMethod::Post => {
                assert!(status.is_success(), "{status}");
                let signed = app.read.files.download_url(&alice, view.id, Default::default()).await.unwrap();
                assert_eq!(fetch(&signed.url).await, (200, original.to_vec()), "a URL signed after the replay");
                assert_eq!(fetch(view.download_url.as_ref().unwrap()).await, (200, original.to_vec()));
                let report = deliver_until(&app, &sqs, &queue_url, &mut sequencer, &key, "ObjectCreated:").await;
                assert_eq!(report.stray, 1, "{report:?}");
            }
        }
        assert_eq!(versions(&s3, &key).await, pinned, "only the verified bytes are kept");
        assert_eq!(app.found(&alice, "offer").await, vec![view.id], "still searchable");

        // After delete: every version goes; the replay writes a new object, which the URLs
        // signed before the delete never serve, and which goes with its notification.
        app.delete.files.delete_file(&alice, view.id).await.unwrap();
        assert_eq!(versions(&s3, &key).await, Vec::<String>::new());
        assert!(send(replayed).await.is_success());
        assert_eq!(fetch(view.download_url.as_ref().unwrap()).await.0, 404);
        let report = deliver_until(&app, &sqs, &queue_url, &mut sequencer, &key, "ObjectCreated:").await;
        assert!(report.stray >= 1, "{report:?}");
        assert_eq!(versions(&s3, &key).await, Vec::<String>::new(), "the replayed bytes are gone");
    }
}

/// Initiates, stores and confirms `bytes` without applying the outbox: the file is available,
/// its entry waits.
async fn confirmed(app: &TestApp, name: &str, bytes: &[u8]) -> files_core::services::FileView {
    let alice = caller("alice", "acme", &[]);
    let upload = app.initiate(&alice, name, "text/plain", bytes, true).await;
    app.store(upload.file_key.as_str(), "text/plain", bytes).await;
    let confirm = files_core::services::ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    app.confirm.files.confirm_upload(&alice, confirm).await.unwrap()
}

/// The outbox's entries, oldest first, as message bodies.
async fn outbox_bodies(app: &TestApp) -> Vec<String> {
    let client = app.db.client().await;
    let rows = client.query("SELECT id, file_key FROM index_outbox ORDER BY id", &[]).await.unwrap();
    rows.iter()
        .map(|r| serde_json::json!({"outbox_id": r.get::<_, i64>(0), "file_key": r.get::<_, String>(1)}).to_string())
        .collect()
}

#[tokio::test]
async fn outbox_entries_from_the_queue_converge_in_any_order_and_leave_the_outbox_empty() {
    let app = TestApp::new().await;
    let alice = caller("alice", "acme", &[]);
    let file = confirmed(&app, "tapir notes.txt", b"a tapir at the river").await;
    let confirm_entry = outbox_bodies(&app).await.remove(0);

    // (`found` applies whatever is left in the outbox first, so the outbox is checked before.)
    // The entry applied twice: one document.
    let state = state(&app);
    let report = process(&state, &[message("a", &confirm_entry), message("b", &confirm_entry)]).await.unwrap();
    assert_eq!((report.indexed, report.outbox), (2, 2));
    assert_eq!(app.outbox.pending().await.unwrap(), 0);
    assert_eq!(app.found(&alice, "tapir").await, vec![file.id]);

    // Deleted; the delete's entry, then the confirm's again, late: the file stays gone.
    app.delete.files.delete_file(&alice, file.id).await.unwrap();
    let delete_entry = outbox_bodies(&app).await.remove(0);
    let report = process(&state, &[message("c", &delete_entry), message("d", &confirm_entry)]).await.unwrap();
    assert_eq!(report.removed, 2, "{report:?}");
    assert!(app.found(&alice, "tapir").await.is_empty());
    assert_eq!(app.outbox.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn a_poison_message_fails_alone_and_the_rest_of_its_batch_is_applied() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let alice = caller("alice", "acme", &[]);
    let id = tracked(&app, "uploads/okapi.pdf", "okapi.pdf").await;
    let file = confirmed(&app, "quagga.txt", b"a quagga").await;
    let entry = outbox_bodies(&app).await.remove(0);
    let notification = serde_json::to_string(&created("uploads/okapi.pdf", "0069296B3E7F1A2B3C")).unwrap();
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-01T10:00:00.000Z","Bucket":"b"}"#;

    let failure = process(
        &state(&app),
        &[
            message("good-1", &notification),
            message("poison", "{\"not\": \"ours\"}"),
            message("good-2", &entry),
            message("test", test_event),
            message("garbage", "\u{0}\u{1} binary"),
        ],
    )
    .await
    .expect_err("two poison messages");

    assert_eq!(failure.message_ids, vec!["poison".to_owned(), "garbage".to_owned()]);
    assert!(!failure.retryable);
    assert_eq!(app.outbox.pending().await.unwrap(), 0);
    assert_eq!(app.found(&alice, "okapi").await, vec![id]);
    assert_eq!(app.found(&alice, "quagga").await, vec![file.id]);
}

/// A queue with a dead-letter queue after `max_receives` receives, and a visibility timeout of
/// one second; both URLs.
async fn queue_with_dead_letters(sqs: &aws_sdk_sqs::Client, max_receives: u32) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let name = format!("q-{}", uuid::Uuid::new_v4().simple());
    let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_owned();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap();
    (queue.queue_url().unwrap().to_owned(), dlq_url)
}

/// Polls `queue_url` as the event source mapping does until it is empty: each batch through
/// the handler, the messages that did not fail deleted. The number of batches.
async fn drain_queue(app: &TestApp, sqs: &aws_sdk_sqs::Client, queue_url: &str) -> usize {
    let mut batches = 0;
    let mut empty_polls = 0;
    while empty_polls < 3 {
        let received = poll(sqs, queue_url, 1).await;
        if received.is_empty() {
            empty_polls += 1;
            continue;
        }
        empty_polls = 0;
        batches += 1;
        let messages: Vec<SqsMessage> =
            received.iter().map(|m| message(m.message_id().unwrap(), m.body().unwrap_or_default())).collect();
        let failed = process(&state(app), &messages).await.err().map(|f| f.message_ids).unwrap_or_default();
        for m in &received {
            if !failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        assert!(batches < 30, "the queue never drained");
    }
    batches
}

#[tokio::test]
async fn confirms_reach_the_indexer_through_sqs_and_a_poison_message_ends_in_the_dead_letter_queue() {
    let sqs = sqs_client();
    let (queue_url, dlq_url) = queue_with_dead_letters(&sqs, 2).await;
    let mut overrides = files_testkit::search_env_refs();
    overrides.push(("INDEXER_QUEUE_URL", queue_url.as_str()));
    let app = TestApp::with_backend(files_testkit::Backend::S3, &overrides).await;
    app.elastic().ensure_index().await.unwrap();
    let alice = caller("alice", "acme", &[]);

    // The confirms send their entries to the queue themselves; a poison message sits among them.
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(confirmed(&app, &format!("gnu {i}.txt"), b"a herd of gnus").await.id);
    }
    sqs.send_message().queue_url(&queue_url).message_body("{\"Records\": \"nonsense\"}").send().await.unwrap();
    assert_eq!(app.outbox.pending().await.unwrap(), 3);
    drain_queue(&app, &sqs, &queue_url).await;

    assert_eq!(app.outbox.pending().await.unwrap(), 0, "every entry applied was deleted");
    let mut found = app.found(&alice, "gnus").await;
    found.sort();
    ids.sort();
    assert_eq!(found, ids, "every confirmed file is searchable");
    let dead = poll(&sqs, &dlq_url, 2).await;
    let bodies: Vec<String> = dead.iter().map(|m| m.body().unwrap_or_default().to_owned()).collect();
    assert_eq!(bodies, vec!["{\"Records\": \"nonsense\"}".to_owned()]);
}

#[tokio::test]
async fn the_text_indexed_is_that_of_the_version_the_file_pins_not_a_replay_written_after() {
    use files_core::services::{ConfirmUploadRequest, InitiateUploadRequest, RequestedUploadMethod};
    let (app, s3) = versioned_s3_app().await;
    let alice = caller("alice", "acme", &[]);
    let request = InitiateUploadRequest {
        filename: "minutes.txt".into(),
        content_type: "text/plain".into(),
        size: 15,
        checksum_sha256: None,
        owner: None,
        upload_method: Some(RequestedUploadMethod::Post),
        part_size: None,
        checksum_crc64nvme: None,
    };
    let target = app.initiate.files.initiate_upload(&alice, request).await.unwrap();
    assert!(send_post(&target, b"original walrus").await.is_success());
    let confirm = ConfirmUploadRequest { file_key: target.file_key.to_string(), parts: None };
    let file = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();
    // The form replayed before the indexer got to the confirm's entry: a newer version.
    assert!(send_post(&target, b"replays narwhal").await.is_success());
    assert_eq!(versions(&s3, target.file_key.as_str()).await.len(), 2);

    app.drain_outbox().await;

    assert_eq!(app.found(&alice, "walrus").await, vec![file.id]);
    assert!(app.found(&alice, "narwhal").await.is_empty(), "the replayed bytes were indexed as the file's text");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Outbox messages lost, duplicated, reordered and batched in any way, then whatever is
    /// left in the outbox applied (as the reconciler or the worker does): the index ends as the
    /// database is, every file kept found by its word, every deleted one gone, the outbox empty.
    #[test]
    fn any_delivery_of_outbox_messages_converges_on_the_database(
        deleted in proptest::collection::vec(proptest::bool::ANY, 3),
        deliveries in proptest::collection::vec(0usize..64, 0..12),
        batch in 1usize..4,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let app = TestApp::new().await;
            let alice = caller("alice", "acme", &[]);
            let words = ["aardvark", "bonobo", "chinchilla"];
            let mut ids = Vec::new();
            for word in words {
                ids.push(confirmed(&app, &format!("{word}.txt"), format!("a {word}").as_bytes()).await.id);
            }
            for (id, gone) in ids.iter().zip(&deleted) {
                if *gone {
                    app.delete.files.delete_file(&alice, *id).await.unwrap();
                }
            }
            let entries = outbox_bodies(&app).await;
            let delivered: Vec<SqsMessage> = deliveries
                .iter()
                .enumerate()
                .map(|(n, i)| message(&format!("m-{n}"), &entries[i % entries.len()]))
                .collect();
            for chunk in delivered.chunks(batch) {
                process(&state(&app), chunk).await.unwrap();
            }
            app.drain_outbox().await;

            assert_eq!(app.outbox.pending().await.unwrap(), 0);
            for ((word, id), gone) in words.iter().zip(&ids).zip(&deleted) {
                let expected = if *gone { vec![] } else { vec![*id] };
                assert_eq!(app.found(&alice, word).await, expected, "{word}: deleted {gone}");
            }
        });
    }
}

/// Every message in the queue now, each deleted once received (a consumer that took it).
async fn take_all(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut empty_polls = 0;
    while empty_polls < 2 {
        let received = poll(sqs, queue_url, 1).await;
        if received.is_empty() {
            empty_polls += 1;
        }
        for m in received {
            bodies.push(m.body().unwrap_or_default().to_owned());
            sqs.delete_message().queue_url(queue_url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    bodies
}

#[tokio::test]
async fn a_notification_before_the_confirm_and_a_lost_confirm_message_are_made_good_by_the_reconciler() {
    use files_core::reconcile::{Policy, Reconciler};
    use files_core::state::FromSettings as _;
    let sqs = sqs_client();
    let (queue_url, _dlq_url) = queue_with_dead_letters(&sqs, 5).await;
    let mut overrides = files_testkit::search_env_refs();
    overrides.push(("INDEXER_QUEUE_URL", queue_url.as_str()));
    let app = TestApp::with_backend(files_testkit::Backend::S3, &overrides).await;
    app.elastic().ensure_index().await.unwrap();
    let s3 = files_core::storage::s3::S3ObjectStore::new(app.settings.storage.s3().unwrap()).await.unwrap();
    notify(&s3, &sqs, &queue_url).await;
    take_all(&sqs, &queue_url).await; // S3's test event
    let alice = caller("alice", "acme", &[]);

    // The object's notification comes first: the file is still pending, so nothing is indexed.
    let upload = app.initiate(&alice, "late confirm.txt", "text/plain", b"a shy aardvark", true).await;
    app.store(upload.file_key.as_str(), "text/plain", b"a shy aardvark").await;
    let notified = take_all(&sqs, &queue_url).await;
    assert_eq!(notified.len(), 1, "{notified:?}");
    let report = process(&state(&app), &[message("m-1", &notified[0])]).await.unwrap();
    assert_eq!(report.indexed, 0);
    // The confirm commits its entry and sends its message, which is lost on the way.
    let confirm = files_core::services::ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let file = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();
    let lost = take_all(&sqs, &queue_url).await;
    assert_eq!(lost.len(), 1, "the confirm sent its entry: {lost:?}");
    assert!(lost[0].contains("outbox_id"), "{lost:?}");
    app.elastic().refresh().await.unwrap();
    let request = files_core::services::SearchRequest { q: "aardvark".to_owned(), ..Default::default() };
    let before = app.finder.files.search(&alice, request).await.unwrap();
    assert_eq!(before.total, 0, "not searchable while the message is lost");
    assert_eq!(app.outbox.pending().await.unwrap(), 1, "the entry waits in the outbox");

    // The scheduled reconciler, as the function builds it, once the delay has passed.
    let reconciler = Reconciler::from_settings(&app.settings).await.unwrap();
    let policy = Policy { resend_after: std::time::Duration::ZERO, ..Policy::default() };
    let summary = reconciler.run(policy, &|_, _| {}).await.unwrap();
    assert_eq!((summary.resent, summary.missing_documents), (1, 1), "{summary:?}");
    drain_queue(&app, &sqs, &queue_url).await;

    assert_eq!(app.found(&alice, "aardvark").await, vec![file.id]);
    assert_eq!(app.outbox.pending().await.unwrap(), 0, "every entry applied was deleted");
}
