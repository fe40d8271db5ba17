//! The raw files of a run directory as upstream's labs tooling reads them
//! (UPSTREAM-LABS.md §0): every `_metrics/*.txt` by name, every `_logs/*.log`, the
//! projection probes, the fault commands' exit codes, and the run's own `_result.json`
//! (for its recorded thresholds and for `--compare`; never for its verdict).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

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

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    entries
}

fn read_json(path: &Path, problems: &mut Vec<String>) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text)
        .map_err(|e| problems.push(format!("{}: {e}", path.display())))
        .ok()
}

/// Reads what upstream's rules look at. Never writes anything.
pub fn read(dir: &Path) -> ForeignRun {
    let mut problems = Vec::new();
    let recipe = read_json(&dir.join("_recipe.json"), &mut problems);
    let result = read_json(&dir.join("_result.json"), &mut problems);
    let scenario_of = |value: &Option<Value>| {
        value
            .as_ref()
            .and_then(|v| v.get("scenario"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (scenario, scenario_from) = if let Some(s) = scenario_of(&recipe) {
        (s, "_recipe.json")
    } else if let Some(s) = scenario_of(&result) {
        (s, "_result.json")
    } else {
        let folder = dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (folder, "the parent folder's name")
    };

    let mut metrics = BTreeMap::new();
    for file in sorted_entries(&dir.join("_metrics")) {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let Some(stem) = name.strip_suffix(".txt") else {
            continue;
        };
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let parsed = if text.trim_start().starts_with("scrape_failed") {
            MetricsFile::ScrapeFailed(text.lines().next().unwrap_or("").to_string())
        } else {
            match Samples::parse(&text) {
                Ok(samples) => MetricsFile::Samples(samples),
                Err(error) => MetricsFile::Unreadable(error.to_string()),
            }
        };
        metrics.insert(stem.to_string(), parsed);
    }

    let logs = sorted_entries(&dir.join("_logs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_default();
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect();

    let mut probes = BTreeMap::new();
    let mut inject_exit_codes = BTreeMap::new();
    for file in sorted_entries(dir) {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(version) = name
            .strip_prefix("_probe_entry_")
            .and_then(|n| n.strip_suffix(".json"))
        {
            if let Some(probe) = read_json(&file, &mut problems) {
                probes.insert(version.to_string(), probe);
            }
        } else if let Some(what) = name
            .strip_prefix("_inject_")
            .and_then(|n| n.strip_suffix(".exitcode.txt"))
        {
            let code = std::fs::read_to_string(&file)
                .ok()
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
        problems,
    }
}

/// Whether `dir` looks like one run (rather than a folder of runs).
pub fn is_run_dir(dir: &Path) -> bool {
    ["_recipe.json", "_result.json", "_verify_result.json"]
        .iter()
        .any(|f| dir.join(f).is_file())
        || dir.join("_metrics").is_dir()
}

/// Every run directory at or below `root` (any depth, at most 6 levels), sorted.
pub fn find_runs(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
        if is_run_dir(dir) {
            found.push(dir.to_path_buf());
            return;
        }
        if depth == 0 {
            return;
        }
        let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            // A symlink is not followed: a run directory must not lead elsewhere.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        children.sort();
        for child in children {
            walk(&child, depth - 1, found);
        }
    }
    let mut found = Vec::new();
    walk(root, 6, &mut found);
    found
}
