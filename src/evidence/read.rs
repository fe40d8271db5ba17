//! Reads a run directory in the upstream layout (CONTRACT.md §6) back into
//! [`Observations`]. The verdict is always recomputed from the raw evidence; a
//! `_result.json` found in the directory is never trusted.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::safe_read::{JSON_CAP, LOG_CAP, RunReader};
use crate::drill::{Missing, Observations};
use crate::jaeger::parse_traces;
use crate::prom::Samples;

#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    pub scenario: String,
    /// Written by drill-cockpit (its `_recipe.json` says so): every check needs evidence.
    pub ours: bool,
    pub observations: Observations,
    /// Evidence files that were present but unreadable, with the reason.
    pub problems: Vec<String>,
}

impl RunDir {
    /// How a check without evidence counts for this directory.
    pub fn missing_mode(&self) -> Missing {
        if self.ours {
            Missing::Failed
        } else {
            Missing::NotRecorded
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path} is not a run directory: {reason}. Pass snapshots/<scenario>/<run_id>")]
    NotARun { path: PathBuf, reason: String },
}

/// The regular files of the run's folder `rel_dir` named `<prefix>…<suffix>`, relative
/// to the run, in freeze order.
fn files_matching(reader: &RunReader, rel_dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = reader
        .list(rel_dir)
        .into_iter()
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(suffix))
        })
        .collect();
    // `…T104255-2` (a second freeze in the same second) must sort after `…T104255`:
    // compare with '-' ranked above '.', so the suffix outranks the file extension.
    found.sort_by_key(|path| {
        path.file_name()
            .map(|n| n.to_string_lossy().replace('-', "~"))
            .unwrap_or_default()
    });
    found
}

/// The lines of a run's `_logs/<prefix>*.log` files, in name order (`None`: no such
/// file). The live session's final grading reads them too, so its verdict is the one
/// `verify` gives from the same files.
pub fn run_logs(run_dir: &Path, prefix: &str) -> Option<Vec<String>> {
    logs_of(&RunReader::new(run_dir), prefix)
}

/// The lines of every worker's log but worker 1's (`_logs/worker2*.log`, then a
/// fleet's replicas `worker<n>-*.log`, n ≥ 3): in F the reclaim is any other worker's.
pub fn other_workers_logs(run_dir: &Path) -> Option<Vec<String>> {
    other_logs_of(&RunReader::new(run_dir))
}

fn other_logs_of(reader: &RunReader) -> Option<Vec<String>> {
    let mut lines = logs_of(reader, "worker2")?;
    let replica = |name: &str| {
        name.strip_prefix("worker")
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(n, _)| n.parse::<usize>().ok())
            // worker20…29 are read by the `worker2` prefix already.
            .is_some_and(|n| n >= 3 && !name.starts_with("worker2"))
    };
    let files: Vec<PathBuf> = files_matching(reader, Path::new("_logs"), "worker", ".log")
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(replica))
        .collect();
    lines.extend(lines_of(reader, &files));
    Some(lines)
}

/// [`run_logs`] through `reader` (each file up to [`LOG_CAP`], noted when cut).
fn logs_of(reader: &RunReader, prefix: &str) -> Option<Vec<String>> {
    let log_files = files_matching(reader, Path::new("_logs"), prefix, ".log");
    (!log_files.is_empty()).then(|| lines_of(reader, &log_files))
}

