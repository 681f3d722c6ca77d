//! The figures of issue #14: indexing that loses nothing, without slowing the request down.
//!
//! - **confirm**: confirm-upload's release binary, warm, through the Runtime API emulator, each
//!   invocation the first confirm of a fresh pending upload (sent as a client sends it): a 3 KB
//!   text file against a 30 MB PDF. No extraction happens in the request, so the two match.
//! - **reconcile**: one reconciler run (`files_core::reconcile`) over 100,000 available rows
//!   with their objects and documents on the local backend (PostgreSQL search), and over 10,000
//!   on the S3 server (its search on the search server); every object older than the grace
//!   period, so each is looked up. Seconds, and items (objects + rows + documents) per second.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{ensure, Context as _};
use bytes::Bytes;
use files_core::reconcile::{Policy, Reconciler};
use files_core::state::FromSettings as _;
use files_core::Settings;
use files_testkit::Backend;
use futures_util::StreamExt as _;

use crate::emulator::Instance;
use crate::functions::{label, Fixture, FUNCTIONS};
use crate::measure::{Plan, COLD_LIMIT, WARM_LIMIT};
use crate::report::{ms, percentile, Figure, Target, Unit};

/// Timed first confirms per size and backend (each needs its own upload).
const CONFIRMS: usize = 20;
/// Untimed confirms before them.
const CONFIRM_WARMUP: usize = 3;
/// Rows and objects of the local scan (#14: ≤ 60 s).
const LOCAL_SCAN: usize = 100_000;
/// Rows and objects of the S3 scan (#14: its rate reported).
const S3_SCAN: usize = 10_000;

/// confirm-upload p50 and p99 for a first confirm of a 3 KB text file and of a 30 MB PDF, per
/// backend.
///
/// # Errors
/// When seeding fails or the function answers wrongly.
pub async fn confirm_figures(plan: &Plan, fixtures: &[Fixture]) -> anyhow::Result<Vec<Figure>> {
    let function = FUNCTIONS.iter().find(|f| f.name == "confirm-upload").context("confirm-upload is measured")?;
    let text: Bytes = Bytes::from(crate::indexer::text_body(0).into_iter().cycle().take(3_000).collect::<Vec<u8>>());
    let pdf = Bytes::from(crate::indexer::generate_pdf(30_000_000)?);
    let mut figures = Vec::new();
    for fixture in fixtures {
        for (what, name, content_type, bytes) in
            [("3 KB text", "notes.txt", "text/plain", &text), ("30 MB PDF", "scan.pdf", "application/pdf", &pdf)]
        {
            eprintln!(
                "files-bench: confirm: {} uploads of {what} ({})",
                CONFIRMS + CONFIRM_WARMUP + 1,
                label(fixture.backend)
            );
            let mut invocations = Vec::new();
            for _ in 0..=CONFIRMS + CONFIRM_WARMUP {
                invocations.push(fixture.pending_confirm(name, content_type, bytes).await?);
            }
            let first = invocations.remove(0);
            let (mut instance, cold) = Instance::cold_start(
                &plan.binary(function),
                function.name,
                &fixture.env,
                &plan.log(function, fixture.backend),
                first.event.clone(),
                COLD_LIMIT,
            )
            .await?;
            first.check(function.name, &cold.answer)?;
            let mut latencies = Vec::with_capacity(CONFIRMS);
            for (i, invocation) in invocations.into_iter().enumerate() {
                let answer = instance.invoke(invocation.event.clone(), WARM_LIMIT).await?;
                invocation.check(function.name, &answer)?;
                if i >= CONFIRM_WARMUP {
                    latencies.push(ms(answer.latency()));
                }
            }
            let figure = |q: f64| format!("confirm-upload first confirm, {what}, p{q} ({})", label(fixture.backend));
            figures.push(Figure::new("confirm", figure(50.0), Unit::Ms, vec![percentile(&latencies, 50.0)], None));
            figures.push(Figure::new("confirm", figure(99.0), Unit::Ms, vec![percentile(&latencies, 99.0)], None));
        }
    }
    Ok(figures)
}

