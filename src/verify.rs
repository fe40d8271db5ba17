//! `drill-cockpit verify <run_dir | folder>`: re-grades runs from their raw files, ours
//! by our checks (CONTRACT §6, every piece of evidence required) and any other tool's by
//! upstream's own rules (UPSTREAM-LABS.md), never by the `ok` a run carries. Read-only:
//! it never writes, renames or deletes anything.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::drill::upstream::{self, UpstreamGrade};
use crate::drill::{CheckOutcome, CheckStatus, Verdict};
use crate::evidence::foreign;
use crate::evidence::read::read_run_dir;
use crate::sanitize::one_line;

/// How one run was graded.
pub enum Graded {
    /// A run of ours: our checks decide.
    Ours(Verdict),
    /// Another tool's run: upstream's rules decide; for es_down_connect our own checks
    /// are shown too, as far as its files allow (they do not decide).
    Upstream {
        grade: UpstreamGrade,
        also: Option<Verdict>,
        /// The run's own `_result.json` (for `--compare`).
        theirs: Option<Value>,
        scenario_from: &'static str,
    },
}

pub struct GradedRun {
    pub dir: PathBuf,
    pub graded: Graded,
    pub problems: Vec<String>,
}

impl GradedRun {
    pub fn ok(&self) -> bool {
        match &self.graded {
            Graded::Ours(verdict) => verdict.ok,
            Graded::Upstream { grade, .. } => grade.ok,
        }
    }

    pub fn scenario(&self) -> &str {
        match &self.graded {
            Graded::Ours(verdict) => &verdict.scenario,
            Graded::Upstream { grade, .. } => &grade.scenario,
        }
    }