fn lines_of(reader: &RunReader, log_files: &[PathBuf]) -> Vec<String> {
    {
        log_files
            .iter()
            .flat_map(|file| {
                let text = reader.text(file, LOG_CAP).unwrap_or_default();
                text.lines().map(str::to_string).collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    }
}

/// The samples of a metrics file, noting a page that does not parse.
fn read_metrics(reader: &RunReader, file: &Path) -> Option<Samples> {
    let text = reader.text(file, JSON_CAP)?;
    Samples::parse(&text)
        .map_err(|e| reader.note(format!("`{}`: {e}", file.display())))
        .ok()
}

/// The distinct traces of `_exports/<prefix>*.json` (`None`: no such file), each as
/// its newest export shows it.
fn read_traces(reader: &RunReader, prefix: &str) -> Option<Vec<crate::jaeger::TraceSummary>> {
    let files = files_matching(reader, Path::new("_exports"), prefix, ".json");
    if files.is_empty() {
        return None;
    }
    let mut traces = Vec::new();
    for file in files {
        let Some(parsed) = reader.json_or_error(&file) else {
            continue;
        };
        match parsed
            .map_err(|e| e.to_string())
            .and_then(|value| parse_traces(&value).map_err(|e| e.to_string()))
        {
            Ok(found) => traces.extend(found),
            Err(error) => reader.note(format!("`{}`: {error}", file.display())),
        }
    }
    // Every freeze exports the traces found so far: one trace appears in many files.
    // Count it once, as its newest export shows it.
    let mut distinct: Vec<crate::jaeger::TraceSummary> = Vec::new();
    for trace in traces {
        match distinct.iter_mut().find(|t| t.trace_id == trace.trace_id) {
            Some(seen) => *seen = trace,
            None => distinct.push(trace),
        }
    }
    Some(distinct)
}

/// Whether the recipe or the manifest says drill-cockpit wrote the run.
fn written_by_us(recipe: Option<&Value>, manifest: Option<&Value>) -> bool {
    let tool_of = |value: Option<&Value>| {
        value
            .and_then(|v| v.get("tool").and_then(Value::as_str))
            .is_some_and(|tool| tool == "drill-cockpit")
    };
    tool_of(recipe) || tool_of(manifest)
}

fn scenario_of(path: &Path, recipe: Option<&Value>) -> String {
    recipe
        .and_then(|r| {
            r.get("scenario")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            path.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// Reads a run directory back into what the checks grade. Each step below reads one
/// piece of evidence; their order is the order in which unreadable files are noted.
pub fn read_run_dir(path: &Path) -> Result<RunDir, ReadError> {
    let (reader, recipe) = open_run(path)?;
    let scenario = scenario_of(path, recipe.as_ref());
    // Ours when the recipe says so, or when our manifest does: deleting or editing
    // `_recipe.json` cannot turn a run of ours into a leniently graded one.
    let manifest = reader.json(Path::new("manifest.json"));
    let ours = written_by_us(recipe.as_ref(), manifest.as_ref());

    let (metrics_before, metrics_after) = metrics_of(&reader, ours);
    let log = logs_of(&reader, "");
    let worker2_log = other_logs_of(&reader);
    let event_id = event_id_of(&reader);
    let traces_by_event = read_traces(&reader, "jaeger-traces-outbox_event_id-");
    let traces_by_batch = read_traces(&reader, "jaeger-projection-by-claim_batch_id-");
    let outbox = outbox_of(&reader, &scenario, event_id.as_deref());
    let document_version = document_version_of(&reader);
    let collector_refusals = collector_refusals_of(&reader);

    Ok(RunDir {
        path: path.to_path_buf(),
        scenario,
        ours,
        observations: Observations {
            metrics_before,
            metrics_after,
            log,
            event_id,
            traces_by_event,
            traces_by_batch,
            status_after_recovery: outbox.event_status,
            event_reason: outbox.event_reason,
            document_version,
            drill_rows: outbox.drill_rows,
            worker2_log,
            collector_refusals,
        },
        problems: reader.problems(),
    })
}

const METRICS_DIR: &str = "_metrics";

/// The reader of a run directory and its `_recipe.json`, or why `path` is not a run:
/// a run has a recipe (ours) or a `_metrics/` folder (any tool's).
fn open_run(path: &Path) -> Result<(RunReader, Option<Value>), ReadError> {
    let not_a_run = |reason: &str| ReadError::NotARun {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if !path.is_dir() {
        return Err(not_a_run("no such directory"));
    }
    let reader = RunReader::new(path);
    let recipe: Option<Value> = reader.json_noted(Path::new("_recipe.json"));
    if recipe.is_none() && !reader.is_dir(Path::new(METRICS_DIR)) {
        return Err(not_a_run("neither _recipe.json nor _metrics/"));
    }
    Ok((reader, recipe))
}

/// The counters before the drill and at its end.
fn metrics_of(reader: &RunReader, ours: bool) -> (Option<Samples>, Option<Samples>) {
    let metrics_dir = Path::new(METRICS_DIR);
    let before = read_metrics(reader, &metrics_dir.join("metrics-before.txt"));
    // The end state: metrics-after.txt, as `run` graded it. Only another tool's run
    // without one falls back to its latest scrape.
    let after_file = Some(metrics_dir.join("metrics-after.txt"))
        .filter(|p| reader.is_file(p))
        .or_else(|| {
            files_matching(reader, metrics_dir, "metrics-", ".txt")
                .into_iter()
                .rfind(|p| !p.ends_with("metrics-before.txt"))
                .filter(|_| !ours)
        });
    let after = after_file
        .as_deref()
        .and_then(|file| read_metrics(reader, file));
    (before, after)
}

/// The outbox event under drill (`_outbox_event_id.txt`), when one was recorded.
fn event_id_of(reader: &RunReader) -> Option<String> {
    reader
        .text(Path::new("_outbox_event_id.txt"), JSON_CAP)
        .map(|text| text.trim().to_string())
        .filter(|id| !id.is_empty())
}

/// What the run's outbox snapshots (`_outbox-*.json`) say.
struct OutboxEvidence {
    /// The rows as the last freeze saw them.
    drill_rows: Option<Vec<crate::drill::observations::RowState>>,
    /// The event's status in the snapshot that decides the final check.
    event_status: Option<String>,
    /// The event's `error_reason` in that snapshot.
    event_reason: Option<String>,
}

fn outbox_of(reader: &RunReader, scenario: &str, event_id: Option<&str>) -> OutboxEvidence {
    let snapshots = files_matching(reader, Path::new(""), "_outbox-", ".json");
    let decisive = decisive_snapshot(reader, &snapshots, scenario);
    // The rows as the last freeze saw them (the live grading reads the same snapshot);
    // only the event's end state waits for a snapshot taken after the fault was out.
    let drill_rows = snapshots
        .last()
        .and_then(|file| reader.json(file))
        .as_ref()
        .and_then(crate::drill::observations::rows_of_snapshot);
    let event_row = decisive
        .as_ref()
        .and_then(|snapshot| row_of_event(snapshot, event_id?));
    let text_of = |key: &str| {
        event_row
            .as_ref()
            .and_then(|row| row.get(key)?.as_str().map(str::to_string))
    };
    OutboxEvidence {
        drill_rows,
        event_status: text_of("status"),
        event_reason: text_of("error_reason"),
    }
}

/// The last outbox snapshot that decides the final check: taken after the fault was
/// taken out (a transient drill), or any (a drill whose event must end failed).
fn decisive_snapshot(reader: &RunReader, snapshots: &[PathBuf], scenario: &str) -> Option<Value> {
    let recovers =
        crate::drill::catalog::of_run(reader.root(), scenario).map_or(true, |s| s.recovers());
    snapshots
        .iter()
        .rev()
        .filter_map(|file| reader.json(file))
        // `fault_restored` (`es_restarted` in runs written before drills were data).
        .find(|snapshot| {
            !recovers
                || ["fault_restored", "es_restarted"]
                    .iter()
                    .any(|key| snapshot.get(*key).and_then(Value::as_bool) == Some(true))
        })
}

/// The row of outbox event `id` in an outbox snapshot.
fn row_of_event(snapshot: &Value, id: &str) -> Option<Value> {
    snapshot
        .get("rows")?
        .as_array()?
        .iter()
        .find(|row| row.get("id").and_then(Value::as_str) == Some(id))
        .cloned()
}

/// The drilled entity's ES document version as the last freeze read it.
fn document_version_of(reader: &RunReader) -> Option<i64> {
    files_matching(reader, Path::new(""), "_es_document-", ".json")
        .last()
        .and_then(|file| reader.json(file))
        .as_ref()
        .and_then(crate::drill::observations::document_version)
}

/// The collector gate's refusals, from its last export.
fn collector_refusals_of(reader: &RunReader) -> Option<u64> {
    files_matching(reader, Path::new("_exports"), "collector-gate-", ".jsonl")
        .last()
        .and_then(|file| reader.text(file, LOG_CAP))
        .map(|text| crate::drill::observations::refusals_in_export(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F's reclaim may be any worker's but worker 1's: worker 2's log, then every
    /// replica's, each file once (`worker2` also begins `worker20`…).
    #[test]
    fn other_workers_logs_are_every_log_but_worker_1s_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("_logs");
        std::fs::create_dir(&logs).unwrap();
        for (name, line) in [
            ("worker-r.log", "one"),
            ("worker2-r.log", "two"),
            ("worker3-r.log", "three"),
            ("worker21-r.log", "twenty-one"),
            ("workerx-r.log", "not a worker"),
        ] {
            std::fs::write(logs.join(name), line).unwrap();
        }
        let mut lines = other_workers_logs(dir.path()).unwrap();
        lines.sort();
        assert_eq!(lines, vec!["three", "twenty-one", "two"]);
        // Without worker 2 (a one-worker drill): none, as before fleets.
        std::fs::remove_file(logs.join("worker2-r.log")).unwrap();
        std::fs::remove_file(logs.join("worker21-r.log")).unwrap();
        assert_eq!(other_workers_logs(dir.path()), None);
    }

    #[test]
    fn same_second_suffixes_sort_after_their_base() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "metrics-20260214T104255-2.txt",
            "metrics-20260214T104255.txt",
            "metrics-20260214T104254.txt",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let reader = RunReader::new(dir.path());
        let names: Vec<String> = files_matching(&reader, Path::new(""), "metrics-", ".txt")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec![
                "metrics-20260214T104254.txt",
                "metrics-20260214T104255.txt",
                "metrics-20260214T104255-2.txt"
            ]
        );
    }
}