/// The reconciler's scan on both backends.
///
/// # Errors
/// When a server is missing or the run fails.
pub async fn reconcile_figures(fixtures: &[Fixture], elasticsearch_url: &str) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for fixture in fixtures {
        let (count, target) = match fixture.backend {
            Backend::Local => (LOCAL_SCAN, Some(Target::at_most(60.0, "#14"))),
            Backend::S3 => (S3_SCAN, None),
        };
        let media = tempfile::Builder::new().prefix("files-bench-scan").tempdir()?;
        let mut env: HashMap<String, String> = fixture.env.iter().cloned().collect();
        let database_url = env.get("DATABASE_URL").context("DATABASE_URL is set")?.clone();
        let scan_db = format!(
            "{}/files_bench_scan_{}",
            database_url.rsplit_once('/').map_or("", |(b, _)| b),
            label(fixture.backend)
        );
        env.insert("DATABASE_URL".to_owned(), scan_db.clone());
        match fixture.backend {
            Backend::Local => {
                env.insert("LOCAL_MEDIA_ROOT".to_owned(), media.path().display().to_string());
            }
            Backend::S3 => {
                let bucket = format!("files-bench-scan-{}", uuid::Uuid::new_v4().simple());
                env.insert("AWS_S3_BUCKET_NAME".to_owned(), bucket);
                env.insert("ELASTICSEARCH_URL".to_owned(), elasticsearch_url.to_owned());
                env.insert(
                    "ELASTICSEARCH_INDEX".to_owned(),
                    format!("files-bench-scan-{}", uuid::Uuid::new_v4().simple()),
                );
            }
        }
        let settings = Settings::from_map(&env).context("the scan settings are valid")?;
        eprintln!("files-bench: reconcile: seeding {count} rows, objects and documents ({})", label(fixture.backend));
        fresh_database(&scan_db).await?;
        let keys = seed_rows(&scan_db, count, fixture.backend).await?;
        seed_objects(&settings, media.path(), &keys).await?;
        seed_documents(&settings, &scan_db).await?;
        analyse(&scan_db).await?;

        let reconciler = Reconciler::from_settings(&settings).await?;
        let policy = Policy { orphan_grace: std::time::Duration::ZERO, ..Policy::default() };
        let started = Instant::now();
        // When each step's last page ended, to tell where a run's time goes.
        let steps = std::sync::Mutex::new(Vec::<(String, f64)>::new());
        let progress = |what: &str, _: usize| {
            let mut steps = steps.lock().unwrap_or_else(|e| e.into_inner());
            let at = started.elapsed().as_secs_f64();
            match steps.last_mut() {
                Some((last, end)) if last == what => *end = at,
                _ => steps.push((what.to_owned(), at)),
            }
        };
        let summary = reconciler.run(policy, &progress).await?;
        let seconds = started.elapsed().as_secs_f64();
        let steps = steps.into_inner().unwrap_or_else(|e| e.into_inner());
        let ends: Vec<String> = steps.iter().map(|(what, end)| format!("{what} until {end:.1} s")).collect();
        eprintln!("files-bench: reconcile ({}): {}", label(fixture.backend), ends.join(", "));
        ensure!(summary.objects_scanned == count, "{} of {count} objects scanned", summary.objects_scanned);
        ensure!(summary.files_scanned == count, "{} of {count} rows checked", summary.files_scanned);
        ensure!(summary.documents_scanned == count, "{} of {count} documents checked", summary.documents_scanned);
        ensure!(
            summary.orphans_removed + summary.stale_documents + summary.missing_documents == 0,
            "a consistent store needs no repair: {summary:?}"
        );
        let items = (summary.objects_scanned + summary.files_scanned + summary.documents_scanned) as f64;
        let name =
            |what: &str| format!("reconcile {count} rows + objects + documents, {what} ({})", label(fixture.backend));
        figures.push(Figure::new("reconcile", name("run"), Unit::S, vec![seconds], target));
        figures.push(Figure::new("reconcile", name("rate"), Unit::ItemsPerSecond, vec![items / seconds], None));
    }
    Ok(figures)
}

