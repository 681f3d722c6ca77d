//! Indexing loses nothing (issue #14): a burst of 1,000 uploads and confirms, with some files
//! deleted again, while the search server is cut and restored and the database is cut and
//! restored once (each through a TCP proxy that refuses and cuts connections, in front of the
//! real servers). Clients retry what was refused, as a browser uploader does; the index worker
//! applies the outbox as `make dev` runs it; one reconciler run follows. Then the index equals
//! the database exactly: every available file is found by a word of its content, no deleted file
//! is found, and the counts agree.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use files_core::keys::FileKey;
use files_core::reconcile::{Policy, Reconciler};
use files_core::search::IndexInventory as _;
use files_core::services::{ConfirmUploadRequest, InitiateUploadRequest, SearchRequest, ServiceError};
use files_core::state::FromSettings as _;
use files_core::Caller;
use files_testkit::{caller, host_port, via, CutProxy, TestApp, TestDb};
use futures_util::StreamExt as _;

const FILES: usize = 1_000;
/// Every tenth file is deleted again once confirmed.
const DELETE_EVERY: usize = 10;
const CLIENTS: usize = 8;
/// Client calls refused for a transient reason (and retried).
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// Calls `step` until it succeeds, as a client retries what the service answers with 503
/// (a dependency down) or 409 (changed concurrently; retry); `done` also accepts an answer that
/// shows an earlier attempt succeeded after its connection was cut.
async fn retry<T, F, Fut>(what: &str, mut step: F, done: impl Fn(&ServiceError) -> bool) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ServiceError>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match step().await {
            Ok(value) => return Some(value),
            Err(e) if done(&e) => return None,
            Err(e) => {
                let answer = files_core::error::ApiError::from(e);
                let status = answer.status();
                assert!(
                    matches!(status, 503 | 409) && Instant::now() < deadline,
                    "{what} failed for good: {status} {answer:?}"
                );
                REFUSED.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
}

/// One client's work on file `i`: initiate, upload the bytes, confirm, and for some delete.
/// The key, and whether the file is meant to stay.
async fn one_file(app: &TestApp, alice: &Caller, i: usize) -> (FileKey, bool) {
    let body = format!("burst file {i} holds the word quokka{i} and the word wallaby").into_bytes();
    let request = || InitiateUploadRequest {
        filename: format!("burst {i}.txt"),
        content_type: "text/plain".to_owned(),
        size: i64::try_from(body.len()).unwrap(),
        checksum_sha256: Some(files_testkit::sha256_base64(&body)),
        owner: None,
        upload_method: None,
        part_size: None,
        checksum_crc64nvme: None,
    };
    let upload =
        retry("initiate", || app.initiate.files.initiate_upload(alice, request()), |_| false).await.expect("initiated");
    app.store(upload.file_key.as_str(), "text/plain", &body).await;
    let confirm = || ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let file =
        retry("confirm", || app.confirm.files.confirm_upload(alice, confirm()), |_| false).await.expect("confirmed");
    let keep = !i.is_multiple_of(DELETE_EVERY);
    if !keep {
        // A retried delete whose first attempt went through finds no file.
        retry(
            "delete",
            || app.delete.files.delete_file(alice, file.file.id),
            |e| matches!(e, ServiceError::FileNotFound),
        )
        .await;
    }
    (upload.file_key, keep)
}

/// The index worker of `make dev`: applies the outbox until told to stop, waiting out outages.
fn index_worker(app: Arc<TestApp>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut applied = 0;
        while !stop.load(Ordering::SeqCst) {
            match files_core::outbox::drain(app.outbox.as_ref(), &app.indexer, 100, Duration::ZERO).await {
                Ok(pass) if pass.applied + pass.failed + pass.dropped > 0 => applied += pass.applied,
                Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        applied
    })
}

async fn search_total(app: &TestApp, alice: &Caller, q: &str) -> u64 {
    let request = SearchRequest { q: q.to_owned(), ..Default::default() };
    app.finder.files.search(alice, request).await.expect("search").total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_through_a_search_outage_and_a_database_outage_leaves_the_index_equal_to_the_database() {
    let db = TestDb::new().await;
    let db_proxy = CutProxy::start(&host_port(&db.url)).await;
    let es_proxy = CutProxy::start(&host_port(&files_testkit::elasticsearch_url())).await;
    let media = tempfile::tempdir().unwrap();
    let mut env = files_testkit::test_env(media.path(), &via(&db.url, db_proxy.addr));
    env.extend(files_testkit::search_env());
    env.insert("ELASTICSEARCH_URL".to_owned(), format!("http://{}", es_proxy.addr));
    env.insert("DATABASE_TIMEOUT_SECONDS".to_owned(), "2".to_owned());
    let app = Arc::new(TestApp::from_parts(db, media, &env).await);
    app.elastic().ensure_index().await.expect("the search server is required");
    let alice = caller("alice", "acme", &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let worker = index_worker(app.clone(), stop.clone());
    let confirmed = Arc::new(AtomicUsize::new(0));

    // The outages, at points of the burst: the search server from 15% to 40% of the files, the
    // database for a second and a half at 60%.
    let outages = {
        let confirmed = confirmed.clone();
        async move {
            let reach = |share: usize| {
                let confirmed = confirmed.clone();
                async move {
                    while confirmed.load(Ordering::SeqCst) < FILES * share / 100 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            };
            reach(15).await;
            es_proxy.down();
            reach(40).await;
            es_proxy.up();
            reach(60).await;
            db_proxy.down();
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            db_proxy.up();
            (es_proxy, db_proxy)
        }
    };
    let burst = futures_util::stream::iter(0..FILES)
        .map(|i| {
            let (app, alice, confirmed) = (app.clone(), alice.clone(), confirmed.clone());
            async move {
                let done = one_file(&app, &alice, i).await;
                confirmed.fetch_add(1, Ordering::SeqCst);
                (i, done)
            }
        })
        .buffer_unordered(CLIENTS)
        .collect::<Vec<_>>();
    let (files, _proxies) = tokio::join!(burst, outages);

    // Recovery: the worker catches up with what it can (entries that failed come back after
    // their backoff; those leased when the database went away, when their lease ends), then one
    // reconciler run repairs whatever is still missing.
    let (mut last, mut still) = (i64::MAX, 0);
    while still < 10 {
        let pending = app.outbox.pending().await.expect("the database is back");
        if pending == 0 {
            break;
        }
        still = if pending == last { still + 1 } else { 0 };
        last = pending;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waiting = app.outbox.pending().await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let applied = worker.await.unwrap();
    // One reconciler run, as the schedule would start it.
    let mut reconciler = Reconciler::from_settings(&app.settings).await.unwrap();
    reconciler.indexer = Some(app.indexer.clone());
    let summary =
        reconciler.run(Policy { resend_after: Duration::ZERO, ..Policy::default() }, &|_, _| {}).await.unwrap();
    app.elastic().refresh().await.unwrap();
    let refused = REFUSED.load(Ordering::Relaxed);
    eprintln!("{refused} client calls refused; the worker applied {applied} entries; {waiting} were left to the reconciler, which did {summary:?}");
    assert!(refused > 0, "the database outage refused client calls");

    // The database: the files kept are available, the deleted ones have no row.
    let kept: BTreeSet<String> = files.iter().filter(|(_, (_, keep))| *keep).map(|(_, (k, _))| k.to_string()).collect();
    let client = app.db.client().await;
    let rows = client.query("SELECT file_key FROM stored_files WHERE status = 'available'", &[]).await.unwrap();
    let available: BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(available, kept, "the database holds exactly the files kept");
    assert_eq!(available.len(), FILES - FILES / DELETE_EVERY);
    // (An initiate whose answer was cut off and retried leaves its first upload pending: an
    // abandoned upload, which expires after the pending TTL.)
    let deleted: Vec<String> = files.iter().filter(|(_, (_, keep))| !*keep).map(|(_, (k, _))| k.to_string()).collect();
    let left =
        client.query_one("SELECT count(*) FROM stored_files WHERE file_key = ANY($1)", &[&deleted]).await.unwrap();
    assert_eq!(left.get::<_, i64>(0), 0, "no row of a deleted file is left");

    // The index: exactly the available files' documents.
    let index = app.elastic();
    let mut documents = BTreeSet::new();
    let mut after: Option<FileKey> = None;
    loop {
        let page = index.documents_after(after.as_ref(), 500).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.file_key.clone());
        documents.extend(page.iter().map(|d| d.file_key.to_string()));
    }
    assert_eq!(documents.len(), available.len(), "as many documents as available files ({summary:?})");
    assert_eq!(documents, available, "the index holds exactly the available files");
    // Every kept file is found by its own word, no deleted one is, and the shared word finds them all.
    for (i, (_, keep)) in &files {
        let hits = search_total(&app, &alice, &format!("quokka{i}")).await;
        assert_eq!(hits, u64::from(*keep), "file {i} (kept: {keep})");
    }
    assert_eq!(search_total(&app, &alice, "wallaby").await, u64::try_from(kept.len()).unwrap());
}
