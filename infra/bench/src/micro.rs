//! The criterion micro-benchmarks' results (`shared/benches/*.rs`), read from what criterion
//! writes under `target/criterion/<id>/new/`: the median from `estimates.json`, the fastest and
//! slowest sample (time per iteration) from `sample.json`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use serde::Deserialize;

use crate::report::{Figure, Target, Unit};

#[derive(Deserialize)]
struct Benchmark {
    full_id: String,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Samples {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// Pre-signing targets (issue 3): S3 PUT, GET and POST policy signing each within 20 µs.
const PRESIGN: Target = Target::at_most(20.0, "#3");

/// The pre-signing target applies to the signers the service uses; the aws-sdk-s3 presigner
/// the presign bench compares them with (`sdk …`) is a reference.
fn target_for(id: &str) -> Option<Target> {
    let id = id.to_ascii_lowercase();
    let signs = id.contains("presign") || id.contains("post_policy") || id.contains("post policy");
    (signs && !id.contains("sdk")).then_some(PRESIGN)
}

fn new_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").is_file() {
            out.push(path);
        } else if path.file_name().is_some_and(|n| n != "report" && n != "base" && n != "change") {
            new_dirs(&path, out);
        }
    }
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let raw = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&raw).with_context(|| format!("parse {}", path.display()))
}

/// One figure per benchmark whose results were written at or after `since`, in µs per
/// iteration, sorted by id.
///
/// # Errors
/// When a result file cannot be read or parsed.
pub fn figures(criterion_dir: &Path, since: SystemTime) -> anyhow::Result<Vec<Figure>> {
    let mut dirs = Vec::new();
    new_dirs(criterion_dir, &mut dirs);
    let mut figures = Vec::new();
    for dir in dirs {
        let written = std::fs::metadata(dir.join("estimates.json")).and_then(|m| m.modified());
        if !written.is_ok_and(|t| t >= since) {
            continue;
        }
        let benchmark: Benchmark = read(&dir.join("benchmark.json"))?;
        let estimates: Estimates = read(&dir.join("estimates.json"))?;
        let samples: Samples = read(&dir.join("sample.json"))?;
        let per_iter: Vec<f64> =
            samples.times.iter().zip(&samples.iters).filter(|(_, n)| **n > 0.0).map(|(t, n)| t / n / 1e3).collect();
        let min = per_iter.iter().copied().fold(f64::INFINITY, f64::min);
        let max = per_iter.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let median = estimates.median.point_estimate / 1e3;
        let target = target_for(&benchmark.full_id);
        figures.push(Figure::summarised("micro", benchmark.full_id, Unit::Us, (median, min, max), target));
    }
    figures.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(figures)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_presign_target_applies_to_our_signers_not_the_sdk_reference() {
        assert!(super::target_for("presign/our PUT").is_some());
        assert!(super::target_for("presign/POST policy").is_some());
        assert!(super::target_for("presign/sdk GET").is_none());
        assert!(super::target_for("local_url/sign_put").is_none());
    }
}
