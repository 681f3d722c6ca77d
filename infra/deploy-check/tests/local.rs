//! The laptop infrastructure and the sample events: `infra/docker-compose.yml` listens on
//! loopback only, `infra/.env.example` is a valid configuration that points at it, and the S3
//! samples in `infra/events/` are notifications as S3 sends them.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use aws_lambda_events::event::s3::S3Event;
use files_core::config::{Settings, StorageBackendKind, VARIABLES};
use serde_yaml::Value;

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn compose() -> Value {
    serde_yaml::from_str(&read("infra/docker-compose.yml")).expect("docker-compose.yml is YAML")
}

/// `NAME=value` lines of the env example; comments and blank lines skipped.
fn env_example() -> HashMap<String, String> {
    read("infra/.env.example")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("`{l}` is not NAME=value"));
            (k.trim_start_matches("export ").to_owned(), v.to_owned())
        })
        .collect()
}

/// The host ports a compose service publishes, each checked to be bound to 127.0.0.1.
fn published_ports(service: &str) -> Vec<u16> {
    let compose = compose();
    let ports = compose["services"][service]["ports"].as_sequence().cloned().unwrap_or_default();
    ports
        .iter()
        .map(|p| {
            let spec = p.as_str().unwrap_or_else(|| panic!("{service}: write ports as \"127.0.0.1:HOST:CONTAINER\""));
            let rest = spec
                .strip_prefix("127.0.0.1:")
                .unwrap_or_else(|| panic!("{service} publishes `{spec}` beyond loopback"));
            rest.split(':').next().and_then(|h| h.parse().ok()).unwrap_or_else(|| panic!("{service}: `{spec}`"))
        })
        .collect()
}

fn port_of(url: &str) -> u16 {
    let authority = url.split("://").nth(1).and_then(|r| r.split(['/', '?']).next()).expect("a URL");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    host_port.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("`{url}` names no port"))
}

#[test]
fn every_compose_service_listens_on_loopback_only() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    for name in services.keys().filter_map(Value::as_str) {
        published_ports(name);
    }
    for needed in ["postgres", "minio", "minio-setup", "elasticsearch"] {
        assert!(compose["services"].get(needed).is_some(), "docker-compose.yml has no `{needed}` service");
    }
}

#[test]
fn the_env_example_is_a_valid_s3_configuration_that_points_at_the_compose_services() {
    let env = env_example();
    let unknown: Vec<_> = env.keys().filter(|k| !VARIABLES.contains(&k.as_str())).collect();
    assert!(unknown.is_empty(), "variables in .env.example the code never reads: {unknown:?}");

    let settings = Settings::from_map(&env).unwrap_or_else(|e| panic!(".env.example: {e}"));
    assert_eq!(settings.storage.kind(), StorageBackendKind::S3);

    let endpoint = &env["AWS_S3_ENDPOINT_URL"];
    assert!(published_ports("minio").contains(&port_of(endpoint)), "no compose service answers at {endpoint}");
    let database = &env["DATABASE_URL"];
    assert!(published_ports("postgres").contains(&port_of(database)), "no compose service answers at the DATABASE_URL");

    let search = &env["ELASTICSEARCH_URL"];
    assert!(published_ports("elasticsearch").contains(&port_of(search)), "no compose service answers at {search}");

    let bucket = &env["AWS_S3_BUCKET_NAME"];
    let setup = serde_yaml::to_string(&compose()["services"]["minio-setup"]).unwrap();
    assert!(setup.contains(bucket.as_str()), "minio-setup does not create the bucket `{bucket}`");
}

/// A key as S3 puts it in a notification: URL-encoded, with `+` for a space.
fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().expect("UTF-8 key").into_owned()
}

fn s3_event(file: &str) -> S3Event {
    serde_json::from_str(&read(&format!("infra/events/{file}"))).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn the_sample_s3_events_are_notifications_as_s3_sends_them() {
    let put = s3_event("s3-put.json");
    let remove = s3_event("s3-remove.json");
    let (created, removed) = (&put.records[0], &remove.records[0]);

    assert_eq!(created.event_name.as_deref(), Some("ObjectCreated:Put"));
    assert_eq!(removed.event_name.as_deref(), Some("ObjectRemoved:Delete"));
    assert!(created.s3.object.size.is_some_and(|s| s > 0) && created.s3.object.e_tag.is_some());

    let raw = created.s3.object.key.as_deref().expect("a key");
    let key = decode_key(raw);
    assert!(raw.contains('+') && raw.contains('%'), "the raw key `{raw}` is not URL-encoded the way S3 does it");
    assert!(key.contains(' ') && !key.is_ascii(), "the decoded key `{key}` has no space or no non-ASCII character");
    assert_eq!(removed.s3.object.key.as_deref(), Some(raw), "both samples are about the same object");

    // Sequencers of one key compare as hexadecimal strings of equal length: the removal is later.
    let (first, second) = (created.s3.object.sequencer.as_deref(), removed.s3.object.sequencer.as_deref());
    let (first, second) = (first.expect("a sequencer"), second.expect("a sequencer"));
    assert!(first.len() == second.len() && first < second, "{first} must precede {second}");
}

#[test]
fn the_sample_sqs_event_carries_the_sample_notification_as_the_queue_delivers_it() {
    let raw = read("infra/events/sqs-s3-put.json");
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&raw).expect("an SQS event");
    let record = &event.records[0];
    assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
    assert!(record.message_id.is_some() && record.receipt_handle.is_some());
    let body: S3Event = serde_json::from_str(record.body.as_deref().expect("a body")).expect("an S3 notification");
    assert_eq!(body.records[0].s3.object.key, s3_event("s3-put.json").records[0].s3.object.key);
}
