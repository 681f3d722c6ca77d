//! `files-bench`: what `make bench` runs after building the release binaries and starting
//! PostgreSQL and LocalStack (`infra/bench/run.sh`).
//!
//! - `files-bench run`: measures binary sizes, cold starts and memory, warm latency and
//!   streaming, reads the criterion results, prints one table and writes it as Markdown and
//!   JSON.
//! - `files-bench stream --mib N`: the streaming child (storage from the environment).
//!
//! Functions run as Lambda runs them: the release binary, exec'd with the Lambda variables and
//! the app's own, against a Runtime API emulator on 127.0.0.1. Nothing leaves loopback.

mod child;
mod documents;
mod emulator;
mod functions;
mod indexer;
mod measure;
mod media;
mod micro;
mod multipart;
mod pipeline;
mod relay;
mod report;
mod search;
mod stream;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use files_testkit::Backend;

use crate::functions::Fixture;
use crate::measure::Plan;
use crate::report::{Machine, Report};

#[derive(Parser)]
#[command(about = "Measures the release functions: cold start, memory, warm latency, streaming, size.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Size,
    Cold,
    Warm,
    Stream,
    Indexer,
    Micro,
    /// Plain against verify-full TLS to PostgreSQL (needs `--tls-database-url`).
    Tls,
    /// The local media server: signed PUT and GET over HTTP, and its peak RSS.
    Media,
    /// confirm-upload's first confirm of a 3 KB text file against a 30 MB PDF.
    Confirm,
    /// The reconciler's scan: 100,000 rows and objects local, 10,000 on the S3 server.
    Reconcile,
    /// Multipart uploads: 1,000 part URLs signed, 1 GiB through the local media server, a
    /// 1,000-part completion on the S3 server.
    Multipart,
    /// Search at scale: a two-word query over 10,000 and 100,000 documents on both backends.
    Search,
}

#[derive(Subcommand)]
enum Command {
    /// Measure everything (or `--only` some parts) and write the table.
    Run(Box<RunArgs>),
    /// The streaming child: save and read back `--mib` MiB through the configured storage.
    Stream {
        /// Size in MiB.
        #[arg(long)]
        mib: u64,
    },
    /// The extraction child: extract the document under `--key` from the configured storage.
    Extract {
        /// The object key.
        #[arg(long)]
        key: String,
        /// Its declared type.
        #[arg(long, default_value = "application/pdf")]
        content_type: String,
    },
}

