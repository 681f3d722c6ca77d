//! What only a strict SigV4 server can prove (LocalStack checks pre-signed URLs but not
//! header signatures nor POST policy signatures): s3s-fs on loopback, started by `make test`
//! (`TEST_S3S_ENDPOINT`, access key `strict-access`).

use std::time::Duration;

use base64::Engine as _;
use files_core::error::{ApiError, ErrorKind};
use files_core::keys::{Checksum, ContentType, FileKey};
use files_core::storage::s3::{S3ObjectStore, S3UrlSigner};
use files_core::storage::{
    ListUploads as _, ObjectStore, PutConstraints, ReadObjects as _, SignUrls, UploadGrantRequest, UploadMethod,
    UploadTarget,
};
use files_testkit::sha256_base64;
use files_testkit::S3Storage;

const ACCESS_KEY: &str = "strict-access";
const SECRET_KEY: &str = "strict-secret-key-strict";

fn endpoint() -> String {
    std::env::var("TEST_S3S_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8014".to_owned())
}

async fn strict_storage(secret: &str, bucket: &str) -> S3Storage {
    let settings = files_core::Settings::from_lookup(|name| match name {
        "FILE_STORAGE_BACKEND" => Some("s3".to_owned()),
        "AWS_S3_BUCKET_NAME" => Some(bucket.to_owned()),
        "AWS_S3_REGION_NAME" => Some("us-east-1".to_owned()),
        "AWS_S3_ENDPOINT_URL" => Some(endpoint()),
        "AWS_S3_ADDRESSING_STYLE" => Some("path".to_owned()),
        "AWS_ACCESS_KEY_ID" => Some(ACCESS_KEY.to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some(secret.to_owned()),
        _ => None,
    })
    .unwrap();
    let s3 = settings.storage.s3().unwrap();
    S3Storage { signer: S3UrlSigner::new(s3).await.unwrap(), objects: S3ObjectStore::new(s3).await.unwrap() }
}

async fn storage() -> S3Storage {
    let storage = strict_storage(SECRET_KEY, &files_testkit::bucket_name()).await;
    files_core::storage::s3::ensure_bucket(&storage)
        .await
        .unwrap_or_else(|e| panic!("s3s-fs is required at {}: {e:?}", endpoint()));
    storage
}

async fn grant(storage: &S3Storage, key: &FileKey, method: UploadMethod, body: &[u8]) -> UploadTarget {
    let request = UploadGrantRequest {
        method,
        content_type: ContentType::parse("text/plain").unwrap(),
        size: body.len() as u64,
        checksum_sha256: Some(Checksum::parse_base64(&sha256_base64(body)).unwrap()),
        expires_in: Duration::from_secs(60),
    };
    storage.signer.get_presigned_upload_url(key, &request).await.unwrap()
}

async fn post(target: &UploadTarget, fields: &std::collections::BTreeMap<String, String>, body: &'static [u8]) -> u16 {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(body).file_name("a.txt"));
    reqwest::Client::new().post(&target.url).multipart(form).send().await.expect("s3s-fs answers").status().as_u16()
}

fn key() -> FileKey {
    FileKey::parse(&format!("uploads/{}.txt", uuid::Uuid::new_v4())).unwrap()
}

#[tokio::test]
async fn header_signed_requests_of_the_storage_are_accepted_by_a_strict_server() {
    let storage = storage().await;
    let key = key();
    let body = Box::pin(futures_util::stream::once(async { Ok(bytes::Bytes::from_static(b"hello")) }));
    let constraints = PutConstraints {
        content_type: ContentType::parse("text/plain").unwrap(),
        exact_size: Some(5),
        max_size: 5,
        checksum_sha256: None,
    };

    storage.save_proxied_file(&key, body, &constraints).await.unwrap();

    let meta = storage.head(&key).await.unwrap().expect("stored");
    assert_eq!(meta.size, 5);
    storage.delete_file(&key).await.unwrap();
    assert!(storage.head(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn the_post_policy_signature_is_accepted_and_a_forged_policy_is_refused() {
    let storage = storage().await;
    let key = key();
    let target = grant(&storage, &key, UploadMethod::Post, b"hello").await;

    // Widen the policy's size range without re-signing it.
    let mut forged = target.fields.clone();
    let policy = base64::engine::general_purpose::STANDARD.decode(&forged["policy"]).unwrap();
    let widened = String::from_utf8(policy)
        .unwrap()
        .replace("[\"content-length-range\",5,5]", "[\"content-length-range\",0,99999]");
    forged.insert("policy".into(), base64::engine::general_purpose::STANDARD.encode(widened));
    let status = post(&target, &forged, b"hello, world").await;
    assert!((400..500).contains(&status), "forged policy: {status}");
    assert!(storage.head(&key).await.unwrap().is_none());

    let status = post(&target, &target.fields, b"hello").await;
    assert!((200..300).contains(&status), "signed policy: {status}");
    assert_eq!(storage.head(&key).await.unwrap().map(|m| m.size), Some(5));
}

#[tokio::test]
async fn a_policy_signed_with_the_wrong_secret_is_refused() {
    let bucket = files_testkit::bucket_name();
    let good = strict_storage(SECRET_KEY, &bucket).await;
    files_core::storage::s3::ensure_bucket(&good).await.expect("s3s-fs answers");
    let impostor = strict_storage("not-the-secret-key-at-all", &bucket).await;
    let key = key();

    let target = grant(&impostor, &key, UploadMethod::Post, b"hello").await;

    let status = post(&target, &target.fields, b"hello").await;
    assert_eq!(status, 403);
    assert!(good.head(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn refused_credentials_are_a_500_whose_problem_reveals_nothing() {
    let bucket = files_testkit::bucket_name();
    let good = strict_storage(SECRET_KEY, &bucket).await;
    files_core::storage::s3::ensure_bucket(&good).await.expect("s3s-fs answers");
    let impostor = strict_storage("not-the-secret-key-at-all", &bucket).await;

    let err = ApiError::from(impostor.head(&key()).await.expect_err("the server refuses the signature"));

    assert_eq!(err.kind(), ErrorKind::Internal);
    let body = serde_json::to_string(&err.problem()).unwrap();
    assert!(!body.contains("Signature") && !body.contains(ACCESS_KEY), "{body}");
}

/// A server without versions (s3s-fs answers ListObjectVersions with 501): the sweep's listing
/// falls back to ListObjectsV2 and still holds every upload once.
#[tokio::test]
async fn the_upload_listing_falls_back_to_plain_listing_on_a_server_without_versions() {
    use futures_util::TryStreamExt as _;
    let storage = storage().await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        let key = FileKey::generate(&files_core::keys::OriginalFilename::parse("listed.txt").unwrap());
        let body = Box::pin(futures_util::stream::once(async { Ok(bytes::Bytes::from_static(b"listed")) }));
        let constraints = PutConstraints {
            content_type: ContentType::parse("text/plain").unwrap(),
            exact_size: None,
            max_size: 100,
            checksum_sha256: None,
        };
        storage.save_proxied_file(&key, body, &constraints).await.unwrap();
        keys.push(key.as_str().to_owned());
    }

    let listed: Vec<files_core::storage::ListedObject> = storage.list_uploads().try_collect().await.unwrap();

    let mut found: Vec<String> = listed.iter().map(|o| o.key.as_str().to_owned()).collect();
    found.sort();
    keys.sort();
    assert_eq!(found, keys);
}
