//! Figures, their summaries over runs, targets, and the one table `make bench` prints and
//! writes (plain text, Markdown, JSON).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// The unit a figure is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// Milliseconds.
    #[serde(rename = "ms")]
    Ms,
    /// Microseconds.
    #[serde(rename = "µs")]
    Us,
    /// Mebibytes (2^20 bytes).
    #[serde(rename = "MiB")]
    MiB,
    /// Megabytes (10^6 bytes): binary sizes, as the issues state them.
    #[serde(rename = "MB")]
    MB,
    /// Megabytes (10^6 bytes) per second.
    #[serde(rename = "MB/s")]
    MBps,
    /// Documents per second.
    #[serde(rename = "docs/s")]
    PerSecond,
    /// Seconds.
    #[serde(rename = "s")]
    S,
    /// Rows or objects per second.
    #[serde(rename = "items/s")]
    ItemsPerSecond,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ms => "ms",
            Self::Us => "µs",
            Self::MiB => "MiB",
            Self::MB => "MB",
            Self::MBps => "MB/s",
            Self::PerSecond => "docs/s",
            Self::S => "s",
            Self::ItemsPerSecond => "items/s",
        }
    }
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `q`-th percentile (0–100) of `values` by the nearest-rank method; `NaN` when empty.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What a figure must be to meet its target.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Target {
    /// `<=` or `<` (lower is better) or `>=` (higher is better).
    pub op: &'static str,
    /// The bound, in the figure's unit.
    pub value: f64,
    /// Where the target comes from, e.g. `#6`.
    pub source: &'static str,
}

impl Target {
    /// At most `value`.
    pub const fn at_most(value: f64, source: &'static str) -> Self {
        Self { op: "≤", value, source }
    }

    /// At least `value` (higher is better).
    pub const fn at_least(value: f64, source: &'static str) -> Self {
        Self { op: "≥", value, source }
    }

    /// Below `value`.
    pub const fn below(value: f64, source: &'static str) -> Self {
        Self { op: "<", value, source }
    }

    fn met_by(&self, x: f64) -> bool {
        match self.op {
            "≤" => x <= self.value,
            "<" => x < self.value,
            _ => x >= self.value,
        }
    }
}

/// One row of the table: a measured quantity and its value in each run.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The group it belongs to (cold start, warm, streaming, ...).
    pub section: &'static str,
    /// What was measured.
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// One value per run.
    pub runs: Vec<f64>,
    /// Median over the runs.
    pub median: f64,
    /// Smallest run.
    pub min: f64,
    /// Largest run.
    pub max: f64,
    /// The target, if the issues set one.
    pub target: Option<Target>,
    /// Whether the median meets the target.
    pub met: Option<bool>,
}

impl Figure {
    /// A figure from its per-run values.
    pub fn new(
        section: &'static str,
        name: impl Into<String>,
        unit: Unit,
        runs: Vec<f64>,
        target: Option<Target>,
    ) -> Self {
        let median = median(&runs);
        let min = runs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let met = target.map(|t| t.met_by(median));
        Self { section, name: name.into(), unit, runs, median, min, max, target, met }
    }

    /// A figure whose median, min and max come from elsewhere (criterion's samples).
    pub fn summarised(
        section: &'static str,
        name: impl Into<String>,
        unit: Unit,
        (median, min, max): (f64, f64, f64),
        target: Option<Target>,
    ) -> Self {
        let met = target.map(|t| t.met_by(median));
        Self { section, name: name.into(), unit, runs: Vec::new(), median, min, max, target, met }
    }
}

/// The median of `values` (mean of the middle two for an even count); `NaN` when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Where and when the figures were taken.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cores: usize,
    /// `model name` of `/proc/cpuinfo`.
    pub cpu: String,
    /// Total memory, MiB.
    pub memory_mib: u64,
    /// 1-minute load average when the run started.
    pub load_at_start: f64,
    /// The kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads `/proc`; unknown values stay empty or zero.
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cores = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024);
        let load_at_start = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(f64::NAN);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
        Self { cores: cores.max(1), cpu, memory_mib, load_at_start, kernel }
    }
}

/// The whole result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// UTC date and time the run started.
    pub date: String,
    /// The commit measured (and whether the tree had changes).
    pub commit: String,
    /// The machine.
    pub machine: Machine,
    /// How many runs each figure is over, per kind of measurement.
    pub runs: String,
    /// How long the measurements took, seconds.
    pub seconds: f64,
    /// The rows.
    pub figures: Vec<Figure>,
}

