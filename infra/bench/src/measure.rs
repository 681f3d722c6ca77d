//! The measurements: binary sizes, cold starts and memory, warm latency, the database round
//! trip of initiate-upload, and streaming. Every loop has a fixed count and every wait a limit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use files_testkit::Backend;

use crate::emulator::{ColdStart, Instance};
use crate::functions::{label, Fixture, Function, Probe};
use crate::relay::DbRelay;
use crate::report::{ms, percentile, Figure, Target, Unit};
use crate::stream;

pub(crate) const COLD_LIMIT: Duration = Duration::from_secs(15);
pub(crate) const WARM_LIMIT: Duration = Duration::from_secs(10);
const MIB: f64 = 1024.0 * 1024.0;

/// How much to measure, and where the binaries and logs are.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The folder of the release function binaries.
    pub release_dir: PathBuf,
    /// Where function logs go.
    pub logs: PathBuf,
    /// Runs of each cold-start and warm measurement.
    pub runs: usize,
    /// Timed invocations per warm run.
    pub invocations: usize,
    /// Untimed invocations before them.
    pub warmup: usize,
    /// Runs of each streaming measurement.
    pub stream_runs: usize,
    /// Streamed sizes, MiB.
    pub stream_mib: Vec<u64>,
    /// The functions measured.
    pub functions: Vec<Function>,
}

impl Plan {
    pub(crate) fn binary(&self, function: &Function) -> PathBuf {
        self.release_dir.join(function.name)
    }

    pub(crate) fn log(&self, function: &Function, backend: Backend) -> PathBuf {
        self.logs.join(format!("{}-{}.log", function.name, label(backend)))
    }
}

fn applies(function: &Function, fixture: &Fixture) -> bool {
    function.backends.contains(&fixture.backend)
}

/// Size on disk of each release function binary (built stripped by the release profile), in
/// megabytes (10^6 bytes): "≤ 8 MB" read strictly, 7.63 MiB.
///
/// # Errors
/// When a binary is missing.
pub fn sizes(plan: &Plan) -> anyhow::Result<Vec<Figure>> {
    let names = plan.functions.iter().map(|f| f.name).chain(SIZE_ONLY.iter().copied());
    names
        .map(|name| {
            let path = plan.release_dir.join(name);
            let bytes = std::fs::metadata(&path).with_context(|| format!("{} is not built", path.display()))?.len();
            // #14: the API functions that write rows and outbox entries hold no document parser.
            let target = if ["confirm-upload", "upload-local"].contains(&name) {
                Target::at_most(6.0, "#14")
            } else {
                Target::at_most(8.0, "#2/#6")
            };
            Ok(Figure::new("binary size", name, Unit::MB, vec![bytes as f64 / 1e6], Some(target)))
        })
        .collect()
}

/// Function binaries measured for their size only: upload-parts' routes need a multipart
/// upload in progress, which no fixture of the latency figures holds.
const SIZE_ONLY: &[&str] = &["upload-parts"];

