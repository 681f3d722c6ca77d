//! One conformance suite for every storage backend: each behaviour the trait promises, run
//! against real storage (the local filesystem here; S3 joins it with its backend).

use std::sync::Arc;

use bytes::Bytes;
use files_core::keys::{Checksum, ContentType, FileKey};
use files_core::storage::local::LocalFileStorage;
use files_core::storage::{ByteStream, ListUploads, ObjectStore, PutConstraints, StorageError};
use futures_util::{StreamExt, TryStreamExt};

fn key(name: &str) -> FileKey {
    FileKey::parse(&format!("conformance/{}/{name}", uuid::Uuid::new_v4())).unwrap()
}

fn body(chunks: Vec<&'static [u8]>) -> ByteStream {
    Box::pin(futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))))
}

fn constraints(exact: Option<u64>, max: u64, checksum: Option<&[u8]>) -> PutConstraints {
    PutConstraints {
        content_type: ContentType::parse("text/plain").unwrap(),
        exact_size: exact,
        max_size: max,
        checksum_sha256: checksum.map(|b| Checksum::parse_base64(&files_testkit::sha256_base64(b)).unwrap()),
    }
}

async fn read_all(storage: &dyn ObjectStore, key: &FileKey) -> Vec<u8> {
    let chunks: Vec<Bytes> = storage.get_file_stream(key).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

async fn saves_streams_heads_and_deletes(storage: Arc<dyn ObjectStore>) {
    let key = key("a.txt");
    assert!(!storage.file_exists(&key).await.unwrap());

    let meta = storage
        .save_proxied_file(&key, body(vec![b"hel", b"lo"]), &constraints(Some(5), 100, Some(b"hello")))
        .await
        .unwrap();

    assert_eq!(meta.size, 5);
    assert_eq!(meta.checksum_sha256.map(|c| c.to_base64()), Some(files_testkit::sha256_base64(b"hello")));
    assert!(storage.file_exists(&key).await.unwrap());
    let head = storage.head(&key).await.unwrap().unwrap();
    assert_eq!((head.size, head.content_type.as_deref()), (5, Some("text/plain")));
    assert_eq!(read_all(storage.as_ref(), &key).await, b"hello");
    storage.delete_file(&key).await.unwrap();
    assert!(!storage.file_exists(&key).await.unwrap());
    assert!(matches!(storage.get_file_stream(&key).await, Err(StorageError::NotFound)));
    storage.delete_file(&key).await.expect("deleting a missing object succeeds");
}

async fn never_overwrites(storage: Arc<dyn ObjectStore>) {
    let key = key("a.txt");
    storage.save_proxied_file(&key, body(vec![b"first"]), &constraints(None, 100, None)).await.unwrap();

    let second = storage.save_proxied_file(&key, body(vec![b"second"]), &constraints(None, 100, None)).await;

    assert!(matches!(second, Err(StorageError::AlreadyExists)), "{second:?}");
    assert_eq!(read_all(storage.as_ref(), &key).await, b"first");
}

async fn refuses_bodies_that_break_the_constraints_and_keeps_nothing(storage: Arc<dyn ObjectStore>) {
    let cases: Vec<(ByteStream, PutConstraints)> = vec![
        (body(vec![b"hello", b" world"]), constraints(Some(5), 100, None)),
        (body(vec![b"hello"]), constraints(None, 4, None)),
        (body(vec![b"hell"]), constraints(Some(5), 100, None)),
        (body(vec![b"HELLO"]), constraints(Some(5), 100, Some(b"hello"))),
        (
            Box::pin(futures_util::stream::iter(vec![
                Ok(Bytes::from_static(b"par")),
                Err(std::io::Error::other("client went away")),
            ])),
            constraints(None, 100, None),
        ),
    ];
    for (i, (stream, c)) in cases.into_iter().enumerate() {
        let key = key("bad.txt");
        let result = storage.save_proxied_file(&key, stream, &c).await;
        assert!(result.is_err(), "case {i} should fail");
        assert!(!storage.file_exists(&key).await.unwrap(), "case {i} left an object");
    }
}

async fn streams_large_objects_in_chunks(storage: Arc<dyn ObjectStore>) {
    let key = key("big.bin");
    let chunk = Bytes::from(vec![7u8; 1024 * 1024]);
    let stream: ByteStream = Box::pin(futures_util::stream::iter((0..16).map(move |_| Ok(chunk.clone()))));

    storage.save_proxied_file(&key, stream, &constraints(Some(16 << 20), 32 << 20, None)).await.unwrap();

    let mut total = 0usize;
    let mut largest = 0usize;
    let mut stream = storage.get_file_stream(&key).await.unwrap();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len();
        largest = largest.max(chunk.len());
    }
    assert_eq!(total, 16 << 20);
    assert!(largest <= 1 << 20, "read in chunks, not whole: largest chunk {largest}");
}

