//! What both suites of the handler need from SQS: polling a queue for S3 notifications.

use aws_lambda_events::event::s3::S3Event;

/// One receive of up to ten messages, waiting up to `wait_seconds` for the first.
pub async fn poll(sqs: &aws_sdk_sqs::Client, queue_url: &str, wait_seconds: i32) -> Vec<aws_sdk_sqs::types::Message> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .send()
        .await
        .unwrap();
    received.messages().to_vec()
}

/// At least `count` S3 object notifications from the queue (test events skipped).
pub async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, count: usize) -> Vec<S3Event> {
    let mut events = Vec::new();
    for _ in 0..20 {
        for message in poll(sqs, queue_url, 1).await {
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
