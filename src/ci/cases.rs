//! Runs and graded runs as CI reads them: a JUnit testcase each, and for `run --json` the
//! object `verify --json` prints for the same run directory, with the run's own exit
//! code, verdict and wall time added. A run's failed checks are read back from its
//! files by `verify`'s grading: one account of a run, whichever command reports it.

use std::path::Path;

use serde_json::{Value, json};

use super::junit::{Case, Ending};
use crate::drill::CheckOutcome;
use crate::run::all::Row;
use crate::sanitize::{one_line, path as shown};
use crate::verify::{Graded, GradedRun, grade_run};

/// The checks of a graded run.
fn checks(run: &GradedRun) -> &[CheckOutcome] {
    match &run.graded {
        Graded::Ours(verdict) => &verdict.checks,
        Graded::Upstream { grade, .. } => &grade.checks,
    }
}

/// A failed run's failure: the failed checks by id, then each with what was seen.
fn failure(run: &GradedRun) -> Ending {
    let failing = run.failing_checks();
    let detail: Vec<String> = checks(run)
        .iter()
        .filter(|c| failing.contains(&c.id))
        .map(|c| {
            format!(
                "{} ({}) {}: {}",
                c.id,
                c.title,
                c.status.label(),
                one_line(&c.observed, 400)
            )
        })
        .collect();
    let message = if run.control {
        "CONTROL RUN: the fault was not put in; a control run is never a passed drill".to_string()
    } else {
        format!("failed checks: {}", failing.join(", "))
    };
    Ending::Failed {
        message,
        detail: detail.join("\n"),
    }
}

/// The testcase of a run `verify` graded (or could not); `root` is what the user
/// passed, so names read `<scenario>/<run_id>` as in the table.
pub fn verify_case(root: &Path, run: &Result<GradedRun, String>) -> Case {
    match run {
        Ok(run) => {
            let name = shown(run.dir.strip_prefix(root).unwrap_or(&run.dir));
            let name = if name.is_empty() {
                run.scenario().to_string()
            } else {
                name
            };
            Case {
                name,
                classname: format!("verify.{}", run.scenario()),
                seconds: 0.0,
                properties: vec![
                    ("run_dir".into(), shown(&run.dir)),
                    ("verdict".into(), run.verdict_word().into()),
                    ("deciding".into(), run.deciding()),
                ],
                ending: if run.ok() {
                    Ending::Passed
                } else {
                    failure(run)
                },
            }
        }
        Err(error) => Case {
            name: "unreadable run".into(),
            classname: "verify".into(),
            seconds: 0.0,
            properties: Vec::new(),
            ending: Ending::Error {
                message: one_line(error, 300),
                detail: error.clone(),
            },
        },
    }
}

/// The testcase of one drill of `run` / `run all`.
pub fn run_case(row: &Row) -> Case {
    let mut properties = Vec::new();
    if let Ok(outcome) = &row.outcome {
        properties.push(("run_dir".into(), shown(&outcome.dir)));
        properties.push(("exit_code".into(), outcome.code.to_string()));
        properties.push(("deciding".into(), outcome.deciding.clone()));
    }
    properties.push(("verdict".into(), row.verdict().into()));
    // Which file the drill came from: a ./drills file that replaces a built-in one must
    // show in the test report, not only on the job's stderr.
    if let Some(origin) = crate::drill::catalog::origin(row.scenario) {
        properties.push(("drill".into(), origin.to_string()));
    }
    let ending = match (&row.outcome, row.verdict()) {
        (_, "PASSED") => Ending::Passed,
        (Ok(outcome), "FAILED") => match grade_run(&outcome.dir) {
            Ok(graded) if !graded.failing_checks().is_empty() || graded.control => failure(&graded),
            // The checks passed but the drill did not finish (recovery, an event).
            _ => Ending::Failed {
                message: one_line(outcome.why.as_deref().unwrap_or("the drill failed"), 300),
                detail: outcome.why.clone().unwrap_or_default(),
            },
        },
        (Ok(outcome), verdict) => Ending::Error {
            message: format!(
                "{verdict}: {}",
                one_line(outcome.why.as_deref().unwrap_or("no reason recorded"), 300)
            ),
            detail: outcome.why.clone().unwrap_or_default(),
        },
        (Err(error), verdict) => Ending::Error {
            message: format!("{verdict}: {}", one_line(error, 300)),
            detail: error.clone(),
        },
    };
    Case {
        name: row.scenario.to_string(),
        classname: "drills".into(),
        seconds: row.wall.as_secs_f64(),
        properties,
        ending,
    }
}

