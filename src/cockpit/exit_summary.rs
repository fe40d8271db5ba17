//! What the terminal shows once the cockpit has given it back: the drill's verdict,
//! each check that did not pass, and where the evidence is.

use std::path::Path;

use super::engine::Snapshot;
use super::tally::Tally;
use crate::drill::{CheckStatus, Verdict};

/// The words printed after any exit (`q`, quit anyway, the waited quit, SIGTERM).
/// The final freeze's verdict when it was written; else the live checklist's, saying
/// why there is no final one.
pub fn exit_summary(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let (verdict, note) = match (&snapshot.final_verdict, &snapshot.checklist) {
        (Some(verdict), _) => (Some(verdict), None),
        (None, live) => (live.as_ref(), Some(missing_final_note(snapshot))),
    };
    match verdict {
        Some(verdict) => out.push_str(&verdict_lines(&snapshot.scenario, verdict)),
        None => out.push_str(&format!(
            "drill {}: not decided (no check was graded)\n",
            snapshot.scenario
        )),
    }
    if let Some(note) = note {
        out.push_str(&format!("  {note}\n"));
    }
    out.push_str(&format!("run directory: {}\n", snapshot.run_dir));
    out.push_str(&report_line(Path::new(&snapshot.run_dir)));
    out
}

/// `drill es_down_connect: FAILED (7/8 passed · 1 failed · FAILED)` and one line per
/// check that did not pass: id, status, title, what was seen.
fn verdict_lines(scenario: &str, verdict: &Verdict) -> String {
    let tally = Tally::of(verdict);
    let mut out = format!(
        "drill {scenario}: {} ({})\n",
        tally.overall().word(),
        tally.words()
    );
    for check in verdict
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed)
    {
        out.push_str(&format!(
            "  {} · {} · {} · seen: {}\n",
            check.id,
            check.status.label(),
            check.title,
            crate::sanitize::one_line(&check.observed, 300)
        ));
    }
    out
}

fn missing_final_note(snapshot: &Snapshot) -> String {
    match &snapshot.final_error {
        Some(error) => format!("the live checklist, not a final verdict: {error}"),
        None => {
            "the live checklist, not a final verdict: the cockpit ended before its final freeze"
                .into()
        }
    }
}

fn report_line(run_dir: &Path) -> String {
    let report = run_dir.join("report.md");
    if report.exists() {
        format!("report: {}\n", report.display())
    } else {
        format!(
            "report: {} was not written (no final freeze)\n",
            report.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::CheckOutcome;

    fn check(id: &'static str, status: CheckStatus, observed: &str) -> CheckOutcome {
        CheckOutcome {
            id,
            title: "after `start es` the event reaches done",
            status,
            observed: observed.into(),
            before: None,
            after: None,
            delta: None,
        }
    }

    fn snapshot(run_dir: &Path) -> Snapshot {
        Snapshot {
            scenario: "es_down_connect".into(),
            run_dir: run_dir.display().to_string(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_final_verdict_names_each_check_that_did_not_pass() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.md"), "").unwrap();
        let mut snapshot = snapshot(dir.path());
        snapshot.final_verdict = Some(Verdict {
            scenario: "es_down_connect".into(),
            checks: vec![
                check("retry_delta", CheckStatus::Passed, "Δ=1"),
                check("recovered", CheckStatus::Failed, "status pending"),
            ],
            ok: false,
            findings: Vec::new(),
        });
        let text = exit_summary(&snapshot);
        assert!(
            text.starts_with("drill es_down_connect: FAILED (1/2 passed · 1 failed · FAILED)\n"),
            "{text}"
        );
        assert!(
            text.contains("  recovered · FAILED · after `start es` the event reaches done · seen: status pending\n"),
            "{text}"
        );
        assert!(!text.contains("retry_delta"), "{text}");
        assert!(text.contains(&format!("run directory: {}\n", dir.path().display())));
        assert!(text.contains(&format!(
            "report: {}\n",
            dir.path().join("report.md").display()
        )));
    }

    #[test]
    fn without_a_final_freeze_the_live_checklist_is_not_decided_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let mut snapshot = snapshot(dir.path());
        snapshot.checklist = Some(Verdict {
            scenario: "es_down_connect".into(),
            checks: vec![check("recovered", CheckStatus::Pending, "no evidence")],
            ok: false,
            findings: Vec::new(),
        });
        snapshot.final_error = Some("the final freeze failed: disk full".into());
        let text = exit_summary(&snapshot);
        assert!(
            text.starts_with("drill es_down_connect: not decided"),
            "{text}"
        );
        assert!(text.contains("recovered · pending"), "{text}");
        assert!(text.contains("disk full"), "{text}");
        assert!(text.contains("was not written (no final freeze)"), "{text}");
    }
}