/// Per function and backend: process spawn → first invocation answered, spawn → first
/// `/next` (init), and peak RSS after that invocation, each over `plan.runs` fresh processes.
///
/// # Errors
/// When a function fails to start or answers wrongly.
pub async fn cold_starts(plan: &Plan, fixtures: &[Fixture]) -> anyhow::Result<Vec<Figure>> {
    let (mut cold, mut init, mut memory) = (Vec::new(), Vec::new(), Vec::new());
    for function in &plan.functions {
        for fixture in fixtures.iter().filter(|f| applies(function, f)) {
            let (mut totals, mut inits, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..plan.runs {
                let (instance, measured) = cold_start(plan, function, fixture).await?;
                peaks.push(instance.peak_rss_kib()? as f64 / 1024.0);
                totals.push(ms(measured.total));
                inits.push(ms(measured.init));
            }
            let name = format!("{} ({})", function.name, label(fixture.backend));
            cold.push(Figure::new("cold start", &name, Unit::Ms, totals, Some(Target::at_most(10.0, "#6"))));
            init.push(Figure::new("init", &name, Unit::Ms, inits, None));
            let rss_target = function.http.then_some(Target::at_most(16.0, "#6"));
            memory.push(Figure::new("peak RSS after 1 invocation", &name, Unit::MiB, peaks, rss_target));
        }
    }
    cold.extend(init);
    cold.extend(memory);
    Ok(cold)
}

/// One fresh process of `function` in `fixture`, invoked once with its probe (the answer checked).
async fn cold_start(plan: &Plan, function: &Function, fixture: &Fixture) -> anyhow::Result<(Instance, ColdStart)> {
    let invocation = fixture.invocation(function.probe).await?;
    let (instance, measured) = Instance::cold_start(
        &plan.binary(function),
        function.name,
        &fixture.env,
        &plan.log(function, fixture.backend),
        invocation.event.clone(),
        COLD_LIMIT,
    )
    .await?;
    invocation.check(function.name, &measured.answer)?;
    Ok((instance, measured))
}

/// TLS to PostgreSQL: cold start (spawn → first answer) and first request (first `/next` →
/// answer: the connection is made then) of the functions that touch the database, over a
/// plain connection and a `verify-full` one to the same server, each over `plan.runs` fresh
/// processes. `variants` are (label, fixture) pairs on the local backend.
///
/// # Errors
/// When a function fails to start or answers wrongly.
pub async fn database_tls(plan: &Plan, variants: &[(&str, Fixture)]) -> anyhow::Result<Vec<Figure>> {
    let (mut cold, mut first) = (Vec::new(), Vec::new());
    for function in plan.functions.iter().filter(|f| matches!(f.name, "initiate-upload" | "get-file")) {
        for (variant, fixture) in variants {
            let (mut totals, mut requests) = (Vec::new(), Vec::new());
            for _ in 0..plan.runs {
                let (_instance, measured) = cold_start(plan, function, fixture).await?;
                totals.push(ms(measured.total));
                requests.push(ms(measured.total.saturating_sub(measured.init)));
            }
            let name = format!("{} ({variant})", function.name);
            cold.push(Figure::new("cold start, database TLS", &name, Unit::Ms, totals, None));
            first.push(Figure::new("first request, database TLS", &name, Unit::Ms, requests, None));
        }
    }
    cold.extend(first);
    Ok(cold)
}

/// The app's variables with `DATABASE_URL` pointing at `relay`.
fn through(env: &[(String, String)], relay: &DbRelay) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| match k.as_str() {
            "DATABASE_URL" => (k.clone(), files_testkit::via(v, relay.addr())),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

/// Per warm function and backend, over `plan.runs` instances of `plan.invocations` timed
/// invocations each (after `plan.warmup` untimed ones) through the runtime API: p50 and p99;
/// the p50 of the database's share (timed by a relay in front of PostgreSQL) and of the rest;
/// and the peak RSS after them.
///
/// # Errors
/// When a function fails or answers wrongly.
pub async fn warm(plan: &Plan, fixtures: &[Fixture]) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for fixture in fixtures {
        let database_url = fixture.env.iter().find(|(k, _)| k == "DATABASE_URL").context("DATABASE_URL is set")?;
        let relay = DbRelay::start(files_testkit::host_port(&database_url.1)).await?;
        let env = through(&fixture.env, &relay);
        for function in plan.functions.iter().filter(|f| f.warm && applies(f, fixture)) {
            let (mut p50s, mut p99s, mut db_p50s, mut own_p50s, mut peaks) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..plan.runs {
                let invocation = fixture.invocation(function.probe).await?;
                let (mut instance, first) = Instance::cold_start(
                    &plan.binary(function),
                    function.name,
                    &env,
                    &plan.log(function, fixture.backend),
                    invocation.event.clone(),
                    COLD_LIMIT,
                )
                .await?;
                invocation.check(function.name, &first.answer)?;
                for _ in 0..plan.warmup {
                    let answer = instance.invoke(invocation.event.clone(), WARM_LIMIT).await?;
                    invocation.check(function.name, &answer)?;
                }
                let (mut total, mut db, mut own) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..plan.invocations {
                    let before = relay.busy();
                    let answer = instance.invoke(invocation.event.clone(), WARM_LIMIT).await?;
                    let in_db = relay.busy().saturating_sub(before);
                    invocation.check(function.name, &answer)?;
                    total.push(ms(answer.latency()));
                    db.push(ms(in_db));
                    own.push(ms(answer.latency().saturating_sub(in_db)));
                }
                p50s.push(percentile(&total, 50.0));
                p99s.push(percentile(&total, 99.0));
                db_p50s.push(percentile(&db, 50.0));
                own_p50s.push(percentile(&own, 50.0));
                peaks.push(instance.peak_rss_kib()? as f64 / 1024.0);
            }
            let name = |what: &str| format!("{} {what} ({})", function.name, label(fixture.backend));
            let initiate = matches!(function.probe, Probe::InitiateUpload);
            let target = |value: f64| initiate.then_some(Target::at_most(value, "#6"));
            figures.push(Figure::new("warm", name("p50"), Unit::Ms, p50s, target(2.0)));
            figures.push(Figure::new("warm", name("p99"), Unit::Ms, p99s, None));
            figures.push(Figure::new("warm", name("p50 in the database"), Unit::Ms, db_p50s, None));
            figures.push(Figure::new("warm", name("p50 excl. database"), Unit::Ms, own_p50s, target(1.0)));
            let after = format!("peak RSS after {} invocations", plan.warmup + plan.invocations + 1);
            figures.push(Figure::new("warm", name(&after), Unit::MiB, peaks, None));
        }
    }
    Ok(figures)
}

/// Per backend and size: save and read throughput (MB/s, 10^6 bytes) and the child's peak
/// RSS, over `plan.stream_runs` child processes.
///
/// # Errors
/// When a child fails or runs out of time.
pub async fn streaming(plan: &Plan, fixtures: &[Fixture], exe: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for fixture in fixtures {
        for &mib in &plan.stream_mib {
            let (mut saves, mut reads, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
            // Generous: LocalStack moves tens of MB/s on these machines.
            let limit = Duration::from_secs(60 + mib / 2);
            for _ in 0..plan.stream_runs {
                let result = stream::measure(exe, &fixture.env, mib, limit).await?;
                saves.push(result.bytes as f64 / 1e6 / result.save_seconds);
                reads.push(result.bytes as f64 / 1e6 / result.read_seconds);
                peaks.push(result.peak_rss_kib as f64 / 1024.0);
            }
            let size = if mib >= 1024 { format!("{} GiB", mib / 1024) } else { format!("{mib} MiB") };
            let name = |what: &str| format!("{what} {size} ({})", label(fixture.backend));
            // "Under 64 MB" (#6) is the stricter reading of "< 64 MiB" (#2, #3): 61.04 MiB.
            let rss_target = (mib >= 1024).then_some(Target::below(64e6 / MIB, "#6 64 MB; #2/#3"));
            figures.push(Figure::new("streaming", name("save_proxied_file"), Unit::MBps, saves, None));
            figures.push(Figure::new("streaming", name("get_file_stream"), Unit::MBps, reads, None));
            figures.push(Figure::new("streaming", name("peak RSS"), Unit::MiB, peaks, rss_target));
        }
    }
    Ok(figures)
}