/// The drill's result as JSON: `verify --json`'s object for its run directory, `ok`
/// being the drill's own verdict, plus `exit_code`, `verdict` and `wall_seconds`.
pub fn run_json(row: &Row) -> Value {
    let mut value = match &row.outcome {
        Ok(outcome) => match grade_run(&outcome.dir) {
            Ok(graded) => graded.json(),
            Err(error) => json!({
                "scenario": row.scenario,
                "run_dir": outcome.dir.display().to_string(),
                "error": error,
            }),
        },
        Err(error) => json!({"scenario": row.scenario, "error": error}),
    };
    value["ok"] = json!(row.verdict() == "PASSED");
    value["verdict"] = json!(row.verdict());
    value["wall_seconds"] = json!((row.wall.as_secs_f64() * 1000.0).round() / 1000.0);
    if let Some(origin) = crate::drill::catalog::origin(row.scenario) {
        value["drill"] = json!(origin.to_string());
    }
    if let Ok(outcome) = &row.outcome {
        value["exit_code"] = json!(outcome.code);
        if let Some(why) = &outcome.why {
            value["why"] = json!(why);
        }
    }
    value
}

/// `{"runs": [...], "ok": …, "count": …}`, the shape of `verify --json` on a folder.
pub fn series_json(rows: &[Row], expected: usize) -> Value {
    let runs: Vec<Value> = rows.iter().map(run_json).collect();
    let passed = rows.iter().filter(|r| r.verdict() == "PASSED").count();
    json!({
        "runs": runs,
        "ok": passed == expected && rows.len() == expected,
        "count": rows.len(),
        "passed": passed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::single::Outcome;
    use std::time::Duration;

    /// A collector_down run as upstream's tooling writes it, `processed` events after.
    fn collector_down_run(root: &Path, processed: u32) -> std::path::PathBuf {
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
        std::fs::write(dir.join("_metrics/metrics-after.txt"), page(processed)).unwrap();
        std::fs::write(dir.join("_inject_jaeger_stop.exitcode.txt"), "0\n").unwrap();
        dir
    }

    fn row(code: u8, dir: &Path) -> Row {
        Row {
            scenario: "collector_down",
            outcome: Ok(Outcome {
                code,
                dir: dir.to_path_buf(),
                deciding: "processed_delta=0".into(),
                why: Some("processed_delta".into()),
            }),
            wall: Duration::from_millis(1500),
        }
    }

    #[test]
    fn a_failed_drill_is_a_failure_naming_its_checks_as_its_files_grade() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = collector_down_run(tmp.path(), 0);
        let case = run_case(&row(crate::exit::FAILED, &dir));
        let Ending::Failed { message, detail } = &case.ending else {
            panic!("{case:?}");
        };
        assert!(message.contains("processed_delta_ge"), "{message}");
        assert!(detail.contains("processed_delta_ge"), "{detail}");
        assert!(case.properties.contains(&("run_dir".into(), shown(&dir))));
        assert_eq!(case.seconds, 1.5);

        let value = run_json(&row(crate::exit::FAILED, &dir));
        assert_eq!(value["ok"], false);
        assert_eq!(value["verdict"], "FAILED");
        assert_eq!(value["exit_code"], 1);
        assert_eq!(value["scenario"], "collector_down");
        // Where the drill came from is in both reports.
        assert!(
            case.properties
                .contains(&("drill".into(), "built-in".into()))
        );
        assert_eq!(value["drill"], "built-in");
    }

    #[test]
    fn a_drill_that_could_not_run_is_an_error_with_why() {
        let row = Row {
            scenario: "es_down_connect",
            outcome: Err("cannot connect to Docker".into()),
            wall: Duration::ZERO,
        };
        let case = run_case(&row);
        assert!(
            matches!(&case.ending, Ending::Error { message, .. } if message == "ERROR: cannot connect to Docker"),
            "{case:?}"
        );
        let value = series_json(std::slice::from_ref(&row), 9);
        assert_eq!(value["ok"], false);
        assert_eq!(value["runs"][0]["error"], "cannot connect to Docker");
    }
}
