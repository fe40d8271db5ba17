//! What a CI job reads of a drill series or a verification: JUnit XML (`--junit FILE`)
//! and JSON on stdout (`--json`), one testcase or object per run.

pub mod cases;
pub mod junit;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::run::all::Row;
use crate::run::single::Outcome;

/// The reports a command was asked for, besides its table.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    /// JSON on stdout instead of the table (which goes to stderr then).
    pub json: bool,
    /// JUnit XML written here at the end (checked before anything runs).
    pub junit: Option<PathBuf>,
}

impl Reports {
    /// Refuses a `--junit` path that could not be written, before any work is done.
    pub fn check(&self) -> Result<(), crate::exit::CouldNotRun> {
        match &self.junit {
            Some(path) => junit::check_target(path).map_err(crate::exit::CouldNotRun),
            None => Ok(()),
        }
    }

    /// Writes the JUnit report when one was asked for; an error is said on stderr and
    /// turns a passed series into "could not run" (CI must not miss its report).
    pub fn write_junit(&self, suite: &str, cases: &[junit::Case], seconds: f64) -> bool {
        let Some(path) = &self.junit else {
            return true;
        };
        match junit::write(path, &junit::render(suite, cases, seconds)) {
            Ok(()) => true,
            Err(error) => {
                eprintln!("drill-cockpit: {error}");
                false
            }
        }
    }

    /// `run all`'s JSON (stdout) and JUnit file, when asked for; false when the JUnit
    /// file could not be written.
    pub fn series(&self, rows: &[Row], expected: usize, total: Duration) -> bool {
        if self.json {
            print_json(&cases::series_json(rows, expected));
        }
        let cases: Vec<_> = rows.iter().map(cases::run_case).collect();
        self.write_junit("drill-cockpit run all", &cases, total.as_secs_f64())
    }

    /// `run <scenario>`: the drill reported as a series of one; returns the exit code,
    /// 3 for a passed drill whose JUnit file could not be written.
    pub fn one(&self, scenario: &str, outcome: Outcome, started: Instant) -> u8 {
        let code = outcome.code;
        if !self.json && self.junit.is_none() {
            return code;
        }
        let row = Row {
            scenario: crate::drill::scenario::find(scenario).map_or("unknown", |drill| drill.id),
            outcome: Ok(outcome),
            wall: started.elapsed(),
        };
        if self.json {
            print_json(&cases::run_json(&row));
        }
        let case = cases::run_case(&row);
        let suite = format!("drill-cockpit run {}", row.scenario);
        match self.write_junit(&suite, &[case], row.wall.as_secs_f64()) {
            false if code == crate::exit::PASSED => crate::exit::COULD_NOT_RUN,
            _ => code,
        }
    }
}

/// Pretty JSON on stdout; a closed pipe ends the output, never the process.
fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value:#}").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collector_down run as upstream's tooling writes it, that passes.
    fn passed_run(root: &std::path::Path) -> PathBuf {
        let dir = root.join("collector_down/20260214T230000");
        std::fs::create_dir_all(dir.join("_metrics")).unwrap();
        std::fs::write(
            dir.join("_recipe.json"),
            r#"{"scenario": "collector_down"}"#,
        )
        .unwrap();
        let page = |n: u32| {
            format!(
                "outbox_processed_total{{projection=\"search_index_to_elastic\",op=\"upsert\"}} {n}.0\n"
            )
        };
        std::fs::write(dir.join("_metrics/metrics-before.txt"), page(0)).unwrap();
        std::fs::write(dir.join("_metrics/metrics-after.txt"), page(1)).unwrap();
        std::fs::write(dir.join("_inject_jaeger_stop.exitcode.txt"), "0\n").unwrap();
        dir
    }

    fn passed(dir: &std::path::Path) -> Outcome {
        Outcome {
            code: crate::exit::PASSED,
            dir: dir.to_path_buf(),
            deciding: "processed_delta=1".into(),
            why: None,
        }
    }

    #[test]
    fn one_drill_with_junit_is_a_suite_of_one_and_a_lost_report_is_not_a_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let run = passed_run(tmp.path());
        let junit = tmp.path().join("junit.xml");
        let reports = Reports {
            json: false,
            junit: Some(junit.clone()),
        };
        assert_eq!(
            reports.one("collector_down", passed(&run), Instant::now()),
            0
        );
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(
            xml.contains("tests=\"1\" failures=\"0\" errors=\"0\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"collector_down\" classname=\"drills\""),
            "{xml}"
        );
        // The file appeared after the check (another job's): the pass is not reported.
        assert_eq!(
            reports.one("collector_down", passed(&run), Instant::now()),
            crate::exit::COULD_NOT_RUN
        );
    }
}
