//! A run directory read back as a recording: every piece of evidence placed on the
//! drill's time axis, so the cockpit's panes can be rebuilt as they were at any moment.
//! Sources: the journal (`_timeline.jsonl`: counters with every series, checks as they
//! changed, inserts, faults, freezes, markers), the frozen files named by their freeze
//! (`_containers-`, `_outbox-`, `_metrics/metrics-`, the Jaeger exports), the worker's
//! log (a JSON line at its own `ts`, a plain line at its predecessor's). Another tool's
//! run has no journal: its before/after metrics stand at its first and last log line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cockpit::counters::CounterBoard;
use crate::cockpit::engine::Snapshot;
use crate::drill::{CheckOutcome, CheckStatus, Verdict};
use crate::evidence::moments::{moments, seconds};
use crate::evidence::safe_read::{JSON_CAP, LOG_CAP, RunReader};
use crate::prom::Samples;
use crate::sources::worker_proc::LogTail;

/// A file frozen at a moment of the drill.
struct Frozen {
    at: f64,
    path: PathBuf,
}

pub struct Recording {
    pub dir: PathBuf,
    pub scenario: String,
    /// Unix seconds of the drill's start and its length.
    start: f64,
    pub duration: f64,
    journal: Vec<(f64, Value)>,
    /// Counter pages over time (the journal's series, else the frozen metrics).
    counters: Vec<(f64, Samples)>,
    baseline: Option<Samples>,
    log: Vec<(f64, String)>,
    containers: Vec<Frozen>,
    outbox: Vec<Frozen>,
    event_traces: Vec<Frozen>,
    batch_traces: Vec<Frozen>,
    /// The verdict from the raw files, as `verify` gives it: the checklist at the end.
    final_checks: Vec<CheckOutcome>,
    final_ok: bool,
    recipe: Option<Value>,
    /// Evidence skipped, cut or unreadable while loading, in words (as `verify` says).
    pub problems: Vec<String>,
}

/// `20260214T104255` (or `…-2`) in a file name: the freeze label, as Unix seconds.
fn label_time(name: &str) -> Option<f64> {
    let at = name.find(|c: char| c.is_ascii_digit() && name.len() >= 15)?;
    (at..name.len().saturating_sub(14)).find_map(|i| {
        let candidate = name.get(i..i + 15)?;
        chrono::NaiveDateTime::parse_from_str(candidate, "%Y%m%dT%H%M%S")
            .ok()
            .map(|t| t.and_utc().timestamp() as f64)
    })
}

/// The run's files in `rel_dir` named `<prefix>…<suffix>` (relative paths), by freeze.
fn frozen(reader: &RunReader, rel_dir: &Path, prefix: &str, suffix: &str) -> Vec<Frozen> {
    let mut found: Vec<Frozen> = reader
        .list(rel_dir)
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            if !name.starts_with(prefix) || !name.ends_with(suffix) {
                return None;
            }
            // `-2` after the label: a second freeze in the same second comes later.
            let bump = if name.trim_end_matches(suffix).ends_with("-2") {
                0.5
            } else {
                0.0
            };
            Some(Frozen {
                at: label_time(&name)? + bump,
                path,
            })
        })
        .collect();
    found.sort_by(|a, b| a.at.total_cmp(&b.at));
    found
}

/// A frozen JSON file of the run (relative path), read by the rules of [`RunReader`].
fn read_json(dir: &Path, rel: &Path) -> Option<Value> {
    RunReader::new(dir).json(rel)
}