fn number(x: f64) -> String {
    if x.is_nan() {
        "—".to_owned()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

impl Figure {
    fn cells(&self) -> [String; 7] {
        let unit = self.unit.as_str();
        let target = self
            .target
            .map_or_else(|| "—".to_owned(), |t| format!("{} {} {unit} ({})", t.op, number(t.value), t.source));
        let met = match self.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "",
        };
        [
            format!("{}: {}", self.section, self.name),
            format!("{} {unit}", number(self.median)),
            number(self.min),
            number(self.max),
            if self.runs.is_empty() { "criterion".to_owned() } else { self.runs.len().to_string() },
            target,
            met.to_owned(),
        ]
    }
}

const HEADERS: [&str; 7] = ["figure", "median", "min", "max", "runs", "target", ""];

impl Report {
    fn header_lines(&self) -> Vec<String> {
        let m = &self.machine;
        vec![
            format!("date: {} · commit: {}", self.date, self.commit),
            format!(
                "machine: {} cores, {}, {} MiB RAM, Linux {}, load {:.2} at start",
                m.cores, m.cpu, m.memory_mib, m.kernel, m.load_at_start
            ),
            format!("runs: {} · took {:.0} s", self.runs, self.seconds),
        ]
    }

    fn rows(&self) -> Vec<[String; 7]> {
        self.figures.iter().map(Figure::cells).collect()
    }

    /// The table as aligned plain text, for the terminal.
    pub fn to_text(&self) -> String {
        let rows = self.rows();
        let mut widths = HEADERS.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = w.saturating_sub(cell.chars().count());
                // Numbers right-aligned, text left-aligned.
                if (1..=4).contains(&i) {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
                out.push_str("  ");
            }
            out.trim_end().to_owned()
        };
        let mut out = self.header_lines().join("\n");
        out.push_str("\n\n");
        out.push_str(&line(&HEADERS.map(str::to_owned)));
        out.push('\n');
        out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        out.push('\n');
        let mut section = "";
        for (figure, row) in self.figures.iter().zip(&rows) {
            if !section.is_empty() && figure.section != section {
                out.push('\n');
            }
            section = figure.section;
            out.push_str(&line(row));
            out.push('\n');
        }
        let (met, missed) = self.tally();
        let _ = writeln!(out, "\ntargets: {met} met, {missed} not met");
        out
    }

    /// The table as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for line in self.header_lines() {
            let _ = writeln!(out, "{line}  ");
        }
        out.push('\n');
        let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
        let _ = writeln!(out, "|---|--:|--:|--:|--:|---|---|");
        for row in self.rows() {
            let _ = writeln!(out, "| {} |", row.map(|c| c.replace('|', "\\|")).join(" | "));
        }
        let (met, missed) = self.tally();
        let _ = writeln!(out, "\nTargets: {met} met, {missed} not met.");
        out
    }

    fn tally(&self) -> (usize, usize) {
        let met = self.figures.iter().filter(|f| f.met == Some(true)).count();
        let missed = self.figures.iter().filter(|f| f.met == Some(false)).count();
        (met, missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn medians_of_even_counts_average_the_middle_pair() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_figure_meets_its_target_by_its_median() {
        let f = Figure::new("cold start", "x", Unit::Ms, vec![9.0, 12.0, 8.0], Some(Target::at_most(10.0, "#6")));
        assert_eq!((f.median, f.min, f.max, f.met), (9.0, 8.0, 12.0, Some(true)));
        let f = Figure::new("memory", "y", Unit::MiB, vec![64.0], Some(Target::below(64.0, "#6")));
        assert_eq!(f.met, Some(false));
        assert_eq!(Figure::new("size", "z", Unit::MiB, vec![1.0], None).met, None);
    }

    #[test]
    fn the_markdown_table_has_one_row_per_figure() {
        let report = Report {
            date: "2026-01-01T00:00:00Z".to_owned(),
            commit: "abc".to_owned(),
            machine: Machine {
                cores: 2,
                cpu: "cpu".to_owned(),
                memory_mib: 1,
                load_at_start: 0.5,
                kernel: "6".to_owned(),
            },
            runs: "3".to_owned(),
            seconds: 1.0,
            figures: vec![
                Figure::new("cold start", "a", Unit::Ms, vec![1.0], Some(Target::at_most(10.0, "#6"))),
                Figure::new("size", "b | c", Unit::MiB, vec![2.0], None),
            ],
        };
        let md = report.to_markdown();
        assert_eq!(md.lines().filter(|l| l.starts_with("| ")).count(), 3, "{md}");
        assert!(md.contains("b \\| c"), "{md}");
        assert!(report.to_text().contains("targets: 1 met, 0 not met"));
    }
}
