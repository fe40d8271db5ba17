//! The fleet contention drill's checks: pure functions of what the run observed, so
//! they are tested without a fleet. The contract's invariants at scale: every row
//! finalized exactly once, no event lost, and every late finalize of a worker that
//! lost its lease reported (CONTRACT §3 `outbox_owner_mismatch_skips_total`, §7).

use serde::Serialize;

/// What the drill observed once the fleet went quiet (written whole to
/// `_fleet-evidence.json`, so the verdict can be re-derived from the run's files).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetEvidence {
    /// Events the drill inserted.
    pub events: usize,
    /// Of the drill's rows: how many ended `done`, and the other statuses with counts.
    pub rows_done: usize,
    pub rows_not_done: Vec<(String, usize)>,
    /// Entities whose document ES has at the event's version.
    pub documents_found: usize,
    /// Fleet sums of Δ since each worker's own baseline.
    pub processed: f64,
    pub owner_mismatch: f64,
    pub terminal_failed: f64,
    /// `outbox.owner_mismatch` lines in the workers' logs (the late finalizes they said).
    pub mismatch_log_lines: usize,
    /// Each worker's processed Δ, by worker number.
    pub per_worker_processed: Vec<(usize, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetCheck {
    pub id: &'static str,
    pub title: &'static str,
    pub passed: bool,
    pub observed: String,
}

fn check(id: &'static str, title: &'static str, passed: bool, observed: String) -> FleetCheck {
    FleetCheck {
        id,
        title,
        passed,
        observed,
    }
}

/// Every check of the drill, in report order.
pub fn grade(evidence: &FleetEvidence) -> Vec<FleetCheck> {
    vec![
        no_event_lost(evidence),
        finalized_once(evidence),
        late_finalizes_reported(evidence),
        nothing_terminal(evidence),
        work_shared(evidence),
    ]
}

fn no_event_lost(e: &FleetEvidence) -> FleetCheck {
    let not_done = e
        .rows_not_done
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>();
    check(
        "no_event_lost",
        "every event ends done and its document is in ES at its version",
        e.rows_done == e.events && e.documents_found == e.events,
        format!(
            "{} of {} row(s) done{}; {} of {} document(s) found",
            e.rows_done,
            e.events,
            if not_done.is_empty() {
                String::new()
            } else {
                format!(" ({})", not_done.join(", "))
            },
            e.documents_found,
            e.events
        ),
    )
}

/// A row finalized twice is a processed count above the events: the fence lets one
/// finalize per claim through, and a late one is counted as a mismatch instead.
fn finalized_once(e: &FleetEvidence) -> FleetCheck {
    let events = e.events as f64;
    let observed = if e.processed > events {
        format!(
            "processed Δ{} for {} event(s): {} finalize(s) beyond one per event — a row finalized twice, or a late finalize that changed nothing counted as processed (upstream's known lost-lease defect, CONTRACT §7)",
            e.processed,
            e.events,
            e.processed - events
        )
    } else {
        format!(
            "processed Δ{} (fleet sum) for {} event(s)",
            e.processed, e.events
        )
    };
    check(
        "finalized_once",
        "every row finalized exactly once, and counted once: processed Δ (fleet sum) = events",
        e.processed == events,
        observed,
    )
}

/// The losers' late finalizes change nothing and are said: by the counter, and by a
/// log line each (they must agree, so neither is an estimate).
fn late_finalizes_reported(e: &FleetEvidence) -> FleetCheck {
    // A worker that logs no such line (another tool's) is counted by its metrics alone.
    let agree = e.mismatch_log_lines == 0 || e.owner_mismatch == e.mismatch_log_lines as f64;
    check(
        "late_finalizes_reported",
        "leases were lost and every late finalize reported (owner_mismatch_skips Δ≥1, one log line each)",
        e.owner_mismatch >= 1.0 && agree,
        format!(
            "owner_mismatch_skips Δ{} (fleet sum); {} `outbox.owner_mismatch` log line(s){}",
            e.owner_mismatch,
            e.mismatch_log_lines,
            if agree {
                ""
            } else {
                ": the counter and the logs disagree"
            }
        ),
    )
}

fn nothing_terminal(e: &FleetEvidence) -> FleetCheck {
    check(
        "terminal_failed_delta",
        "terminal_failed Δ=0 (no event given up on)",
        e.terminal_failed == 0.0,
        format!("terminal_failed Δ{} (fleet sum)", e.terminal_failed),
    )
}

/// Contention needs contenders: at least two workers finalized events.
fn work_shared(e: &FleetEvidence) -> FleetCheck {
    let working = e
        .per_worker_processed
        .iter()
        .filter(|(_, processed)| *processed >= 1.0)
        .count();
    let shares = e
        .per_worker_processed
        .iter()
        .map(|(n, p)| format!("w{n} {p}"))
        .collect::<Vec<_>>()
        .join(" ");
    check(
        "work_shared",
        "the fleet shared the work (≥2 workers finalized events)",
        working >= 2,
        format!(
            "{working} of {} worker(s) finalized events: {shares}",
            e.per_worker_processed.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> FleetEvidence {
        FleetEvidence {
            events: 300,
            rows_done: 300,
            rows_not_done: Vec::new(),
            documents_found: 300,
            processed: 300.0,
            owner_mismatch: 7.0,
            terminal_failed: 0.0,
            mismatch_log_lines: 7,
            per_worker_processed: vec![(1, 100.0), (2, 120.0), (3, 80.0), (4, 0.0)],
        }
    }

    fn failed(checks: &[FleetCheck]) -> Vec<&'static str> {
        checks.iter().filter(|c| !c.passed).map(|c| c.id).collect()
    }

    #[test]
    fn a_clean_fleet_passes_every_check() {
        assert_eq!(failed(&grade(&clean())), Vec::<&str>::new());
    }

    #[test]
    fn a_late_finalize_counted_as_processed_fails_finalized_once_naming_the_excess() {
        let mut e = clean();
        e.processed = 303.0;
        let checks = grade(&e);
        assert_eq!(failed(&checks), vec!["finalized_once"]);
        assert!(
            checks[1]
                .observed
                .contains("3 finalize(s) beyond one per event")
        );
    }

    #[test]
    fn a_row_left_processing_or_a_missing_document_is_a_lost_event() {
        let mut e = clean();
        e.rows_done = 299;
        e.rows_not_done = vec![("processing".into(), 1)];
        assert_eq!(failed(&grade(&e)), vec!["no_event_lost"]);
        assert!(grade(&e)[0].observed.contains("(1 processing)"));
        let mut e = clean();
        e.documents_found = 298;
        assert_eq!(failed(&grade(&e)), vec!["no_event_lost"]);
    }

    #[test]
    fn no_lost_lease_or_a_silent_one_fails_the_reporting_check() {
        let mut e = clean();
        e.owner_mismatch = 0.0;
        e.mismatch_log_lines = 0;
        assert_eq!(failed(&grade(&e)), vec!["late_finalizes_reported"]);
        let mut e = clean();
        e.mismatch_log_lines = 5;
        let checks = grade(&e);
        assert_eq!(failed(&checks), vec!["late_finalizes_reported"]);
        assert!(checks[2].observed.contains("disagree"));
    }

    #[test]
    fn one_worker_doing_everything_is_no_contention() {
        let mut e = clean();
        e.per_worker_processed = vec![(1, 300.0), (2, 0.0)];
        assert_eq!(failed(&grade(&e)), vec!["work_shared"]);
    }
}