/// The run's logs, each line at its own time or its predecessor's (`None`: no time yet).
fn read_logs(reader: &RunReader) -> Vec<(Option<f64>, String)> {
    let mut files: Vec<PathBuf> = reader
        .list(Path::new("_logs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let mut log = Vec::new();
    for file in files {
        let text = reader.text(&file, LOG_CAP).unwrap_or_default();
        let mut last = None;
        for line in text.lines() {
            let at = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| seconds(&v))
                .or(last);
            last = at;
            log.push((at, line.to_string()));
        }
    }
    log
}

/// `first` then each of `more` not already in it.
fn merged(first: &[String], more: &[String]) -> Vec<String> {
    let mut all = first.to_vec();
    for problem in more {
        if !all.contains(problem) {
            all.push(problem.clone());
        }
    }
    all
}

/// The journal's `series` map as a Prometheus page.
fn series_samples(series: &serde_json::Map<String, Value>) -> Option<Samples> {
    let text: String = series
        .iter()
        .filter_map(|(key, value)| Some(format!("{key} {}\n", value.as_f64()?)))
        .collect();
    Samples::parse(&text).ok()
}

impl Recording {
    pub fn load(dir: &Path) -> Result<Recording, String> {
        let graded = crate::verify::grade_run(dir)?;
        let (final_checks, final_ok) = match &graded.graded {
            crate::verify::Graded::Ours(verdict) => (verdict.checks.clone(), verdict.ok),
            crate::verify::Graded::Upstream { grade, .. } => (grade.checks.clone(), grade.ok),
        };
        let scenario = graded.scenario().to_string();
        let reader = RunReader::new(dir);
        // Another tool's run has no journal: its story from what its files record.
        let entries: Vec<Value> = match reader.text(Path::new("_timeline.jsonl"), LOG_CAP) {
            Some(text) => text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .collect(),
            None => crate::evidence::foreign_story::journal(&reader),
        };
        let journal: Vec<(f64, Value)> = entries
            .into_iter()
            .filter_map(|entry| Some((seconds(&entry)?, entry)))
            .collect();

        // The log, each line at its own time or its predecessor's.
        let log = read_logs(&reader);
        let first_log = log.iter().find_map(|(t, _)| *t);
        let times: Vec<f64> = journal
            .iter()
            .map(|(t, _)| *t)
            .chain(log.iter().filter_map(|(t, _)| *t))
            .collect();
        let start = times.iter().copied().fold(f64::INFINITY, f64::min);
        let end = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (start, end) = if start.is_finite() {
            (start, end.max(start + 1.0))
        } else {
            (0.0, 1.0)
        };
        let mut log: Vec<(f64, String)> = log
            .into_iter()
            .map(|(t, line)| (t.or(first_log).unwrap_or(start), line))
            .collect();
        log.sort_by(|a, b| a.0.total_cmp(&b.0));

        let metrics_dir = Path::new("_metrics");
        let read_metrics = |path: &Path| {
            reader
                .text(path, JSON_CAP)
                .and_then(|text| Samples::parse(&text).ok())
        };
        let baseline = read_metrics(&metrics_dir.join("metrics-before.txt"));
        let mut counters: Vec<(f64, Samples)> = journal
            .iter()
            .filter(|(_, e)| e["kind"] == "counters")
            .filter_map(|(t, e)| Some((*t, series_samples(e.get("series")?.as_object()?)?)))
            .collect();
        // The run's last page stands at its end, whatever the journal holds.
        let after = read_metrics(&metrics_dir.join("metrics-after.txt"));
        if counters.is_empty() {
            // No series in the journal (another tool's run, or an older one of ours):
            // the frozen pages, else before at the start and after at the end.
            counters = frozen(&reader, metrics_dir, "metrics-", ".txt")
                .into_iter()
                .filter_map(|f| Some((f.at, read_metrics(&f.path)?)))
                .collect();
        }
        if let Some(after) = after {
            counters.push((end, after));
        }
        Ok(Recording {
            dir: dir.to_path_buf(),
            scenario,
            start,
            duration: end - start,
            journal,
            counters,
            baseline,
            log,
            containers: frozen(&reader, Path::new(""), "_containers-", ".json"),
            outbox: frozen(&reader, Path::new(""), "_outbox-", ".json"),
            event_traces: frozen(
                &reader,
                Path::new("_exports"),
                "jaeger-traces-outbox_event_id-",
                ".json",
            ),
            batch_traces: frozen(
                &reader,
                Path::new("_exports"),
                "jaeger-projection-by-claim_batch_id-",
                ".json",
            ),
            final_checks,
            final_ok,
            recipe: reader.json(Path::new("_recipe.json")),
            problems: merged(&graded.problems, &reader.problems()),
        })
    }

    /// The newest frozen file at or before `at` (drill seconds).
    fn latest<'a>(&self, files: &'a [Frozen], at: f64) -> Option<&'a Frozen> {
        files.iter().rev().find(|f| f.at - self.start <= at + 1e-6)
    }

    /// The checklist at `at`: each check as the journal last said, pending before; the
    /// graded verdict from the raw files once the drill is over.
    fn checklist(&self, at: f64) -> Verdict {
        if at >= self.duration - 1e-6 {
            return Verdict {
                scenario: self.scenario.clone(),
                checks: self.final_checks.clone(),
                ok: self.final_ok,
                findings: Vec::new(),
            };
        }
        let mut seen: BTreeMap<String, (CheckStatus, String)> = BTreeMap::new();
        for (t, entry) in &self.journal {
            if t - self.start > at {
                break;
            }
            if entry["kind"] == "check"
                && let Some(id) = entry["id"].as_str()
            {
                let status = match entry["status"].as_str() {
                    Some("passed") => CheckStatus::Passed,
                    Some("failed") => CheckStatus::Failed,
                    _ => CheckStatus::Pending,
                };
                let observed = entry["observed"].as_str().unwrap_or("").to_string();
                seen.insert(id.to_string(), (status, observed));
            }
        }
        let checks = self
            .final_checks
            .iter()
            .map(|check| match seen.get(check.id) {
                Some((status, observed)) => CheckOutcome {
                    status: *status,
                    observed: observed.clone(),
                    ..check.clone()
                },
                None => CheckOutcome {
                    status: CheckStatus::Pending,
                    observed: "not seen yet".into(),
                    before: None,
                    after: None,
                    delta: None,
                    ..check.clone()
                },
            })
            .collect::<Vec<_>>();
        let ok = checks.iter().all(|c| c.status == CheckStatus::Passed);
        Verdict {
            scenario: self.scenario.clone(),
            checks,
            ok,
            findings: Vec::new(),
        }
    }

    /// Every pane as it was `at` drill seconds, and the log up to then.
    pub fn at(&self, at: f64) -> (Snapshot, LogTail) {
        let at = at.clamp(0.0, self.duration);
        let mut snapshot = Snapshot {
            run_dir: self.dir.display().to_string(),
            scenario: self.scenario.clone(),
            project: self
                .recipe
                .as_ref()
                .and_then(|r| r["profile"]["docker.project"].as_str())
                .unwrap_or("recorded")
                .to_string(),
            engine: self
                .recipe
                .as_ref()
                .and_then(|r| {
                    let docker = r.get("docker")?;
                    Some(format!(
                        "{} ({})",
                        docker.get("engine")?.as_str()?,
                        docker.get("origin")?.as_str()?
                    ))
                })
                .unwrap_or_default(),
            es_service: "es".into(),
            metrics_url: "recorded".into(),
            jaeger_url: self
                .recipe
                .as_ref()
                .and_then(|r| r["profile"]["jaeger.url"].as_str())
                .unwrap_or("recorded")
                .to_string(),
            sandbox: self
                .recipe
                .as_ref()
                .is_some_and(|r| r.get("sandbox").is_some())
                .then_some(crate::sandbox::BANNER),
            elapsed: self.duration,
            cursor: Some(at),
            batch_sent: self
                .recipe
                .as_ref()
                .and_then(|r| r["profile"]["worker.batch_size"].as_str()?.parse().ok())
                .unwrap_or(0),
            ..Snapshot::default()
        };
        let entries: Vec<Value> = self
            .journal
            .iter()
            .filter(|(t, _)| t - self.start <= at)
            .map(|(_, e)| e.clone())
            .collect();
        // Moments measured from the drill's start, even when the log began first.
        let offset = self.journal.first().map_or(0.0, |(t, _)| t - self.start);
        snapshot.moments = moments(&entries)
            .into_iter()
            .map(|mut m| {
                m.at += offset;
                m
            })
            .collect();
        snapshot.event_id = entries
            .iter()
            .rev()
            .find(|e| e["kind"] == "insert")
            .and_then(|e| e["outbox_event_id"].as_str().map(str::to_string));

        let mut board = CounterBoard::default();
        if let Some(baseline) = &self.baseline {
            board.set_baseline(baseline.clone());
            board.update(baseline);
        }
        for (t, samples) in &self.counters {
            if t - self.start > at {
                break;
            }
            if !board.has_baseline() {
                board.set_baseline(samples.clone());
            }
            board.update(samples);
        }
        snapshot.counters = board;

        if let Some(file) = self.latest(&self.containers, at)
            && let Some(value) = read_json(&self.dir, &file.path)
        {
            snapshot.containers = serde_json::from_value(value["services"].clone())
                .ok()
                .map(Ok);
            snapshot.worker = serde_json::from_value(value["worker"]["status"].clone()).ok();
            // A fleet's replicas, as the Containers pane listed them then.
            snapshot.replicas = value["replicas"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    Some((
                        usize::try_from(r["worker"].as_u64()?).ok()?,
                        r["id"].as_str()?.to_string(),
                        u16::try_from(r["metrics_port"].as_u64()?).ok()?,
                        serde_json::from_value(r["status"].clone()).ok()?,
                    ))
                })
                .collect();
        }
        if let Some(file) = self.latest(&self.outbox, at)
            && let Some(value) = read_json(&self.dir, &file.path)
            && let (Ok(summary), Ok(rows)) = (
                serde_json::from_value(value["summary"].clone()),
                serde_json::from_value(value["rows"].clone()),
            )
        {
            snapshot.outbox = Some(Ok((summary, rows)));
        }
        let traces = |files: &[Frozen]| {
            self.latest(files, at).and_then(|f| {
                read_json(&self.dir, &f.path)
                    .and_then(|v| crate::jaeger::parse_traces(&v).ok())
                    .map(Ok)
            })
        };
        snapshot.event_traces = traces(&self.event_traces);
        snapshot.batch_traces = traces(&self.batch_traces);
        snapshot.checklist = Some(self.checklist(at));

        let mut tail = LogTail::default();
        for (t, line) in &self.log {
            if t - self.start > at {
                break;
            }
            // As live: secrets masked (another tool's log may print its database URL
            // whole), a long JSON line kept parseable so it renders compactly.
            tail.push(crate::sources::worker_proc::shorten(
                &crate::config::secrets::mask_text(line),
            ));
        }
        (snapshot, tail)
    }

    /// The wall clock of the recording at `at` drill seconds: uptimes and ages in the
    /// panes are as they were then, not as of today.
    pub fn clock_at(&self, at: f64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_micros(((self.start + at) * 1e6) as i64)
            .unwrap_or_default()
    }

    /// The drill seconds of each moment (for stepping with ←/→).
    pub fn moment_times(&self) -> Vec<f64> {
        let entries: Vec<Value> = self.journal.iter().map(|(_, e)| e.clone()).collect();
        let offset = self.journal.first().map_or(0.0, |(t, _)| t - self.start);
        moments(&entries)
            .into_iter()
            .map(|m| m.at + offset)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_labels_in_file_names_are_times() {
        let t = label_time("_outbox-20260214T104255.json").unwrap();
        assert_eq!(label_time("metrics-20260214T104256.txt").unwrap(), t + 1.0);
        assert_eq!(label_time("_containers-20260214T104255-2.json").unwrap(), t);
        assert_eq!(label_time("metrics-before.txt"), None);
    }
}
