//! s3-indexer with real S3 notification JSON, against PostgreSQL and the search server; and
//! end to end with LocalStack's S3 sending real notifications to an SQS queue, whose message
//! bodies are handed to the handler as Lambda would receive them.

use aws_lambda_events::event::s3::S3Event;
use files_core::config::StorageBackendKind;
use files_core::file::{FileRecord, FileStatus, NewFile, StorageLocation};
use files_core::indexing::Indexer;
use files_core::keys::{ContentType, FileKey, OriginalFilename};
use files_testkit::{caller, CutProxy, TestApp};
use lambda_runtime::{Context, LambdaEvent};
use s3_indexer::{handle, BatchFailure, Report};
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

async fn run(indexer: &Indexer, event: S3Event) -> Result<Report, BatchFailure> {
    handle(indexer, LambdaEvent::new(event, Context::default())).await
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
    let indexer = &app.indexer;

    let report = run(indexer, created(key, "0069296B3E7F1A2B3C")).await.unwrap();

    assert_eq!(report, Report { indexed: 1, ..Report::default() });
    assert_eq!(app.found(&caller("bob", "acme", &[]), "trimestriel").await, vec![id]);
}

#[tokio::test]
async fn the_same_record_twice_leaves_one_document() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let key = "uploads/twice.pdf";
    let id = tracked(&app, key, "twice.pdf").await;
    let indexer = &app.indexer;

    run(indexer, created(key, "0069296B3E7F1A2B3C")).await.unwrap();
    run(indexer, created(key, "0069296B3E7F1A2B3C")).await.unwrap();

    let results = app.search(&caller("bob", "acme", &[]), "twice").await;
    assert_eq!(results.total, 1);
    assert_eq!(results.files[0].file.id, id);
}

#[tokio::test]
async fn a_remove_followed_by_a_late_create_leaves_no_document() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let key = "uploads/late+arrival.pdf";
    tracked(&app, key, "late arrival.pdf").await;
    let indexer = &app.indexer;
    run(indexer, created(key, "0069296B3E7F1A2B3C")).await.unwrap();

    let removal = run(indexer, removed(key, "0069296B3E7F1A2B4D")).await.unwrap();
    let late = run(indexer, created(key, "0069296B3E7F1A2B3D")).await.unwrap();

    assert_eq!(removal, Report { removed: 1, ..Report::default() });
    assert_eq!(late, Report { stale: 1, ..Report::default() });
    assert!(app.found(&caller("bob", "acme", &[]), "arrival").await.is_empty());
}

#[tokio::test]
async fn an_object_no_file_has_is_removed_and_a_pending_one_is_not_indexed() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let upload = app.initiate(&caller("alice", "acme", &[]), "pending gecko.txt", "text/plain", b"gecko", false).await;
    let indexer = &app.indexer;

    let unknown = run(indexer, created("uploads/not-ours.txt", "01")).await.unwrap();
    let pending = run(indexer, created(upload.file_key.as_str(), "02")).await.unwrap();

    // No file has the key (deleted since, or never ours to keep): its bytes are removed.
    assert_eq!(unknown, Report { stray: 1, ..Report::default() });
    assert_eq!(pending, Report { not_tracked: 1, ..Report::default() });
    assert!(app.found(&caller("alice", "acme", &[]), "gecko").await.is_empty());
}

#[tokio::test]
async fn malformed_sequencers_are_refused_and_foreign_keys_leave_no_state() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let id = tracked(&app, "uploads/capybara.pdf", "capybara.pdf").await;
    let indexer = &app.indexer;
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
        let failure = run(indexer, created("uploads/capybara.pdf", bad)).await.expect_err(bad);
        assert_eq!(failure.keys, vec!["uploads/capybara.pdf".to_owned()], "{bad:?}");
        assert!(!failure.retryable, "{bad:?}");
    }
    assert_eq!(state_rows("uploads/capybara.pdf").await, 0, "a refused record applies nothing");
    assert!(app.found(&caller("alice", "acme", &[]), "capybara").await.is_empty());

    for foreign in ["elsewhere/capybara.pdf", "uploadsX/a.pdf", "uploads/../etc/passwd"] {
        let report = run(indexer, created(foreign, "01")).await.unwrap();
        assert_eq!(report, Report { not_tracked: 1, ..Report::default() }, "{foreign}");
    }
    assert_eq!(state_rows("elsewhere/capybara.pdf").await, 0);

    let report = run(indexer, created("uploads/capybara.pdf", "0069296b3e7f1a2b3c")).await.unwrap();
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
    let indexer = &app.indexer;

    proxy.down();
    let failure = run(indexer, batch.clone()).await.expect_err("the search server is down");
    assert!(failure.retryable);
    assert_eq!(failure.keys.len(), 3);

    proxy.up();
    let report = run(indexer, batch).await.unwrap();
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
    let indexer = &app.indexer;

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
        assert_eq!(run(indexer, event).await.unwrap().indexed, 1);
    }
    assert_eq!(app.found(&alice, "meerkats").await, vec![id]);

    // The object disappears from the bucket behind the service's back: its ObjectRemoved
    // notification takes the document out. (LocalStack stamps every notification with the same
    // sequencer, so ordering is proven with AWS-shaped events above, not here.)
    s3.client().delete_object().bucket(s3.bucket()).key(&key).send().await.unwrap();
    for event in receive(&sqs, &queue_url, 1).await {
        assert_eq!(run(indexer, event).await.unwrap().removed, 1);
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
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
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
    (sqs, queue_url)
}

fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&files_testkit::localstack_config())
}

/// At least `count` S3 object notifications from the queue (test events skipped).
async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, count: usize) -> Vec<S3Event> {
    let mut events = Vec::new();
    for _ in 0..20 {
        let batch = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in batch.messages() {
            let body = message.body().unwrap_or_default();
            if let Ok(event) = serde_json::from_str::<S3Event>(body) {
                if !event.records.is_empty() {
                    events.push(event);
                }
            }
        }
        if events.len() >= count {
            break;
        }
    }
    assert!(events.len() >= count, "only {} notifications arrived", events.len());
    events
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
            let report = run(&app.indexer, event).await.unwrap();
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
    let app = TestApp::with_backend(files_testkit::Backend::S3, &[]).await;
    let s3 = files_core::storage::s3::S3ObjectStore::new(app.settings.storage.s3().unwrap()).await.unwrap();
    // The template's bucket keeps versions: what is served is pinned to the verified one.
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
    let (sqs, queue_url) = notifications(&s3).await;
    let mut sequencer = 1u64;
    let alice = caller("alice", "acme", &[]);
    let upload = |method: UploadMethod| InitiateUploadRequest {
        filename: "offer.txt".into(),
        content_type: "text/plain".into(),
        size: 13,
        checksum_sha256: None,
        owner: None,
        upload_method: match method {
            UploadMethod::Put => files_core::services::RequestedUploadMethod::Put,
            UploadMethod::Post => files_core::services::RequestedUploadMethod::Post,
        },
    };
    let confirm = |key: &files_core::keys::FileKey| ConfirmUploadRequest { file_key: key.to_string() };

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
                    UploadMethod::Put => send_put(&target, body).await,
                    UploadMethod::Post => send_post(&target, body).await,
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
            UploadMethod::Put => assert_eq!(status.as_u16(), 412),
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