    /// The numbers that decide, in one line.
    pub fn deciding(&self) -> String {
        match &self.graded {
            Graded::Upstream { grade, .. } => grade.deciding.clone(),
            Graded::Ours(verdict) => verdict
                .checks
                .iter()
                .filter_map(|c| c.delta.map(|d| format!("{}={d}", c.id)))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    pub fn json(&self) -> Value {
        let dir = self.dir.display().to_string();
        match &self.graded {
            Graded::Ours(verdict) => verdict.result_json(&dir),
            Graded::Upstream {
                grade,
                also,
                theirs,
                scenario_from,
            } => {
                let mut value = grade.to_json(&dir);
                value["scenario_from"] = json!(scenario_from);
                if let Some(also) = also {
                    value["drill_cockpit_checks"] = json!(also.checks);
                }
                if let Some(theirs) = theirs {
                    value["compare"] = json!(
                        upstream::compare(grade, theirs)
                            .into_iter()
                            .map(|(what, ours, theirs)| json!({"what": what, "ours": ours, "theirs": theirs}))
                            .collect::<Vec<_>>()
                    );
                }
                value
            }
        }
    }
}

/// A run of ours ends with `manifest.json`: every file as it was when the session closed.
fn manifest_check(dir: &Path) -> CheckOutcome {
    let (passed, observed) = if !dir.join("manifest.json").is_file() {
        (
            false,
            "no manifest.json: the session did not close (killed?) or the file was removed"
                .to_string(),
        )
    } else {
        match crate::evidence::manifest::verify(dir) {
            Ok(problems) if problems.is_empty() => {
                (true, "every file as listed (size and sha256)".to_string())
            }
            Ok(problems) => (false, problems.join("; ")),
            Err(error) => (false, error),
        }
    };
    crate::drill::checks::outcome(
        "manifest",
        "files unchanged since manifest.json",
        passed,
        observed,
    )
}

/// Grades one run directory.
pub fn grade_run(dir: &Path) -> Result<GradedRun, String> {
    if !dir.is_dir() || !foreign::is_run_dir(dir) {
        return Err(format!(
            "{} is not a run directory: neither _recipe.json, _result.json nor _metrics/. Pass snapshots/<scenario>/<run_id>, or a folder of runs",
            dir.display()
        ));
    }
    let ours = read_run_dir(dir).map_err(|e| e.to_string())?;
    if ours.ours {
        let drill = crate::drill::scenario::find(&ours.scenario)?;
        let mut verdict = crate::drill::grade(drill, &ours.observations, ours.missing_mode());
        let manifest = manifest_check(dir);
        verdict.ok &= manifest.status == CheckStatus::Passed;
        verdict.checks.push(manifest);
        return Ok(GradedRun {
            dir: dir.to_path_buf(),
            graded: Graded::Ours(verdict),
            problems: ours.problems,
        });
    }
    let run = foreign::read(dir);
    let grade = upstream::grade(&run).ok_or_else(|| {
        format!(
            "{}: scenario `{}` (from {}) is not one of upstream's: {}",
            dir.display(),
            run.scenario,
            run.scenario_from,
            upstream::SCENARIOS.join(", ")
        )
    })?;
    let also = (run.scenario == "es_down_connect").then(|| {
        crate::drill::grade(
            &crate::drill::scenario::ES_DOWN_CONNECT,
            &ours.observations,
            ours.missing_mode(),
        )
    });
    let mut problems = ours.problems;
    problems.extend(run.problems.iter().cloned());
    Ok(GradedRun {
        dir: dir.to_path_buf(),
        graded: Graded::Upstream {
            grade,
            also,
            theirs: run.result.clone(),
            scenario_from: run.scenario_from,
        },
        problems,
    })
}

fn check_lines(out: &mut String, checks: &[CheckOutcome]) {
    let width = checks
        .iter()
        .map(|c| c.title.chars().count())
        .max()
        .unwrap_or(10);
    for check in checks {
        out.push_str(&format!(
            "{:<13} {:<20} {:<width$}  {}\n",
            check.status.label(),
            check.id,
            check.title,
            one_line(&check.observed, 300)
        ));
    }
}

/// The report of one run, as printed.
pub fn render_one(run: &GradedRun, compare: bool) -> String {
    let mut out = String::new();
    match &run.graded {
        Graded::Ours(verdict) => {
            out.push_str(&format!(
                "{} ({}, written by drill-cockpit: our checks)\n",
                run.dir.display(),
                one_line(&verdict.scenario, 80)
            ));
            for problem in &run.problems {
                out.push_str(&format!("warning: {}\n", one_line(problem, 300)));
            }
            out.push_str(&verdict.table());
        }
        Graded::Upstream {
            grade,
            also,
            theirs,
            scenario_from,
        } => {
            out.push_str(&format!(
                "{} ({} from {}, written by another tool: graded by upstream's rules)\n",
                run.dir.display(),
                one_line(&grade.scenario, 80),
                scenario_from
            ));
            for problem in &run.problems {
                out.push_str(&format!("warning: {}\n", one_line(problem, 300)));
            }
            if !grade.thresholds_from_run.is_empty() {
                out.push_str(&format!(
                    "thresholds from this run's _result.json (its recipe), not the defaults: {}\n",
                    grade.thresholds_from_run.join(", ")
                ));
            }
            check_lines(&mut out, &grade.checks);
            out.push_str(&format!(
                "verdict: {}\n",
                if grade.ok { "PASSED" } else { "FAILED" }
            ));
            if let Some(also) = also {
                out.push_str("\ndrill-cockpit's own checks, as far as this run's files show (not deciding):\n");
                check_lines(&mut out, &also.checks);
            }
            if compare {
                match theirs {
                    None => out.push_str("\ncompare: this run carries no _result.json\n"),
                    Some(theirs) => {
                        let differences = upstream::compare(grade, theirs);
                        if differences.is_empty() {
                            out.push_str("\ncompare: same verdict and observed numbers as the run's own _result.json\n");
                        } else {
                            out.push_str("\ncompare: differs from the run's own _result.json:\n");
                            for (what, ours, theirs) in differences {
                                out.push_str(&format!(
                                    "  {what}: ours {} · theirs {}\n",
                                    one_line(&ours, 200),
                                    one_line(&theirs, 200)
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// One row per run and a summary line, for a folder of runs.
pub fn render_table(root: &Path, runs: &[Result<GradedRun, String>]) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for run in runs {
        rows.push(match run {
            Ok(run) => [
                one_line(run.scenario(), 40),
                one_line(
                    &run.dir
                        .strip_prefix(root)
                        .unwrap_or(&run.dir)
                        .display()
                        .to_string(),
                    90,
                ),
                if run.ok() { "PASSED" } else { "FAILED" }.to_string(),
                one_line(&run.deciding(), 120),
            ],
            Err(error) => [
                "?".into(),
                String::new(),
                "ERROR".into(),
                one_line(error, 200),
            ],
        });
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
            .max(["scenario", "run", "verdict"][i.min(2)].len())
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = format!(
        "{:<w0$}  {:<w1$}  {:<w2$}  deciding numbers\n",
        "scenario", "run", "verdict"
    );
    for row in &rows {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            row[0], row[1], row[2], row[3]
        ));
    }
    let passed = runs
        .iter()
        .filter(|r| r.as_ref().is_ok_and(GradedRun::ok))
        .count();
    let errors = runs.iter().filter(|r| r.is_err()).count();
    out.push_str(&format!(
        "{} run(s): {passed} passed, {} failed, {errors} unreadable\n",
        runs.len(),
        runs.len() - passed - errors
    ));
    out
}

/// `verify PATH`: one run, or every run below a folder. Returns whether all passed.
pub fn verify(path: &Path, as_json: bool, compare: bool) -> Result<bool, String> {
    if foreign::is_run_dir(path) {
        let run = grade_run(path)?;
        if as_json {
            emit(&format!("{:#}\n", run.json()));
        } else {
            emit(&render_one(&run, compare));
        }
        return Ok(run.ok());
    }
    let dirs = foreign::find_runs(path);
    if dirs.is_empty() {
        return Err(format!(
            "{} is not a run directory and holds none below it: pass snapshots/<scenario>/<run_id>, or a folder of runs",
            path.display()
        ));
    }
    let runs: Vec<Result<GradedRun, String>> = dirs.iter().map(|d| grade_run(d)).collect();
    let all_ok = runs.iter().all(|r| r.as_ref().is_ok_and(GradedRun::ok));
    if as_json {
        let list: Vec<Value> = runs
            .iter()
            .map(|r| match r {
                Ok(run) => run.json(),
                Err(error) => json!({"error": error}),
            })
            .collect();
        emit(&format!(
            "{:#}\n",
            json!({"runs": list, "ok": all_ok, "count": runs.len()})
        ));
    } else {
        if compare {
            for run in runs.iter().flatten() {
                emit(&format!("{}\n", render_one(run, true)));
            }
        }
        emit(&render_table(path, &runs));
    }
    Ok(all_ok)
}

/// Writes to stdout; a closed pipe (`verify … | head`) ends the output, never the process.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
