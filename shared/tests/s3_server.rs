//! What the S3 server itself enforces on the URLs and forms we sign, proven against a real
//! S3-compatible server (LocalStack, strict pre-signed URL validation) with a plain HTTP client.

use std::time::Duration;

use files_core::disposition::DispositionKind;
use files_core::keys::{Checksum, ContentType, FileKey, OriginalFilename};
use files_core::storage::{
    DownloadRequest, ReadObjects as _, SignDownloads as _, SignUrls, UploadGrantRequest, UploadMethod, UploadTarget,
};
use files_testkit::{s3_storage, sha256_base64, S3Storage};
use reqwest::StatusCode;

fn new_key() -> FileKey {
    FileKey::parse(&format!("uploads/{}.txt", uuid::Uuid::new_v4())).unwrap()
}

async fn grant(storage: &S3Storage, key: &FileKey, method: UploadMethod, body: &[u8], lifetime: u64) -> UploadTarget {
    let request = UploadGrantRequest {
        method,
        content_type: ContentType::parse("text/plain").unwrap(),
        size: body.len() as u64,
        checksum_sha256: Some(Checksum::parse_base64(&sha256_base64(body)).unwrap()),
        expires_in: Duration::from_secs(lifetime),
    };
    storage.signer.get_presigned_upload_url(key, &request).await.unwrap()
}

async fn put(target: &UploadTarget, headers: &[(&str, &str)], body: &'static [u8]) -> StatusCode {
    let mut request = reqwest::Client::new().put(&target.url);
    for (name, value) in &target.headers {
        if name.eq_ignore_ascii_case("content-length") {
            continue; // the client sets it from the body
        }
        let replaced = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        request = request.header(name, replaced.map_or(value.as_str(), |(_, v)| *v));
    }
    request.body(body).send().await.expect("the S3 server answers").status()
}

async fn post(target: &UploadTarget, body: &'static [u8]) -> StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in &target.fields {
        form = form.text(name.clone(), value.clone());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(body).file_name("a.txt"));
    reqwest::Client::new().post(&target.url).multipart(form).send().await.expect("the S3 server answers").status()
}

#[tokio::test]
async fn a_presigned_put_stores_exactly_the_declared_bytes() {
    let storage = s3_storage(&[]).await;
    let key = new_key();
    let target = grant(&storage, &key, UploadMethod::Put, b"hello", 60).await;

    let status = put(&target, &[], b"hello").await;

    assert!(status.is_success(), "{status}");
    let meta = storage.head(&key).await.unwrap().expect("stored");
    assert_eq!(meta.size, 5);
    assert_eq!(meta.content_type.as_deref(), Some("text/plain"));
    assert_eq!(meta.checksum_sha256.map(|c| c.to_base64()), Some(sha256_base64(b"hello")));
}

#[tokio::test]
async fn the_server_rejects_puts_that_break_the_signed_terms_and_stores_nothing() {
    let storage = s3_storage(&[]).await;

    // (what, headers that replace the signed ones, body)
    type Case = (&'static str, Vec<(&'static str, &'static str)>, &'static [u8]);
    let cases: Vec<Case> = vec![
        ("another content type", vec![("content-type", "text/html")], b"hello"),
        ("another length", vec![], b"hello, world"),
        ("another checksum", vec![], b"HELLO"),
    ];
    for (what, headers, body) in cases {
        let key = new_key();
        let target = grant(&storage, &key, UploadMethod::Put, b"hello", 60).await;
        let status = put(&target, &headers, body).await;
        assert!(status.is_client_error(), "{what}: {status}");
        assert!(storage.head(&key).await.unwrap().is_none(), "{what} left an object");
    }

    let key = new_key();
    let mut tampered = grant(&storage, &key, UploadMethod::Put, b"hello", 60).await;
    let signature = tampered.url.split("X-Amz-Signature=").nth(1).unwrap().to_owned();
    let flipped: String = signature
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == 'a' {
                    'b'
                } else {
                    'a'
                }
            } else {
                c
            }
        })
        .collect();
    tampered.url = tampered.url.replace(&signature, &flipped);
    assert_eq!(put(&tampered, &[], b"hello").await, StatusCode::FORBIDDEN);

    let other_key = new_key();
    let mut moved = grant(&storage, &key, UploadMethod::Put, b"hello", 60).await;
    moved.url = moved.url.replace(key.as_str(), other_key.as_str());
    assert_eq!(put(&moved, &[], b"hello").await, StatusCode::FORBIDDEN);

    let expiring = grant(&storage, &key, UploadMethod::Put, b"hello", 1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(put(&expiring, &[], b"hello").await, StatusCode::FORBIDDEN);

    assert!(storage.head(&key).await.unwrap().is_none());
    assert!(storage.head(&other_key).await.unwrap().is_none());
}

#[tokio::test]
async fn a_second_put_to_the_same_key_is_rejected_unless_overwrite_is_on() {
    let strict = s3_storage(&[]).await;
    let key = new_key();
    let first = grant(&strict, &key, UploadMethod::Put, b"hello", 60).await;
    assert!(put(&first, &[], b"hello").await.is_success());

    let second = put(&grant(&strict, &key, UploadMethod::Put, b"hello", 60).await, &[], b"hello").await;

    assert_eq!(second, StatusCode::PRECONDITION_FAILED);
    let lenient = s3_storage(&[("AWS_S3_FILE_OVERWRITE", "true")]).await;
    let key = new_key();
    for _ in 0..2 {
        assert!(put(&grant(&lenient, &key, UploadMethod::Put, b"hello", 60).await, &[], b"hello").await.is_success());
    }
}

#[tokio::test]
async fn a_post_form_upload_is_accepted_within_its_range_and_refused_above_it() {
    let storage = s3_storage(&[]).await;
    let key = new_key();
    let target = grant(&storage, &key, UploadMethod::Post, b"hello", 60).await;
    assert!(target.url.ends_with(storage.bucket()), "{}", target.url);

    let too_big = post(&target, b"hello, world").await;
    assert!(too_big.is_client_error(), "{too_big}");
    assert!(storage.head(&key).await.unwrap().is_none());

    let ok = post(&target, b"hello").await;
    assert!(ok.is_success(), "{ok}");
    let meta = storage.head(&key).await.unwrap().expect("stored");
    assert_eq!((meta.size, meta.content_type.as_deref()), (5, Some("text/plain")));
}

#[tokio::test]
async fn downloads_carry_the_original_name_for_spaces_and_non_ascii() {
    let storage = s3_storage(&[]).await;
    let key = new_key();
    assert!(put(&grant(&storage, &key, UploadMethod::Put, b"hello", 60).await, &[], b"hello").await.is_success());

    for (name, expected) in [
        ("quarterly report.txt", "attachment; filename=\"quarterly report.txt\""),
        ("Größe März.txt", "attachment; filename=\"Gr__e M_rz.txt\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe%20M%C3%A4rz.txt"),
    ] {
        let (filename, content_type) =
            (OriginalFilename::parse(name).unwrap(), ContentType::parse("text/plain").unwrap());
        let request = DownloadRequest {
            filename: &filename,
            disposition: DispositionKind::Attachment,
            content_type: &content_type,
            expires_in: Duration::from_secs(60),
            version: None,
        };
        let url = storage.signer.get_download_url(&key, &request).await.unwrap().url;
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-disposition"], expected);
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(response.bytes().await.unwrap().as_ref(), b"hello");
    }
}
