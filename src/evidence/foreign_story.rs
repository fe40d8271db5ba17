//! The story of another tool's run (upstream's `run_drill`), which writes no journal:
//! journal entries made from what its files do record, so its replay, its HTML report
//! and its `timeline.svg` tell the same kind of story as ours.
//!
//! What the files give, and how sure each moment is:
//! - the worker's JSON log lines carry their own UTC `ts`: the drill's span, and the
//!   first retry and first terminal failure (a line with a `reason` that says so);
//! - `_clean.txt`'s `at=` and `_recipe.json`'s `created_at` are local wall-clock times
//!   without a zone: they are placed only when the zone can be told (the recipe is
//!   written seconds before the worker's first line, so their difference, rounded to a
//!   quarter hour, is the zone's offset);
//! - an inject file (`_inject_*`) says the fault went in, not when: it is shown at the
//!   drill's first attempt, and its label says its time was not recorded.

use std::path::Path;

use serde_json::{Value, json};

use super::moments::seconds;
use super::safe_read::{JSON_CAP, LOG_CAP, RunReader};

/// Journal entries for a run that has no `_timeline.jsonl`, oldest first; empty when
/// its log holds no timed line.
pub fn journal(reader: &RunReader) -> Vec<Value> {
    let lines = timed_log_lines(reader);
    let Some(&(start, _)) = lines.first() else {
        return Vec::new();
    };
    let end = lines.last().map_or(start, |(t, _)| *t);
    let mut entries = vec![counters_at(start, 0.0, 0.0)];
    let offset = zone_offset(reader, start);
    let event_ids = event_ids(reader);
    let first_attempt = lines
        .iter()
        .find(|(_, line)| event_ids.iter().any(|id| line.contains(id.as_str())))
        .map(|(t, _)| *t);
    if let (Some(at), Some(fault)) = (first_attempt, injected(reader)) {
        entries.push(entry(
            at,
            json!({"kind": "inject", "what": format!("{fault} (its time is not recorded: shown at the first attempt)")}),
        ));
    }
    let (mut retried, mut terminal) = (false, false);
    for (at, line) in &lines {
        match failure(line) {
            Some(Failure::Terminal) if !terminal => {
                terminal = true;
                entries.push(counters_at(*at, f64::from(u8::from(retried)), 1.0));
            }
            Some(Failure::Attempt) if !retried => {
                retried = true;
                entries.push(counters_at(*at, 1.0, 0.0));
            }
            _ => {}
        }
    }
    if let (Some(offset), Some((action, at))) = (offset, cleaned(reader)) {
        entries.push(entry(at - offset, json!({"kind": "clean", "what": action})));
    }
    // The last line closes the span (a moment after it would stretch the axis).
    entries.push(entry(
        end,
        json!({"kind": "note", "message": "the worker's last log line"}),
    ));
    entries.sort_by(|a, b| {
        seconds(a)
            .unwrap_or(0.0)
            .total_cmp(&seconds(b).unwrap_or(0.0))
    });
    entries
}