pub(crate) async fn fresh_database(url: &str) -> anyhow::Result<()> {
    let (base, name) = url.rsplit_once('/').context("a database URL")?;
    let (client, connection) = tokio_postgres::connect(&format!("{base}/postgres"), tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    drop(client);
    let _ = driver.await;
    files_core::db::run_migrations(url, &Default::default()).await.map_err(|e| anyhow::anyhow!("migrate: {e}"))?;
    Ok(())
}

/// `count` available rows confirmed a day ago, each with its index version 1; their keys.
async fn seed_rows(url: &str, count: usize, backend: Backend) -> anyhow::Result<Vec<String>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let backend = label(backend);
    let count = i64::try_from(count)?;
    client
        .execute(
            "INSERT INTO stored_files (id, file_key, original_filename, content_type, size, status, \
             storage_backend, uploaded_by, organization_id, created_at, updated_at, confirmed_at) \
             SELECT gen_random_uuid(), 'uploads/' || gen_random_uuid() || '.txt', 'scan ' || g || '.txt', \
               'text/plain', 4, 'available', $1, 'bench', 'bench-org', now() - interval '1 day', \
               now() - interval '1 day', now() - interval '1 day' \
             FROM generate_series(1, $2::bigint) AS g",
            &[&backend, &count],
        )
        .await?;
    client.execute("INSERT INTO index_state (file_key, version) SELECT file_key, 1 FROM stored_files", &[]).await?;
    let rows = client.query("SELECT file_key FROM stored_files", &[]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Statistics for the planner, as autovacuum keeps them in a running database (right after a
/// bulk load it has none, and plans as if the tables were tiny).
async fn analyse(url: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client.batch_execute("ANALYZE").await?;
    Ok(())
}

/// An object per key: local, the data file and its metadata sidecar as the local store writes
/// them (without its fsyncs, which would make seeding the slow part); S3, a PUT each, 32 at once.
async fn seed_objects(settings: &Settings, root: &std::path::Path, keys: &[String]) -> anyhow::Result<()> {
    match settings.storage.s3() {
        None => {
            let (root, keys) = (root.to_owned(), keys.to_vec());
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let sidecar = format!(
                    "{{\"content_type\":\"text/plain\",\"checksum_sha256\":\"{}\"}}",
                    files_testkit::sha256_base64(b"scan")
                );
                std::fs::create_dir_all(root.join("uploads"))?;
                std::fs::create_dir_all(root.join(".meta/uploads"))?;
                for key in &keys {
                    std::fs::write(root.join(key), b"scan")?;
                    std::fs::write(root.join(".meta").join(format!("{key}.json")), &sidecar)?;
                }
                Ok(())
            })
            .await??;
        }
        Some(s3) => {
            let store = files_core::storage::s3::S3ObjectStore::new(s3).await?;
            files_core::storage::s3::ensure_bucket(&store).await?;
            let puts = futures_util::stream::iter(keys.iter().cloned())
                .map(|key| {
                    let store = store.clone();
                    async move {
                        store
                            .client()
                            .put_object()
                            .bucket(store.bucket())
                            .key(key)
                            .content_type("text/plain")
                            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"scan"))
                            .send()
                            .await
                            .map(|_| ())
                    }
                })
                .buffer_unordered(32)
                .collect::<Vec<_>>()
                .await;
            for put in puts {
                put.context("put a scan object")?;
            }
        }
    }
    Ok(())
}

/// A document per row at version 1: PostgreSQL's text table, or bulk writes to the search server.
async fn seed_documents(settings: &Settings, url: &str) -> anyhow::Result<()> {
    if settings.search.elasticsearch_url.is_none() {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
            .execute(
                "INSERT INTO file_search_text (file_id, content, version, document, organization_id, created_at) \
                 SELECT id, 'scan', 1, to_tsvector('simple', 'scan'), organization_id, created_at FROM stored_files",
                &[],
            )
            .await?;
        return Ok(());
    }
    use files_core::search::{IndexDocuments as _, SearchDocument, Upsert};
    let index = files_core::search::elastic::ElasticIndex::from_settings(&settings.search)?;
    index.ensure_index().await?;
    let pool = files_core::state::build_pool(settings, &settings.database).await?;
    let repo = files_core::db::PgFileRepository::new(pool);
    let mut after = None;
    loop {
        let page = files_core::db::FileRepository::list_available(&repo, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let upserts: Vec<Upsert> = page
            .into_iter()
            .map(|file| Upsert { document: SearchDocument::of(file, Ok("scan".to_owned())), version: 1 })
            .collect();
        index.write(&upserts, &[]).await?;
    }
    index.refresh().await?;
    Ok(())
}
