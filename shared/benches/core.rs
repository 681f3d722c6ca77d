//! Micro-benchmarks of the core's per-request work that involves no I/O: key generation and
//! filename checks, `Content-Disposition`, local URL signing and verification, and
//! problem+json rendering. `make bench` reports their medians; S3 pre-signing is in
//! `presign.rs`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use files_core::disposition::{content_disposition, DispositionKind};
use files_core::keys::{Checksum, ContentType, FileKey, OriginalFilename};
use files_core::services::ServiceError;
use files_core::storage::local::LocalFileStorage;
use files_core::storage::{DownloadRequest, SignDownloads as _, SignUrls, UploadGrantRequest, UploadMethod};
use files_core::ApiError;
use futures_util::FutureExt as _;

const EXPIRY: Duration = Duration::from_secs(3600);

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn keys(c: &mut Criterion) {
    let mut group = c.benchmark_group("keys");
    group.bench_function("filename_parse_and_key_generate", |b| {
        b.iter(|| {
            let name = OriginalFilename::parse(black_box("Q3 report (final).PDF")).expect("a valid name");
            FileKey::generate(&name)
        })
    });
    group.bench_function("content_disposition_ascii", |b| {
        b.iter(|| content_disposition(DispositionKind::Attachment, black_box("report 2024.pdf")))
    });
    group.bench_function("content_disposition_non_ascii", |b| {
        b.iter(|| content_disposition(DispositionKind::Attachment, black_box("Überweisung März \"final\" €.pdf")))
    });
    group.finish();
}

fn local_urls(c: &mut Criterion) {
    let storage = LocalFileStorage::new(
        std::env::temp_dir(),
        b"bench-local-signing-secret-bench-local-signing",
        "http://127.0.0.1:9000/media",
    );
    let key = FileKey::parse("uploads/0b5e3c1e-5d7e-4c4b-9a53-1f0f4f3c2a11.pdf").expect("a valid key");
    let upload = UploadGrantRequest {
        method: UploadMethod::Put,
        content_type: ContentType::parse("application/pdf").expect("a valid type"),
        size: 1024 * 1024,
        checksum_sha256: Some(Checksum::from_digest([7; 32])),
        expires_in: EXPIRY,
    };
    let filename = OriginalFilename::parse("Größe €.pdf").expect("a valid name");
    let content_type = ContentType::parse("application/pdf").expect("a valid type");
    let download = DownloadRequest {
        filename: &filename,
        disposition: DispositionKind::Attachment,
        content_type: &content_type,
        expires_in: EXPIRY,
        version: None,
    };
    // Local signing never waits: the futures are ready on their first poll.
    let sign_put = || storage.get_presigned_upload_url(&key, &upload).now_or_never().expect("ready").expect("signs");
    let url = sign_put().url;
    let query: HashMap<String, String> =
        form_urlencoded::parse(url.split_once('?').expect("a query").1.as_bytes()).into_owned().collect();
    let now = chrono::Utc::now();

    let mut group = c.benchmark_group("local_url");
    group.bench_function("sign_put", |b| b.iter(sign_put));
    group.bench_function("sign_get", |b| {
        b.iter(|| storage.get_download_url(black_box(&key), &download).now_or_never().expect("ready").expect("signs"))
    });
    group.bench_function("verify_put", |b| {
        b.iter(|| storage.url_signer().authorize("PUT", black_box(&key), black_box(&query), now).expect("a valid URL"))
    });
    group.finish();
}

fn problems(c: &mut Criterion) {
    let mut group = c.benchmark_group("problem_json");
    group.bench_function("not_found", |b| {
        b.iter(|| {
            serde_json::to_vec(&black_box(ApiError::from(ServiceError::FileNotFound)).problem()).expect("serialises")
        })
    });
    group.bench_function("unavailable_with_cause", |b| {
        b.iter(|| {
            let err = ApiError::unavailable("database", std::io::Error::other("connection refused"));
            serde_json::to_vec(&black_box(err).problem()).expect("serialises")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = keys, local_urls, problems
}
criterion_main!(benches);
