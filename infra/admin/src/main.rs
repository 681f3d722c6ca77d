//! `files-admin`: operator commands that must not run on every cold start.
//!
//! - `migrate`: apply the embedded migrations to `DATABASE_URL` (safe to repeat).
//! - `token`: print a development bearer token for `AUTH_MODE=local-jwt`.
//! - `create-index`: create the versioned search index behind its alias (safe to repeat).
//! - `reindex`: rebuild the search index from PostgreSQL, with a progress bar.
//! - `reconcile`: expire never-confirmed uploads, remove orphan objects, repair index drift, and deliver outbox entries that are still
//!   there, under an advisory lock, with a progress bar and a summary.
//! - `index-worker`: apply the index outbox as it fills, with the indexer's own code (`make dev`,
//!   which has no SQS, runs it beside the functions).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "files-admin", about = "Operator commands for the file-storage service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations (safe to repeat).
    Migrate {
        /// The database to migrate.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// Create the database first when it does not exist.
        #[arg(long)]
        create_database: bool,
    },
    /// Print a development bearer token (HS256) for AUTH_MODE=local-jwt.
    Token {
        /// The user id (`sub`).
        #[arg(long)]
        user: String,
        /// The organization id.
        #[arg(long)]
        org: String,
        /// Roles, comma-separated (e.g. `admin`).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: i64,
        /// The signing secret.
        #[arg(long, env = "AUTH_LOCAL_JWT_SECRET", hide_env_values = true)]
        secret: String,
        /// The claim that carries the organization.
        #[arg(long, env = "AUTH_ORG_CLAIM", default_value = "org_id")]
        org_claim: String,
    },
    /// Create `<ELASTICSEARCH_INDEX>-v1` with the mapping behind the alias, unless the alias exists.
    CreateIndex,
    /// Rebuild the search index from PostgreSQL: a fresh versioned index, filled, then swapped
    /// in behind the alias atomically (PostgreSQL fallback: rewrites the stored text).
    Reindex {
        /// Rows per batch.
        #[arg(long, default_value_t = 200)]
        batch: i64,
    },
    /// Expire uploads never confirmed within the pending TTL (their objects removed), remove
    /// objects no live file has after a grace period, refresh index documents that differ from
    /// the database, and deliver outbox entries still undelivered after a delay (to
    /// INDEXER_QUEUE_URL, or applied here without one). Safe to repeat; a second run at once
    /// does nothing.
    Reconcile {
        /// Pending uploads older than this many seconds expire.
        #[arg(long, env = "UPLOAD_PENDING_TTL_SECONDS", default_value_t = 86_400)]
        pending_ttl_seconds: u64,
        /// Objects younger than this many seconds are never removed as orphans.
        #[arg(long, env = "UPLOAD_ORPHAN_GRACE_SECONDS", default_value_t = 3_600)]
        orphan_grace_seconds: u64,
        /// Outbox entries older than this many seconds are delivered again; files confirmed
        /// less than this ago are not yet expected in the index.
        #[arg(long, default_value_t = 300)]
        resend_after_seconds: u64,
        /// Rows or entries per page.
        #[arg(long, default_value_t = 500)]
        page: i64,
    },
    /// Apply the index outbox as it fills, as the indexer's queue does on AWS: every entry
    /// leased, applied by the indexer (text extraction included) and deleted.
    IndexWorker {
        /// Pause after a pass that found nothing, in milliseconds.
        #[arg(long, default_value_t = 200)]
        interval_ms: u64,
        /// Entries per pass.
        #[arg(long, default_value_t = 100)]
        batch: i64,
        /// Apply what is there, then exit.
        #[arg(long)]
        once: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // The reindex extracts PDF text in children of this executable.
    files_core::search::extract::serve_if_asked();
    // Run by people and pipelines, not by Lambda: AWS profiles, web identity and the metadata
    // endpoints as well as the environment.
    files_core::aws::use_default_provider_chain();
    match Cli::parse().command {
        Command::Migrate { database_url, create_database } => {
            // DATABASE_SSL_MODE and DATABASE_SSL_ROOT_CERT, as for the functions.
            let tls = match files_core::config::DatabaseTls::from_env() {
                Ok(tls) => tls,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            if create_database {
                match files_core::db::create_database_if_missing(&database_url, &tls).await {
                    Ok(true) => println!("migrations: created the database"),
                    Ok(false) => {}
                    Err(e) => {
                        eprintln!("cannot create the database: {}", files_core::telemetry::error_chain(e.as_ref()));
                        return ExitCode::FAILURE;
                    }
                }
            }
            migrate(&database_url, &tls).await
        }
        Command::CreateIndex => report(create_index().await),
        Command::Reindex { batch } => report(reindex(batch).await),
        Command::Reconcile { pending_ttl_seconds, orphan_grace_seconds, resend_after_seconds, page } => {
            let policy = files_core::reconcile::Policy {
                pending_ttl: std::time::Duration::from_secs(pending_ttl_seconds),
                orphan_grace: std::time::Duration::from_secs(orphan_grace_seconds),
                resend_after: std::time::Duration::from_secs(resend_after_seconds),
                page: page.max(1),
            };
            report(reconcile(policy).await)
        }
        Command::IndexWorker { interval_ms, batch, once } => {
            report(index_worker(std::time::Duration::from_millis(interval_ms), batch, once).await)
        }
        Command::Token { user, org, roles, ttl, secret, org_claim } => {
            match files_core::auth::issue_local_token(&secret, &org_claim, &user, &org, &roles, ttl) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot sign the token: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn migrate(database_url: &str, tls: &files_core::config::DatabaseTls) -> ExitCode {
    match files_core::db::run_migrations(database_url, tls).await {
        Ok(applied) if applied.is_empty() => {
            println!("migrations: database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            for name in applied {
                println!("migrations: applied {name}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migrations failed: {}", files_core::telemetry::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn report(result: Result<String, AnyError>) -> ExitCode {
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("failed: {}", files_core::telemetry::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn create_index() -> Result<String, AnyError> {
    let settings = files_core::config::SearchSettings::from_env()?;
    if settings.elasticsearch_url.is_none() {
        return Ok("ELASTICSEARCH_URL is not set: search uses PostgreSQL, which needs no index".to_owned());
    }
    let index = files_core::search::elastic::ElasticIndex::from_settings(&settings)?;
    Ok(if index.ensure_index().await? {
        format!("created {}-v1 behind the alias {}", settings.index, settings.index)
    } else {
        format!("the alias {} exists already", settings.index)
    })
}

async fn reindex(batch: i64) -> Result<String, AnyError> {
    use std::sync::Arc;

    use files_core::db::{FileRepository, PgFileRepository, PgIndexVersions};
    use files_core::indexing::{Change, IndexWriter, Indexer};
    use files_core::search::elastic::ElasticIndex;
    use files_core::search::extract::{Extractor, Limits};
    use files_core::state::{build_index_writer, build_pool};

    let settings = files_core::Settings::from_env()?;
    let pool = build_pool(&settings, &settings.database).await?;
    let repo = PgFileRepository::new(pool.clone());
    let (writer, fresh): (IndexWriter, Option<(ElasticIndex, String)>) = match &settings.search.elasticsearch_url {
        Some(_) => {
            let elastic = ElasticIndex::from_settings(&settings.search)?;
            let name = format!("{}-v{}", settings.search.index, chrono::Utc::now().format("%Y%m%d%H%M%S"));
            elastic.create_index(&name).await?;
            let versions = Arc::new(PgIndexVersions::new(pool.clone()));
            (IndexWriter::new(versions, Arc::new(elastic.writing_to(&name))), Some((elastic, name)))
        }
        None => (build_index_writer(&settings, pool)?, None),
    };
    let objects = files_core::storage::build_objects(&settings.storage).await?;
    let text = Arc::new(Extractor::new(objects.clone(), Limits::of(&settings.search)));
    let target = Indexer::new(writer, text, objects, settings.search.indexer_concurrency);
    let total = u64::try_from(repo.count_available().await?).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} files ({per_sec}, {eta} left)",
        )?
        .progress_chars("=> "),
    );
    let mut after = None;
    let mut failed = 0u64;
    loop {
        let rows = repo.list_available(after, batch).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        let changes: Vec<Change> = rows.iter().map(|row| Change::of_file(&row.file_key)).collect();
        for result in target.apply(&changes).await {
            if let Err(e) = result {
                failed += 1;
                bar.println(format!("failed: {}", files_core::telemetry::error_chain(&e)));
            }
        }
        bar.inc(rows.len() as u64);
    }
    bar.finish();
    if failed > 0 {
        return Err(format!("{failed} files could not be indexed; the alias was left as it was").into());
    }
    match fresh {
        Some((elastic, name)) => {
            elastic.point_alias_at(&name).await?;
            Ok(format!("reindexed {total} files into {name}, now behind the alias {}", elastic.alias()))
        }
        None => Ok(format!("reindexed {total} files into PostgreSQL")),
    }
}

async fn index_worker(interval: std::time::Duration, batch: i64, once: bool) -> Result<String, AnyError> {
    files_core::telemetry::init();
    let settings = files_core::Settings::from_env()?;
    let (indexer, outbox) = files_core::state::build_indexer_and_outbox(&settings).await?;
    tracing::info!(batch, "index worker applying the outbox");
    let mut total = 0usize;
    loop {
        match files_core::outbox::drain(outbox.as_ref(), &indexer, batch, std::time::Duration::ZERO).await {
            Ok(pass) if pass.applied > 0 || pass.failed > 0 => {
                total += pass.applied;
                tracing::info!(applied = pass.applied, failed = pass.failed, "outbox pass");
                if pass.failed > 0 {
                    // The failed entries come back after their backoff; no busy loop meanwhile.
                    tokio::time::sleep(interval).await;
                }
                continue;
            }
            Ok(_) if once => return Ok(format!("applied {total} outbox entries")),
            Ok(_) => {}
            Err(e) if once => return Err(e.into()),
            // The database is down: wait and go on; the entries are safe where they are.
            Err(e) => tracing::warn!(error = %files_core::telemetry::error_chain(&e), "the outbox cannot be read"),
        }
        tokio::time::sleep(interval).await;
    }
}

async fn reconcile(policy: files_core::reconcile::Policy) -> Result<String, AnyError> {
    use files_core::state::FromSettings as _;

    let settings = files_core::Settings::from_env()?;
    // The function's reconciler; without a queue the entries are applied here, by the indexer.
    let mut reconciler = files_core::reconcile::Reconciler::from_settings(&settings).await?;
    if reconciler.queue.is_none() {
        reconciler.indexer = Some(files_core::indexing::Indexer::from_settings(&settings).await?);
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template("{elapsed_precise} {spinner} {msg}")?);
    let done = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    let progress = |what: &str, count: usize| {
        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
        *done.entry(what.to_owned()).or_default() += count;
        bar.set_message(done.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "));
        bar.tick();
    };
    let summary = reconciler.run(policy, &progress).await?;
    bar.finish_and_clear();
    Ok(if summary.skipped {
        "reconcile: another run holds the lock; nothing done".to_owned()
    } else {
        format!(
            "reconcile: {} pending uploads expired ({} objects removed), {} multipart uploads aborted; {} objects scanned, {} orphan keys and {} \
             unpinned versions removed; {} documents and {} files checked, {} stale and {} missing documents \
             refreshed; {} outbox entries resent, {} applied",
            summary.expired,
            summary.objects_removed,
            summary.uploads_aborted,
            summary.objects_scanned,
            summary.orphans_removed,
            summary.versions_removed,
            summary.documents_scanned,
            summary.files_scanned,
            summary.stale_documents,
            summary.missing_documents,
            summary.resent,
            summary.applied
        )
    })
}
