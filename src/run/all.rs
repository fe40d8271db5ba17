//! `drill-cockpit run all`: every drill of the lab in turn — each run, graded and
//! restored before the next starts — then a summary table. The exit code is 0 only
//! when every drill passed; an interrupt stops the series (the drill under way is
//! restored and recorded first).

use std::time::{Duration, Instant};

use crate::ci::Reports;
use crate::config::Profile;

use super::single::{Outcome, RunOptions, run};

/// One drill of the series.
pub struct Row {
    pub scenario: &'static str,
    pub outcome: Result<Outcome, String>,
    pub wall: Duration,
}

impl Row {
    pub fn verdict(&self) -> &'static str {
        match &self.outcome {
            Ok(outcome) if outcome.code == crate::exit::PASSED => "PASSED",
            Ok(outcome) if outcome.code > 128 => "INTERRUPTED",
            Ok(outcome) if outcome.code == crate::exit::COULD_NOT_RUN => "COULD NOT RUN",
            Ok(_) => "FAILED",
            Err(_) => "ERROR",
        }
    }
}

impl Row {
    /// The row's line of the table: scenario, verdict, wall time, numbers or why.
    fn line(&self) -> String {
        let detail = match &self.outcome {
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
        format!(
            "{:<20} {:<13} {:>6.1}s  {}",
            self.scenario,
            self.verdict(),
            self.wall.as_secs_f64(),
            detail.trim()
        )
    }
}

fn header() -> String {
    format!(
        "{:<20} {:<13} {:>7}  deciding numbers\n",
        "scenario", "verdict", "wall"
    )
}

/// The summary: scenario, verdict, wall time, the deciding numbers (or why it failed).
pub fn table(rows: &[Row], total: Duration) -> String {
    let mut out = header();
    for row in rows {
        out.push_str(&row.line());
        out.push('\n');
    }
    let passed = rows.iter().filter(|r| r.verdict() == "PASSED").count();
    out.push_str(&format!(
        "{passed}/{} passed in {:.1}s\n",
        crate::drill::scenario::all().len(),
        total.as_secs_f64()
    ));
    out
}

/// Runs every drill; returns the exit code (0 = all nine passed). With `--json` the
/// table goes to stderr and stdout carries the JSON alone.
pub async fn run_all(profile: Profile, options: RunOptions, reports: &Reports) -> u8 {
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut interrupted = None;
    let table_out = |text: &str| {
        if reports.json {
            eprint!("{text}");
        } else {
            print!("{text}");
            flush_stdout();
        }
    };
    table_out(&header());
    let drills = crate::drill::scenario::all();
    for drill in drills.iter() {
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
        let row = Row {
            scenario: drill.id,
            outcome,
            wall: began.elapsed(),
        };
        // Each line as it happens, even into a pipe or a CI log.
        table_out(&format!("{}\n", row.line()));
        rows.push(row);
        if interrupted.is_some() {
            break;
        }
    }
    table_out(&format!("\n{}", table(&rows, started.elapsed())));
    let reported = reports.series(&rows, drills.len(), started.elapsed());
    if let Some(code) = interrupted {
        return code;
    }
    match series_code(&rows) {
        crate::exit::PASSED if !reported => crate::exit::COULD_NOT_RUN,
        code => code,
    }
}

/// 0 when all nine passed; 1 when one FAILED; else 3 when one could not run.
fn series_code(rows: &[Row]) -> u8 {
    let all_passed = rows.len() == crate::drill::scenario::all().len()
        && rows.iter().all(|r| r.verdict() == "PASSED");
    if all_passed {
        crate::exit::PASSED
    } else if rows.iter().any(|r| r.verdict() == "FAILED") {
        crate::exit::FAILED
    } else {
        crate::exit::COULD_NOT_RUN
    }
}

fn flush_stdout() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
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