fn entry(at: f64, mut fields: Value) -> Value {
    let ts = chrono::DateTime::from_timestamp_millis((at * 1000.0) as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    fields["ts"] = json!(ts);
    fields["derived_from"] = json!("another tool's run files");
    fields
}

fn counters_at(at: f64, retry: f64, terminal: f64) -> Value {
    entry(
        at,
        json!({"kind": "counters", "retry_scheduled": retry, "terminal_failed": terminal}),
    )
}

/// Every JSON log line with a `ts`, in time order (Unix seconds, the line).
fn timed_log_lines(reader: &RunReader) -> Vec<(f64, String)> {
    let mut lines: Vec<(f64, String)> = reader
        .list(Path::new("_logs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter_map(|file| reader.text(&file, LOG_CAP))
        .flat_map(|text| {
            text.lines()
                .filter_map(|line| {
                    let value: Value = serde_json::from_str(line).ok()?;
                    Some((seconds(&value)?, line.to_string()))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines
}

enum Failure {
    /// A failed attempt: the worker schedules a retry.
    Attempt,
    /// The event given up on.
    Terminal,
}

/// What a log line says failed: an ERROR or WARNING line that names a failure reason
/// (`"reason": "es_connect"`) or says it failed (upstream's real worker logs "Failed
/// to process outbox event …" with no reason field); terminal when it says so.
fn failure(line: &str) -> Option<Failure> {
    let value: Value = serde_json::from_str(line).ok()?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or("");
    if !matches!(text("level"), "ERROR" | "WARNING" | "CRITICAL") {
        return None;
    }
    let message = text("message").to_ascii_lowercase();
    let reason = text("reason");
    let failed = (!reason.is_empty() && reason != "none")
        || message.contains("fail")
        || message.contains("retry");
    match (
        failed,
        message.contains("terminal") || text("result") == "terminal",
    ) {
        (true, true) => Some(Failure::Terminal),
        (true, false) => Some(Failure::Attempt),
        (false, _) => None,
    }
}

/// The drill's outbox event ids (`_outbox_event_id*.txt`, one id per line).
fn event_ids(reader: &RunReader) -> Vec<String> {
    reader
        .list(Path::new(""))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("_outbox_event_id") && n.ends_with(".txt"))
        })
        .filter_map(|p| reader.text(&p, JSON_CAP))
        .flat_map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| l.len() >= 8)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What was injected, from the name of an `_inject_<what>.*` file (`es_stop`).
fn injected(reader: &RunReader) -> Option<String> {
    reader.list(Path::new("")).into_iter().find_map(|p| {
        let name = p.file_name()?.to_str()?;
        let what = name.strip_prefix("_inject_")?.split('.').next()?;
        Some(what.replace('_', " "))
    })
}

/// `_clean.txt`'s action and its local time (Unix seconds as if it were UTC).
fn cleaned(reader: &RunReader) -> Option<(String, f64)> {
    let text = reader.text(Path::new("_clean.txt"), JSON_CAP)?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let action = field("action").unwrap_or("clean").replace('_', " ");
    Some((action, naive_seconds(field("at")?)?))
}

/// `2026-02-14 18:42:31` read as if it were UTC.
fn naive_seconds(text: &str) -> Option<f64> {
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp() as f64)
}

/// The local zone's offset from UTC in seconds: the recipe's `created_at` (local) less
/// the worker's first line (UTC), rounded to a quarter hour; none when they are too far
/// apart to be the same moment.
fn zone_offset(reader: &RunReader, first_line: f64) -> Option<f64> {
    let recipe = reader.json(Path::new("_recipe.json"))?;
    let created = naive_seconds(recipe.get("created_at")?.as_str()?)?;
    let difference = created - first_line;
    let quarter = 15.0 * 60.0;
    let offset = (difference / quarter).round() * quarter;
    ((difference - offset).abs() <= 5.0 * 60.0 && offset.abs() <= 14.0 * 3600.0).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::moments::{MomentKind, moments};

    fn fixture(run: &str) -> std::path::PathBuf {
        let shared = std::env::var("DRILL_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
        shared.join("fixtures").join(run)
    }

    #[test]
    fn upstreams_es_down_run_tells_fault_first_retry_and_clean() {
        let dir = fixture("upstream-run-es_down_connect");
        if !dir.is_dir() {
            eprintln!("skipped: no fixtures at {}", dir.display());
            return;
        }
        let entries = journal(&RunReader::new(&dir));
        let story = moments(&entries);
        let kinds: Vec<MomentKind> = story.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MomentKind::FaultIn,
                MomentKind::FirstRetry,
                MomentKind::FaultOut
            ],
            "{story:?}"
        );
        // The clean at 18:42:57 local (+08:00) is 10:42:57Z: 18 s after the first line.
        let clean = story
            .iter()
            .find(|m| m.kind == MomentKind::FaultOut)
            .unwrap();
        assert!((clean.at - 17.6).abs() < 1.0, "{clean:?}");
        assert!(story[0].label.contains("es stop"), "{:?}", story[0]);
        assert!(story[0].label.contains("not recorded"), "{:?}", story[0]);
    }

    #[test]
    fn a_zone_is_placed_only_when_the_recipe_and_the_log_agree() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("_recipe.json"),
            r#"{"created_at": "2026-02-14 18:42:31"}"#,
        )
        .unwrap();
        let reader = RunReader::new(tmp.path());
        let first = naive_seconds("2026-02-14 10:42:39").unwrap();
        assert_eq!(zone_offset(&reader, first), Some(8.0 * 3600.0));
        // 7.5 minutes off any quarter hour: not a zone, nothing placed by it.
        let created = naive_seconds("2026-02-14 18:42:31").unwrap();
        assert_eq!(zone_offset(&reader, created - 8.125 * 3600.0), None);
        assert!(journal(&reader).is_empty(), "no log, no story");
    }
}