/// The listing holds every object under the upload prefix once, across the store's pages (S3
/// answers 1,000 at a time), and nothing outside it.
async fn lists_every_upload_across_pages<S: ObjectStore + ListUploads + 'static>(storage: Arc<S>) {
    let name = files_core::keys::OriginalFilename::parse("listed.txt").unwrap();
    let keys: Vec<FileKey> = (0..1_005).map(|_| FileKey::generate(&name)).collect();
    let saves = futures_util::stream::iter(keys.clone())
        .map(|key| {
            let storage = storage.clone();
            async move { storage.save_proxied_file(&key, body(vec![b"listed"]), &constraints(None, 100, None)).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    assert!(saves.iter().all(Result::is_ok), "every save succeeds");
    let outside = key("outside.txt");
    storage.save_proxied_file(&outside, body(vec![b"elsewhere"]), &constraints(None, 100, None)).await.unwrap();
    let before = chrono::Utc::now() - chrono::Duration::minutes(10);

    let listed: Vec<files_core::storage::ListedObject> = storage.list_uploads().try_collect().await.unwrap();

    let mut found: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    found.sort_unstable();
    let mut expected: Vec<&str> = keys.iter().map(FileKey::as_str).collect();
    expected.sort_unstable();
    assert_eq!(found, expected, "each upload once, nothing outside the prefix");
    assert!(listed.iter().all(|o| o.modified > before && o.modified <= chrono::Utc::now()), "modification times");
    assert!(listed.iter().all(|o| o.version.is_none()), "a store without versions lists none");
}

macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn saves_streams_heads_and_deletes() {
                let (_guard, storage) = $make.await;
                super::saves_streams_heads_and_deletes(storage).await;
            }

            #[tokio::test]
            async fn never_overwrites() {
                let (_guard, storage) = $make.await;
                super::never_overwrites(storage).await;
            }

            #[tokio::test]
            async fn refuses_bodies_that_break_the_constraints_and_keeps_nothing() {
                let (_guard, storage) = $make.await;
                super::refuses_bodies_that_break_the_constraints_and_keeps_nothing(storage).await;
            }

            #[tokio::test]
            async fn streams_large_objects_in_chunks() {
                let (_guard, storage) = $make.await;
                super::streams_large_objects_in_chunks(storage).await;
            }
        }
    };
}

async fn local() -> (tempfile::TempDir, Arc<dyn ObjectStore>) {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        LocalFileStorage::new(dir.path(), files_testkit::SIGNING_SECRET.as_bytes(), "http://127.0.0.1:9000/media");
    (dir, Arc::new(storage))
}

async fn s3() -> ((), Arc<dyn ObjectStore>) {
    ((), Arc::new(files_testkit::s3_storage(&[]).await.objects))
}

conformance!(local_filesystem, local());
conformance!(s3_server, s3());

#[tokio::test]
async fn local_failed_writes_leave_no_temporary_files() {
    let (dir, storage) = local().await;
    let key = key("bad.txt");
    let _ = storage.save_proxied_file(&key, body(vec![b"toolong"]), &constraints(Some(3), 100, None)).await;

    let leftovers: Vec<_> = walk(dir.path());

    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn the_local_store_lists_every_upload_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        LocalFileStorage::new(dir.path(), files_testkit::SIGNING_SECRET.as_bytes(), "http://127.0.0.1:9000/media");
    lists_every_upload_across_pages(Arc::new(storage)).await;
}

#[tokio::test]
async fn the_s3_store_lists_every_upload_once_across_pages() {
    lists_every_upload_across_pages(Arc::new(files_testkit::s3_storage(&[]).await.objects)).await;
}