#[derive(Args)]
struct RunArgs {
    /// PostgreSQL database to use (migrated); its `stored_files` is emptied first.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    /// S3 endpoint (LocalStack).
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    s3_endpoint: String,
    /// The search server for the indexer figures (osmem-server).
    #[arg(long, default_value = "http://127.0.0.1:9201")]
    elasticsearch_url: String,
    /// Bucket for the S3 configuration (created when missing).
    #[arg(long, default_value = "files-bench")]
    bucket: String,
    /// Folder of the release function binaries.
    #[arg(long, default_value = "target/release")]
    release_dir: PathBuf,
    /// Where the table is written (Markdown and JSON).
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Runs of each cold-start and warm measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Timed invocations per warm run.
    #[arg(long, default_value_t = 2000)]
    invocations: usize,
    /// Untimed invocations before them.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    /// Runs of each streaming measurement.
    #[arg(long, default_value_t = 3)]
    stream_runs: usize,
    /// Streamed sizes in MiB.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1024")]
    stream_mib: Vec<u64>,
    /// Criterion's output folder, read for the micro-benchmarks.
    #[arg(long, default_value = "target/criterion")]
    criterion_dir: PathBuf,
    /// Only criterion results written at or after this Unix time are reported.
    #[arg(long, default_value_t = 0)]
    criterion_since: u64,
    /// The commit measured, for the table's header.
    #[arg(long, default_value = "unknown")]
    commit: String,
    /// Measure only these functions (default: all).
    #[arg(long, value_delimiter = ',')]
    functions: Vec<String>,
    /// A migrated database on a PostgreSQL that takes both plain and TLS connections, for the
    /// `tls` part (its host name is the one its certificate names).
    #[arg(long, env = "BENCH_TLS_DATABASE_URL")]
    tls_database_url: Option<String>,
    /// The CA that issued that server's certificate (PEM).
    #[arg(long, env = "BENCH_TLS_ROOT_CERT")]
    tls_root_cert: Option<String>,
    /// Measure only these parts.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "size,cold,warm,stream,media,indexer,confirm,reconcile,multipart,search,tls,micro"
    )]
    only: Vec<Part>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // PDF text is extracted in children of this executable (reindex, the indexer benchmark).
    files_core::search::extract::serve_if_asked();
    match Cli::parse().command {
        Command::Stream { mib } => stream::child(mib).await,
        Command::Extract { key, content_type } => indexer::child(&key, &content_type).await,
        Command::Run(args) => run(*args).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let RunArgs {
        database_url,
        s3_endpoint,
        elasticsearch_url,
        bucket,
        release_dir,
        out,
        runs,
        invocations,
        warmup,
        stream_runs,
        stream_mib,
        criterion_dir,
        criterion_since,
        commit,
        functions,
        only,
        tls_database_url,
        tls_root_cert,
    } = args;
    let started = Instant::now();
    let machine = Machine::probe();
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let logs = tempfile::Builder::new().prefix("files-bench-logs").tempdir()?;
    let functions = select(&functions)?;
    let plan = Plan {
        release_dir,
        logs: logs.path().to_owned(),
        runs,
        invocations,
        warmup,
        stream_runs,
        stream_mib,
        functions,
    };
    let needs_fixtures = only.iter().any(|p| {
        matches!(
            p,
            Part::Cold
                | Part::Warm
                | Part::Stream
                | Part::Indexer
                | Part::Media
                | Part::Confirm
                | Part::Reconcile
                | Part::Multipart
        )
    });
    let fixtures = if needs_fixtures {
        empty_files_table(&database_url).await?;
        let mut fixtures = Vec::new();
        for backend in [Backend::Local, Backend::S3] {
            fixtures.push(Fixture::new(backend, &database_url, &s3_endpoint, &bucket).await?);
        }
        fixtures
    } else {
        Vec::new()
    };
    let mut figures = Vec::new();
    if only.contains(&Part::Size) {
        figures.extend(measure::sizes(&plan)?);
    }
    if only.contains(&Part::Cold) {
        eprintln!("files-bench: cold starts ({runs} runs per function and backend)");
        figures.extend(measure::cold_starts(&plan, &fixtures).await?);
    }
    if only.contains(&Part::Warm) {
        eprintln!("files-bench: warm latency ({runs} runs of {invocations} invocations)");
        figures.extend(measure::warm(&plan, &fixtures).await?);
    }
    if only.contains(&Part::Stream) {
        eprintln!("files-bench: streaming ({stream_runs} runs per size and backend)");
        let exe = std::env::current_exe().context("locate files-bench")?;
        figures.extend(measure::streaming(&plan, &fixtures, &exe).await?);
    }
    if only.contains(&Part::Media) {
        eprintln!("files-bench: local media server ({stream_runs} runs per size)");
        let local = fixtures.iter().find(|f| f.backend == Backend::Local).context("the local fixture")?;
        figures.extend(media::figures(&plan, local).await?);
    }
    if only.contains(&Part::Indexer) {
        let s3 = fixtures.iter().find(|f| f.backend == Backend::S3).context("the S3 fixture")?;
        let exe = std::env::current_exe().context("locate files-bench")?;
        figures.extend(indexer::figures(&s3.env, &elasticsearch_url, &exe, runs).await?);
    }
    if only.contains(&Part::Confirm) {
        // The fixtures' 1 MiB upload limit would refuse the 30 MB file.
        let mut large = Vec::new();
        for backend in [Backend::Local, Backend::S3] {
            let limit = [("UPLOAD_MAX_SIZE_BYTES", "67108864")];
            large.push(Fixture::with(backend, &database_url, &s3_endpoint, &bucket, &limit).await?);
        }
        figures.extend(pipeline::confirm_figures(&plan, &large).await?);
    }
    if only.contains(&Part::Reconcile) {
        figures.extend(pipeline::reconcile_figures(&fixtures, &elasticsearch_url).await?);
    }
    if only.contains(&Part::Multipart) {
        eprintln!("files-bench: multipart uploads");
        figures.extend(multipart::figures(&plan, &fixtures, &s3_endpoint).await?);
    }
    if only.contains(&Part::Search) {
        eprintln!("files-bench: search at scale");
        figures.extend(search::figures(&database_url, &elasticsearch_url).await?);
    }
    if only.contains(&Part::Tls) {
        let (url, ca) =
            tls_database_url.zip(tls_root_cert).context("the tls part needs --tls-database-url and --tls-root-cert")?;
        eprintln!("files-bench: database TLS ({runs} cold starts per function and mode)");
        empty_files_table(&format!("{url}?sslmode=disable")).await?;
        let mut variants = Vec::new();
        for (label, params) in
            [("plain", "sslmode=disable".to_owned()), ("verify-full", format!("sslmode=verify-full&sslrootcert={ca}"))]
        {
            variants
                .push((label, Fixture::new(Backend::Local, &format!("{url}?{params}"), &s3_endpoint, &bucket).await?));
        }
        figures.extend(measure::database_tls(&plan, &variants).await?);
    }
    if only.contains(&Part::Micro) {
        let since = UNIX_EPOCH + Duration::from_secs(criterion_since);
        figures.extend(micro::figures(&criterion_dir, since)?);
    }
    let report = Report {
        date,
        commit,
        machine,
        runs: format!(
            "{runs} per cold-start/warm figure ({invocations} timed invocations each), \
                     {stream_runs} per streaming figure; micro: criterion samples"
        ),
        seconds: started.elapsed().as_secs_f64(),
        figures,
    };
    write(&report, &out)?;
    print!("{}", report.to_text());
    Ok(())
}

/// The functions named in `names` (all when empty).
fn select(names: &[String]) -> anyhow::Result<Vec<functions::Function>> {
    if names.is_empty() {
        return Ok(functions::FUNCTIONS.to_vec());
    }
    names
        .iter()
        .map(|name| {
            functions::FUNCTIONS.iter().find(|f| f.name == name).copied().with_context(|| {
                let known: Vec<&str> = functions::FUNCTIONS.iter().map(|f| f.name).collect();
                format!("no function `{name}` (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// Empties `stored_files` so that every run inserts into a table of the same size.
async fn empty_files_table(database_url: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .with_context(|| "PostgreSQL is required (BENCH_DATABASE_URL)".to_owned())?;
    let driver = tokio::spawn(connection);
    client.batch_execute("TRUNCATE stored_files CASCADE").await.context("empty stored_files")?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// Writes `<out>/<timestamp>.{md,json}` and copies them to `<out>/latest.{md,json}`.
fn write(report: &Report, out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let stamp = chrono::DateTime::from_timestamp(i64::try_from(stamp)?, 0)
        .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| stamp.to_string());
    let markdown = report.to_markdown();
    let json = serde_json::to_string_pretty(report)?;
    for name in [stamp.as_str(), "latest"] {
        std::fs::write(out.join(format!("{name}.md")), &markdown)?;
        std::fs::write(out.join(format!("{name}.json")), &json)?;
    }
    Ok(())
}
