//! `verify` of a fleet-contention run: the checks of [`super::fleet_checks`] again, from
//! the run's files. The fleet's Δ and its late-finalize log lines are re-derived from
//! the raw pages (`metrics-before-<n>.txt`, `metrics-after-<n>.txt`) and logs; the
//! database's rows and ES's documents cannot be read again after the run, so they are
//! taken as `_fleet-evidence.json` recorded them (and said to be).

use std::path::Path;

use serde_json::Value;

use super::checks::{FleetEvidence, grade};
use crate::drill::{CheckOutcome, CheckStatus, Verdict};
use crate::evidence::safe_read::{JSON_CAP, LOG_CAP, RunReader};
use crate::prom::Samples;

/// The run's verdict from its files; `Err` names the file that is missing or unreadable.
pub fn grade_dir(dir: &Path) -> Result<Verdict, String> {
    let reader = RunReader::new(dir);
    let recorded = reader
        .json(Path::new("_fleet-evidence.json"))
        .ok_or_else(|| {
            "_fleet-evidence.json is missing or not JSON: the run did not get to grade (see its _timeline.jsonl)".to_string()
        })?;
    let count = |key: &str| recorded.get(key).and_then(Value::as_u64).unwrap_or(0) as usize;
    let mut evidence = FleetEvidence {
        events: count("events"),
        rows_done: count("rows_done"),
        rows_not_done: serde_json::from_value(recorded["rows_not_done"].clone())
            .unwrap_or_default(),
        documents_found: count("documents_found"),
        ..FleetEvidence::default()
    };
    // Each worker's Δ from its own pages.
    for number in worker_numbers(&reader) {
        let page = |when: &str| {
            let file = format!("_metrics/metrics-{when}-{number}.txt");
            let text = reader.text(Path::new(&file), JSON_CAP)?;
            Samples::parse(&text).ok()
        };
        let (Some(before), Some(after)) = (page("before"), page("after")) else {
            return Err(format!(
                "worker {number}'s metrics-before-{number}.txt or metrics-after-{number}.txt is missing or does not parse"
            ));
        };
        let delta =
            |metric: &str| crate::prom::delta(before.sum(metric, &[]), after.sum(metric, &[]));
        let processed = delta("outbox_processed_total");
        evidence.processed += processed;
        evidence.owner_mismatch += delta("outbox_owner_mismatch_skips_total");
        evidence.terminal_failed += delta("outbox_terminal_failed_total");
        evidence.per_worker_processed.push((number, processed));
    }
    evidence.mismatch_log_lines = reader
        .list(Path::new("_logs"))
        .iter()
        .filter_map(|file| reader.text(file, LOG_CAP))
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("outbox.owner_mismatch"))
                .count()
        })
        .sum();
    let checks: Vec<CheckOutcome> = grade(&evidence)
        .into_iter()
        .map(|check| {
            let recorded_only = matches!(check.id, "no_event_lost");
            CheckOutcome {
                id: check.id,
                title: check.title,
                status: if check.passed {
                    CheckStatus::Passed
                } else {
                    CheckStatus::Failed
                },
                observed: if recorded_only {
                    format!(
                        "{} (rows and documents as the run recorded them)",
                        check.observed
                    )
                } else {
                    check.observed
                },
                before: None,
                after: None,
                delta: None,
            }
        })
        .collect();
    Ok(Verdict {
        scenario: super::ID.to_string(),
        ok: checks.iter().all(|c| c.status == CheckStatus::Passed),
        checks,
        findings: Vec::new(),
    })
}

/// The workers whose baseline the run wrote (`metrics-before-<n>.txt`), in order.
fn worker_numbers(reader: &RunReader) -> Vec<usize> {
    let mut numbers: Vec<usize> = reader
        .list(Path::new("_metrics"))
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()?
                .strip_prefix("metrics-before-")?
                .strip_suffix(".txt")?
                .parse()
                .ok()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}
