//! The shape the core keeps (issue: the core's middle floor): every problem code is in the
//! README's error table and nowhere but the HTTP layer, no source file is over 400 lines of
//! non-test code, no function over 60 lines, and the top-level modules import one another
//! without a cycle. Read from the sources themselves, so a change that breaks one fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use files_core::Code;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    out.sort();
    out
}

/// The code before the unit tests, without comment lines.
fn code_of(text: &str) -> Vec<&str> {
    text.lines().take_while(|l| !l.starts_with("#[cfg(test)]")).filter(|l| !l.trim_start().starts_with("//")).collect()
}

/// The top-level module a file belongs to (`storage/s3/presign.rs` → `storage`).
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn the_readme_error_table_lists_exactly_the_codes_the_service_answers_with() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let table = readme.split("### Errors").nth(1).expect("an Errors section").split("\n\n").nth(2).unwrap();
    let mut listed = BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| status")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let status: u16 = cells[1].parse().unwrap_or_else(|_| panic!("a status in {row}"));
        // A remark in parentheses after the codes names no code.
        let codes = cells[2].split(" (").next().unwrap_or_default();
        for code in codes.split('`').skip(1).step_by(2) {
            assert!(listed.insert(code.to_owned(), status).is_none(), "{code} listed twice");
        }
    }
    let answered: BTreeMap<String, u16> =
        Code::ALL.iter().map(|c| (c.as_str().to_owned(), c.kind().status())).collect();
    assert_eq!(listed, answered);
}

#[test]
fn problem_codes_are_spelled_only_in_the_http_layer() {
    for (path, text) in sources(&src()) {
        if path.ends_with("error.rs") || path.ends_with("http.rs") {
            continue;
        }
        let code = code_of(&text).join("\n");
        for c in Code::ALL {
            assert!(!code.contains(&format!("\"{}\"", c.as_str())), "{} spells {}", path.display(), c.as_str());
        }
    }
}

#[test]
fn no_file_holds_more_than_400_lines_of_code_and_no_function_more_than_60() {
    for (path, text) in sources(&src()) {
        let before_tests = text.lines().take_while(|l| !l.starts_with("#[cfg(test)]")).count();
        assert!(before_tests <= 400, "{} has {before_tests} lines before its tests", path.display());
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = ["fn ", "pub fn ", "async fn ", "pub async fn ", "pub(crate) fn ", "pub(super) fn "]
                .iter()
                .any(|p| trimmed.starts_with(p));
            if !is_fn {
                continue;
            }
            let indent = line.len() - trimmed.len();
            // A declaration without a body ends with `;` before any `{`.
            let header_end = lines[start..].iter().position(|l| l.contains('{') || l.trim_end().ends_with(';'));
            if header_end.is_some_and(|i| lines[start + i].trim_end().ends_with(';')) {
                continue;
            }
            let closing = format!("{}}}", " ".repeat(indent));
            let end = lines[start..].iter().position(|l| l.trim_end() == closing || l.trim_end().ends_with("{}"));
            let length = end.map_or(0, |e| e + 1);
            assert!(length <= 60, "{}:{} is a function of {length} lines", path.display(), start + 1);
        }
    }
}

#[test]
fn the_top_level_modules_import_one_another_without_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources(&src()) {
        let from = module_of(&path);
        if from == "lib" || from == "bin" {
            continue;
        }
        for line in code_of(&text) {
            for part in line.split("crate::").skip(1) {
                let to: String = part.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !to.is_empty() && to != from {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    fn reaches(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str, seen: &mut BTreeSet<String>) -> bool {
        edges
            .get(from)
            .into_iter()
            .flatten()
            .any(|next| next == to || (seen.insert(next.clone()) && reaches(edges, next, to, seen)))
    }
    for (from, tos) in &edges {
        for to in tos {
            assert!(
                !reaches(&edges, to, from, &mut BTreeSet::new()),
                "{from} uses {to}, and {to} leads back to {from}"
            );
        }
    }
}
