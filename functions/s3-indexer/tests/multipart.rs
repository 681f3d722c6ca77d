//! A file uploaded in parts: the bucket's `ObjectCreated:CompleteMultipartUpload` notification,
//! through a real SQS queue on LocalStack, indexes it like any other upload.

use files_core::services::{ConfirmUploadRequest, InitiateUploadRequest, RequestedUploadMethod, SignPartsRequest};
use files_testkit::{caller, TestApp};
mod common;

use s3_indexer::{process, State};

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_completed_multipart_upload_is_indexed_from_its_notification() {
    let mut env = files_testkit::search_env_refs();
    env.push(("UPLOAD_MAX_SIZE_BYTES", "16777216"));
    let app = TestApp::with_backend(files_testkit::Backend::S3, &env).await;
    app.elastic().ensure_index().await.unwrap();
    let s3 = files_core::storage::s3::S3ObjectStore::new(app.settings.storage.s3().unwrap()).await.unwrap();
    let (sqs, queue_url) = queue_notified_by(&s3).await;
    let alice = caller("alice", "acme", &[]);
    let mut body = b"an okapi census, in parts\n".to_vec();
    body.resize(5 * MIB + 4096, b'.');

    let request = InitiateUploadRequest {
        filename: "census.txt".into(),
        content_type: "text/plain".into(),
        size: body.len() as i64,
        checksum_sha256: None,
        owner: None,
        upload_method: Some(RequestedUploadMethod::Multipart),
        part_size: None,
        checksum_crc64nvme: None,
    };
    let upload = app.initiate.files.initiate_upload(&alice, request).await.unwrap();
    let upload_id = serde_json::to_value(&upload).unwrap()["upload_id"].as_str().unwrap().to_owned();
    let sign = SignPartsRequest { file_key: upload.file_key.to_string(), upload_id, part_numbers: None };
    let signed = app.parts.files.sign_parts(&alice, sign).await.unwrap();
    assert_eq!(signed.parts.len(), 2);
    for (part, chunk) in signed.parts.iter().zip(body.chunks(5 * MIB)) {
        let put = reqwest::Client::new().put(&part.url).body(chunk.to_vec()).send().await.unwrap();
        assert!(put.status().is_success(), "{}", put.status());
    }
    let confirm = ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let view = app.confirm.files.confirm_upload(&alice, confirm).await.unwrap();

    // Only the notification indexes here: the confirm's outbox entry is left undelivered.
    let mut names = Vec::new();
    let state = State { indexer: app.indexer.clone(), outbox: app.outbox.clone() };
    for event in common::receive(&sqs, &queue_url, 1).await {
        names.extend(event.records.iter().filter_map(|r| r.event_name.clone()));
        let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
        message.message_id = Some("m-1".into());
        message.body = Some(serde_json::to_string(&event).unwrap());
        process(&state, &[message]).await.unwrap();
    }
    app.refresh_search().await;

    assert!(names.iter().any(|n| n == "ObjectCreated:CompleteMultipartUpload"), "{names:?}");
    assert_eq!(app.found(&alice, "okapi").await, vec![view.file.id]);
}

async fn queue_notified_by(s3: &files_core::storage::s3::S3ObjectStore) -> (aws_sdk_sqs::Client, String) {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let sqs = aws_sdk_sqs::Client::new(&files_testkit::localstack_config());
    let queue = sqs.create_queue().queue_name(format!("q-{}", uuid::Uuid::new_v4().simple())).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    let attribute = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let attributes =
        sqs.get_queue_attributes().queue_url(&queue_url).attribute_names(attribute.clone()).send().await.unwrap();
    let queue_arn = attributes.attributes().unwrap()[&attribute].clone();
    let queues =
        QueueConfiguration::builder().queue_arn(queue_arn).events(Event::from("s3:ObjectCreated:*")).build().unwrap();
    s3.client()
        .put_bucket_notification_configuration()
        .bucket(s3.bucket())
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(queues).build())
        .send()
        .await
        .unwrap();
    (sqs, queue_url)
}
