//! What one presigned URL costs: aws-sdk-s3's presigner against `storage::presign::Presigner`,
//! for a PUT bound to type, length, checksum and create-only, and for a GET with response
//! overrides; and what one POST policy (`storage::post_policy::form_fields`) costs.
//!
//! Run with `cargo bench -p files-core --bench presign`. The SDK's presigner is async; it is
//! driven by a current-thread Tokio runtime's `block_on`, whose own cost is a small part of it.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use criterion::{criterion_group, criterion_main, Criterion};
use files_core::storage::s3::post_policy::{self, PostPolicyRequest, SigningIdentity};
use files_core::storage::s3::presign::{GetObject, PresignTarget, Presigner, PutObject};

const BUCKET: &str = "files";
const REGION: &str = "eu-west-1";
const KEY: &str = "uploads/2027/01/5f0c3a4e-9d1b-4c7e-8a55-0b6a1f2e3d4c/report.pdf";
const DISPOSITION: &str = "attachment; filename=\"Quarterly report.pdf\"; filename*=UTF-8''Quarterly%20report.pdf";
const CHECKSUM: &str = "LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=";

fn presign(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime");
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        Some("token".into()),
        None,
        "bench",
    );
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(files_core::aws::http_client())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials.clone()))
        .build();
    // As `S3ObjectStore` builds its client for the default AWS endpoint, path style.
    let client = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build(),
    );
    let presigner = Presigner::new(&PresignTarget {
        endpoint_url: None,
        bucket: BUCKET,
        region: REGION,
        force_path_style: true,
        ..PresignTarget::default()
    })
    .expect("the default endpoint resolves");
    let now = SystemTime::now();
    let lifetime = Duration::from_secs(3600);
    let config = PresigningConfig::builder().start_time(now).expires_in(lifetime).build().expect("a valid lifetime");
    let put = PutObject {
        key: KEY,
        content_type: "application/pdf",
        content_length: 1_048_576,
        checksum_sha256: Some(CHECKSUM),
        if_none_match: Some("*"),
    };
    let get = GetObject {
        key: KEY,
        response_content_disposition: Some(DISPOSITION),
        response_content_type: Some("application/pdf"),
        version_id: None,
    };

    let mut group = c.benchmark_group("presign");
    group.bench_function("sdk PUT", |b| {
        b.iter(|| {
            let request = client
                .put_object()
                .bucket(BUCKET)
                .key(KEY)
                .content_type(put.content_type)
                .content_length(1_048_576)
                .checksum_sha256(CHECKSUM)
                .if_none_match("*")
                .presigned(config.clone());
            black_box(runtime.block_on(request).expect("the SDK presigns"))
        });
    });
    group.bench_function("sdk GET", |b| {
        b.iter(|| {
            let request = client
                .get_object()
                .bucket(BUCKET)
                .key(KEY)
                .response_content_disposition(DISPOSITION)
                .response_content_type("application/pdf")
                .presigned(config.clone());
            black_box(runtime.block_on(request).expect("the SDK presigns"))
        });
    });
    group.bench_function("our PUT", |b| {
        b.iter(|| black_box(presigner.put_object(black_box(&put), &credentials, now, lifetime).expect("presigned")));
    });
    group.bench_function("our GET", |b| {
        b.iter(|| black_box(presigner.get_object(black_box(&get), &credentials, now, lifetime).expect("presigned")));
    });
    let identity = SigningIdentity {
        access_key_id: credentials.access_key_id(),
        secret_access_key: credentials.secret_access_key(),
        session_token: credentials.session_token(),
        region: REGION,
    };
    let policy = PostPolicyRequest {
        bucket: BUCKET,
        key: KEY,
        content_type: "application/pdf",
        size: 1_048_576,
        checksum_sha256: Some(CHECKSUM),
        expires_at: (now + lifetime).into(),
    };
    group.bench_function("POST policy", |b| {
        b.iter(|| black_box(post_policy::form_fields(black_box(&policy), &identity, now)));
    });
    group.finish();
}

criterion_group!(benches, presign);
criterion_main!(benches);
