//! `drill-cockpit run all`: every drill of the lab in turn — each run, graded and
//! restored before the next starts — then a summary table. The exit code is 0 only
//! when every drill passed; an interrupt stops the series (the drill under way is
//! restored and recorded first).

use std::time::{Duration, Instant};

use crate::config::Profile;
use crate::drill::scenario::RUNNABLE;

use super::single::{Outcome, RunOptions, run};

/// One drill of the series.
pub struct Row {
    pub scenario: &'static str,
    pub outcome: Result<Outcome, String>,
    pub wall: Duration,
}

impl Row {
    fn verdict(&self) -> &'static str {
        match &self.outcome {
            Ok(outcome) if outcome.code == 0 => "PASSED",
            Ok(outcome) if outcome.code > 128 => "INTERRUPTED",
            Ok(_) => "FAILED",
            Err(_) => "ERROR",
        }
    }
}

/// The summary: scenario, verdict, wall time, the deciding numbers (or why it failed).
pub fn table(rows: &[Row], total: Duration) -> String {
    let mut out = format!(
        "{:<20} {:<11} {:>7}  {}\n",
        "scenario", "verdict", "wall", "deciding numbers"
    );
    for row in rows {
        let detail = match &row.outcome {
            Ok(outcome) => match (&outcome.why, outcome.code) {
                (Some(why), code) if code != 0 => format!(
                    "{} — not passed: {}",
                    outcome.deciding,
                    crate::sanitize::one_line(why, 200)
                ),
                _ => outcome.deciding.clone(),
            },
            Err(error) => crate::sanitize::one_line(error, 200),
        };
        out.push_str(&format!(
            "{:<20} {:<11} {:>6.1}s  {}\n",
            row.scenario,
            row.verdict(),
            row.wall.as_secs_f64(),
            detail.trim()
        ));
    }
    let passed = rows.iter().filter(|r| r.verdict() == "PASSED").count();
    out.push_str(&format!(
        "{passed}/{} passed in {:.1}s\n",
        RUNNABLE.len(),
        total.as_secs_f64()
    ));
    out
}

/// Runs every drill; returns the exit code (0 = all nine passed).
pub async fn run_all(profile: Profile, options: RunOptions) -> u8 {
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut interrupted = None;
    for drill in RUNNABLE {
        eprintln!("==> {} — {}", drill.id, drill.title);
        let began = Instant::now();
        let outcome = run(
            profile.clone(),
            RunOptions {
                scenario: drill.id.to_string(),
                op: None,
                ..options.clone()
            },
        )
        .await
        .map_err(|e| e.to_string());
        if let Ok(outcome) = &outcome
            && outcome.code > 128
        {
            interrupted = Some(outcome.code);
        }
        rows.push(Row {
            scenario: drill.id,
            outcome,
            wall: began.elapsed(),
        });
        if interrupted.is_some() {
            break;
        }
    }
    print!("{}", table(&rows, started.elapsed()));
    if let Some(code) = interrupted {
        return code;
    }
    let all_passed = rows.len() == RUNNABLE.len() && rows.iter().all(|r| r.verdict() == "PASSED");
    if all_passed { 0 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: u8, deciding: &str, why: Option<&str>) -> Result<Outcome, String> {
        Ok(Outcome {
            code,
            dir: "snapshots/x/1".into(),
            deciding: deciding.into(),
            why: why.map(str::to_string),
        })
    }

    #[test]
    fn the_table_names_each_verdict_with_its_numbers_and_why() {
        let rows = vec![
            Row {
                scenario: "es_429_inject",
                outcome: outcome(0, "retry_delta=2 failed_delta=2", None),
                wall: Duration::from_millis(4200),
            },
            Row {
                scenario: "stuck_reclaim",
                outcome: outcome(1, "processed_delta=0", Some("processed_delta, reclaimed")),
                wall: Duration::from_millis(9000),
            },
            Row {
                scenario: "es_down_connect",
                outcome: Err("cannot connect to Docker".into()),
                wall: Duration::from_millis(100),
            },
        ];
        let text = table(&rows, Duration::from_secs(14));
        assert!(text.contains("es_429_inject        PASSED"), "{text}");
        assert!(
            text.contains("4.2s  retry_delta=2 failed_delta=2"),
            "{text}"
        );
        assert!(
            text.contains("FAILED") && text.contains("not passed: processed_delta, reclaimed"),
            "{text}"
        );
        assert!(text.contains("ERROR") && text.contains("cannot connect to Docker"));
        assert!(text.ends_with("1/9 passed in 14.0s\n"), "{text}");
    }
}
