//! The raw files of a run directory as upstream's labs tooling reads them
//! (UPSTREAM-LABS.md §0): every `_metrics/*.txt` by name, every `_logs/*.log`, the
//! projection probes, the fault commands' exit codes, and the run's own `_result.json`
//! (for its recorded thresholds and for `--compare`; never for its verdict).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::safe_read::{JSON_CAP, LOG_CAP, RunReader, is_real_dir, is_regular_file};
use crate::prom::Samples;

/// One metrics file: its samples, or why it has none. Upstream counts a missing file,
/// a `scrape_failed: …` note and an unreadable page alike as "no samples" (every sum 0).
#[derive(Debug, Clone)]
pub enum MetricsFile {
    Samples(Samples),
    ScrapeFailed(String),
    Unreadable(String),
}

impl MetricsFile {
    pub fn samples(&self) -> Option<&Samples> {
        match self {
            MetricsFile::Samples(samples) => Some(samples),
            _ => None,
        }
    }

    pub fn scrape_failed(&self) -> bool {
        matches!(self, MetricsFile::ScrapeFailed(_))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ForeignRun {
    pub dir: PathBuf,
    pub scenario: String,
    /// Where the scenario was read from (`_recipe.json`, `_result.json`, the folder name).
    pub scenario_from: &'static str,
    /// `_metrics/<stem>.txt` by stem (`metrics-before`, `metrics-after-2`, …).
    pub metrics: BTreeMap<String, MetricsFile>,
    /// `_logs/*.log` in name order: (file name, text).
    pub logs: Vec<(String, String)>,
    /// `_probe_entry_v1.json` / `_v2.json` (projection_version).
    pub probes: BTreeMap<String, Value>,
    /// `_inject_<what>.exitcode.txt` by `<what>` (e.g. `jaeger_stop`).
    pub inject_exit_codes: BTreeMap<String, Option<i64>>,
    /// The run's own `_result.json`, when present and readable.
    pub result: Option<Value>,
    /// Present but unreadable evidence, in words.
    pub problems: Vec<String>,
}

impl ForeignRun {
    pub fn metrics(&self, stem: &str) -> Option<&MetricsFile> {
        self.metrics.get(stem)
    }

    /// The first log whose file name starts with `prefix`.
    pub fn log(&self, prefix: &str) -> Option<&(String, String)> {
        self.logs.iter().find(|(name, _)| name.starts_with(prefix))
    }
}

/// The regular files of the run's folder `rel_dir` (relative paths), sorted.
fn sorted_entries(reader: &RunReader, rel_dir: &Path) -> Vec<PathBuf> {
    let mut entries = reader.list(rel_dir);
    entries.sort();
    entries
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The scenario and where it was read from: the recipe, the result, else the folder.
fn scenario_of(
    dir: &Path,
    recipe: &Option<Value>,
    result: &Option<Value>,
) -> (String, &'static str) {
    let named = |value: &Option<Value>| {
        value
            .as_ref()
            .and_then(|v| v.get("scenario"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(s) = named(recipe) {
        (s, "_recipe.json")
    } else if let Some(s) = named(result) {
        (s, "_result.json")
    } else {
        let folder = dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (folder, "the parent folder's name")
    }
}

/// One `_metrics/*.txt` page: its samples, a scrape failure, or why it has none.
fn metrics_file(reader: &RunReader, file: &Path) -> MetricsFile {
    let Some(text) = reader.text(file, JSON_CAP) else {
        return MetricsFile::Unreadable(format!("{}: not read", file.display()));
    };
    if text.trim_start().starts_with("scrape_failed") {
        return MetricsFile::ScrapeFailed(text.lines().next().unwrap_or("").to_string());
    }
    match Samples::parse(&text) {
        Ok(samples) => MetricsFile::Samples(samples),
        Err(error) => MetricsFile::Unreadable(error.to_string()),
    }
}

/// Reads what upstream's rules look at. Never writes anything.
pub fn read(dir: &Path) -> ForeignRun {
    let reader = RunReader::new(dir);
    let recipe = reader.json_noted(Path::new("_recipe.json"));
    let result = reader.json_noted(Path::new("_result.json"));
    let (scenario, scenario_from) = scenario_of(dir, &recipe, &result);

    let mut metrics = BTreeMap::new();
    for file in sorted_entries(&reader, Path::new("_metrics")) {
        if let Some(stem) = file_name(&file).strip_suffix(".txt") {
            metrics.insert(stem.to_string(), metrics_file(&reader, &file));
        }
    }

    let logs = sorted_entries(&reader, Path::new("_logs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| (file_name(&p), reader.text(&p, LOG_CAP).unwrap_or_default()))
        .collect();

    let mut probes = BTreeMap::new();
    let mut inject_exit_codes = BTreeMap::new();
    for file in sorted_entries(&reader, Path::new("")) {
        let name = file_name(&file);
        if let Some(version) = name
            .strip_prefix("_probe_entry_")
            .and_then(|n| n.strip_suffix(".json"))
        {
            if let Some(probe) = reader.json_noted(&file) {
                probes.insert(version.to_string(), probe);
            }
        } else if let Some(what) = name
            .strip_prefix("_inject_")
            .and_then(|n| n.strip_suffix(".exitcode.txt"))
        {
            let code = reader
                .text(&file, JSON_CAP)
                .and_then(|t| t.trim().parse::<i64>().ok());
            inject_exit_codes.insert(what.to_string(), code);
        }
    }

    ForeignRun {
        dir: dir.to_path_buf(),
        scenario,
        scenario_from,
        metrics,
        logs,
        probes,
        inject_exit_codes,
        result,
        problems: reader.problems(),
    }
}

/// Whether `dir` looks like one run (rather than a folder of runs).
pub fn is_run_dir(dir: &Path) -> bool {
    ["_recipe.json", "_result.json", "_verify_result.json"]
        .iter()
        .any(|f| is_regular_file(&dir.join(f)))
        || is_real_dir(&dir.join("_metrics"))
}

/// Every run directory at or below `root` (any depth, at most 6 levels, looking at
/// most at [`MAX_ENTRIES`](super::safe_read::MAX_ENTRIES) entries in all), sorted. A
/// link is never entered.
pub fn find_runs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut budget = super::safe_read::MAX_ENTRIES;
    walk_runs(root, 6, &mut budget, &mut found);
    found
}

fn walk_runs(dir: &Path, depth: usize, budget: &mut usize, found: &mut Vec<PathBuf>) {
    if is_run_dir(dir) {
        found.push(dir.to_path_buf());
        return;
    }
    if depth == 0 || *budget == 0 {
        return;
    }
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        // A symlink is not followed: a run directory must not lead elsewhere.
        let hidden = entry.file_name().as_encoded_bytes().starts_with(b".");
        if !hidden && entry.file_type().is_ok_and(|t| t.is_dir()) {
            children.push(entry.path());
        }
    }
    children.sort();
    for child in children {
        walk_runs(&child, depth - 1, budget, found);
    }
}
