//! `drill-cockpit verify <run_dir | folder>`: re-grades runs from their raw files, ours
//! by our checks (CONTRACT §6, every piece of evidence required) and any other tool's by
//! upstream's own rules (UPSTREAM-LABS.md), never by the `ok` a run carries. A control
//! run (everything but the fault) is never a passed drill, whatever its checks say.
//! Read-only: it never writes, renames or deletes anything.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::drill::upstream::{self, UpstreamGrade};
use crate::drill::{CheckOutcome, CheckStatus, Verdict};
use crate::evidence::foreign;
use crate::evidence::read::read_run_dir;
use crate::evidence::safe_read::{LOG_CAP, RunReader};
use crate::exit::CouldNotRun;
use crate::sanitize::{one_line, path as shown_path};

/// How one run was graded.
pub enum Graded {
    /// A run of ours: our checks decide.
    Ours(Verdict),
    /// Another tool's run: upstream's rules decide; for es_down_connect our own checks
    /// are shown too, as far as its files allow (they do not decide).
    Upstream {
        grade: Box<UpstreamGrade>,
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
    /// A control run (everything but the fault): never a passed drill.
    pub control: bool,
}

impl GradedRun {
    /// Whether it is a passed drill: its checks passed and it is not a control run.
    pub fn ok(&self) -> bool {
        !self.control && self.checks_ok()
    }

    /// Whether every check passed (what a control run's checks say, too).
    pub fn checks_ok(&self) -> bool {
        match &self.graded {
            Graded::Ours(verdict) => verdict.ok,
            Graded::Upstream { grade, .. } => grade.ok,
        }
    }

    /// Adds a check to the run's grade; a failed one fails the run.
    pub fn add_check(&mut self, check: CheckOutcome) {
        let passed = check.status == CheckStatus::Passed;
        match &mut self.graded {
            Graded::Ours(verdict) => {
                verdict.ok &= passed;
                verdict.checks.push(check);
            }
            Graded::Upstream { grade, .. } => {
                grade.ok &= passed;
                grade.checks.push(check);
            }
        }
    }

    /// `PASSED`, `FAILED`, or `CONTROL RUN`.
    pub fn verdict_word(&self) -> &'static str {
        if self.control {
            "CONTROL RUN"
        } else if self.ok() {
            "PASSED"
        } else {
            "FAILED"
        }
    }

    /// The verdict line of the one-run report.
    fn verdict_line(&self) -> String {
        if !self.control {
            return format!("verdict: {}\n", self.verdict_word());
        }
        let checks = if self.checks_ok() {
            "yet its checks passed: they do not need the fault to pass"
        } else {
            "and its checks failed, as a control run's must"
        };
        format!("verdict: CONTROL RUN — not a drill: the fault was not put in, {checks}\n")
    }

    pub fn scenario(&self) -> &str {
        match &self.graded {
            Graded::Ours(verdict) => &verdict.scenario,
            Graded::Upstream { grade, .. } => &grade.scenario,
        }
    }

    /// The checks that made a run fail, by id: those that failed (or, live, never
    /// decided), else the unrecorded ones when nothing else explains the verdict (our
    /// drill needs its effect seen). Empty for a passed run.
    pub fn failing_checks(&self) -> Vec<&'static str> {
        if self.checks_ok() {
            return Vec::new();
        }
        let checks = match &self.graded {
            Graded::Ours(verdict) => &verdict.checks,
            Graded::Upstream { grade, .. } => &grade.checks,
        };
        let ids = |wanted: &dyn Fn(CheckStatus) -> bool| -> Vec<&'static str> {
            checks
                .iter()
                .filter(|c| wanted(c.status))
                .map(|c| c.id)
                .collect()
        };
        let decided = ids(&|s| matches!(s, CheckStatus::Failed | CheckStatus::Pending));
        if decided.is_empty() {
            ids(&|s| s == CheckStatus::NotRecorded)
        } else {
            decided
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

    /// The run's result as JSON; `ok` is false and `control` true for a control run
    /// (`checks_ok` then says what its checks said).
    pub fn json(&self) -> Value {
        let mut value = self.graded_json();
        value["ok"] = json!(self.ok());
        value["control"] = json!(self.control);
        if !self.problems.is_empty() {
            value["warnings"] = json!(self.problems);
        }
        if self.control {
            value["checks_ok"] = json!(self.checks_ok());
        }
        value
    }

    fn graded_json(&self) -> Value {
        let dir = self.dir.display().to_string();
        match &self.graded {
            // The drill it was graded by a moment ago (its `_drill.toml`, or the built-in).
            Graded::Ours(verdict) => {
                match crate::drill::catalog::of_run(&self.dir, &verdict.scenario) {
                    Ok(drill) => verdict.result_json(drill, &dir),
                    Err(error) => {
                        json!({"scenario": verdict.scenario, "run_dir": dir, "tool": "drill-cockpit", "verdict": verdict.checks, "ok": verdict.ok, "error": error})
                    }
                }
            }
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
/// What the run's own writing left undone (no manifest, an empty one, an unfinished
/// freeze, a cut-off file) is named, with the journal's account of why.
fn manifest_check(dir: &Path) -> CheckOutcome {
    use crate::evidence::damage;
    let mut problems = match damage::manifest_damage(dir) {
        Some(damage) => vec![damage],
        None => match crate::evidence::manifest::verify(dir) {
            Ok(problems) => problems,
            Err(error) => vec![format!("{error}; {}", damage::journal_account(dir))],
        },
    };
    problems.extend(damage::unfinished_writes(dir));
    let passed = problems.is_empty();
    let observed = if passed {
        "every file as listed (size and sha256)".to_string()
    } else {
        problems.join("; ")
    };
    crate::drill::checks::outcome(
        "manifest",
        "files unchanged since manifest.json",
        passed,
        observed,
    )
}

/// An unpacked bundle against its own `manifest.json` (`export` writes one beside the
/// run's folder): every file as archived, none added.
fn bundle_manifest_check(root: &Path) -> CheckOutcome {
    let problems = crate::evidence::manifest::verify(root).unwrap_or_else(|error| {
        vec![format!(
            "{error}: not a bundle as `drill-cockpit export` writes one"
        )]
    });
    let passed = problems.is_empty();
    let observed = if passed {
        "every file of the bundle as listed (size and sha256)".to_string()
    } else {
        problems.join("; ")
    };
    crate::drill::checks::outcome(
        "bundle_manifest",
        "bundle unchanged since its manifest.json",
        passed,
        observed,
    )
}

/// Grades one run directory.
pub fn grade_run(dir: &Path) -> Result<GradedRun, String> {
    if !dir.is_dir() || !foreign::is_run_dir(dir) {
        return Err(format!(
            "{} is not a run directory: neither _recipe.json, _result.json nor _metrics/. Pass snapshots/<scenario>/<run_id>, or a folder of runs",
            shown_path(dir)
        ));
    }
    let ours = read_run_dir(dir).map_err(|e| e.to_string())?;
    if ours.ours && ours.scenario == crate::run::fleet::ID {
        // The contention drill at scale: its own checks, again from its files.
        let mut verdict = crate::run::fleet::verify::grade_dir(dir)
            .map_err(|e| format!("{}: {e}", shown_path(dir)))?;
        let manifest = manifest_check(dir);
        verdict.ok &= manifest.status == CheckStatus::Passed;
        verdict.checks.push(manifest);
        return Ok(GradedRun {
            dir: dir.to_path_buf(),
            graded: Graded::Ours(verdict),
            problems: ours
                .problems
                .into_iter()
                .chain(crate::evidence::damage::write_failures(dir))
                .collect(),
            control: false,
        });
    }
    if ours.ours {
        let drill = crate::drill::catalog::of_run(dir, &ours.scenario)?;
        let mut verdict = crate::drill::grade(drill, &ours.observations, ours.missing_mode());
        let manifest = manifest_check(dir);
        verdict.ok &= manifest.status == CheckStatus::Passed;
        verdict.checks.push(manifest);
        let mut problems = ours.problems;
        problems.extend(crate::evidence::damage::write_failures(dir));
        return Ok(GradedRun {
            dir: dir.to_path_buf(),
            graded: Graded::Ours(verdict),
            problems,
            control: is_control_run(dir),
        });
    }
    let run = foreign::read(dir);
    let grade = upstream::grade(&run).ok_or_else(|| {
        format!(
            "{}: scenario `{}` (from {}) is not one of upstream's: {}",
            shown_path(dir),
            one_line(&run.scenario, 80),
            run.scenario_from,
            upstream::SCENARIOS.join(", ")
        )
    })?;
    // Upstream's es_down_connect is our built-in drill A, graded our way too.
    let also = (run.scenario == "es_down_connect")
        .then(|| crate::drill::catalog::builtin("es_down_connect"))
        .flatten()
        .map(|drill| crate::drill::grade(drill, &ours.observations, ours.missing_mode()));
    let mut problems = ours.problems;
    for problem in &run.problems {
        if !problems.contains(problem) {
            problems.push(problem.clone());
        }
    }
    Ok(GradedRun {
        dir: dir.to_path_buf(),
        graded: Graded::Upstream {
            grade: Box::new(grade),
            also,
            theirs: run.result.clone(),
            scenario_from: run.scenario_from,
        },
        problems,
        control: is_control_run(dir),
    })
}

/// Whether `dir` is a control run: its journal (`_timeline.jsonl`, where `run
/// --control` notes it) or its `_recipe.json` says `"control": true`.
pub fn is_control_run(dir: &Path) -> bool {
    recipe_says_control(dir) || journal_says_control(dir)
}

fn says_control(entry: &Value) -> bool {
    entry.get("control").and_then(Value::as_bool) == Some(true)
}

fn recipe_says_control(dir: &Path) -> bool {
    RunReader::new(dir)
        .json(Path::new("_recipe.json"))
        .is_some_and(|recipe| says_control(&recipe))
}

fn journal_says_control(dir: &Path) -> bool {
    let Some(journal) = RunReader::new(dir).text(Path::new("_timeline.jsonl"), LOG_CAP) else {
        return false;
    };
    journal
        .lines()
        // Most lines are counter pages: parse only those that may say it.
        .filter(|line| line.contains("\"control\""))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|entry| says_control(&entry))
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
                shown_path(&run.dir),
                one_line(&verdict.scenario, 80)
            ));
            for problem in &run.problems {
                out.push_str(&format!("warning: {}\n", one_line(problem, 300)));
            }
            out.push_str(&verdict.checks_table());
            out.push_str(&run.verdict_line());
        }
        Graded::Upstream {
            grade,
            also,
            theirs,
            scenario_from,
        } => {
            out.push_str(&format!(
                "{} ({} from {}, written by another tool: graded by upstream's rules)\n",
                shown_path(&run.dir),
                one_line(&grade.scenario, 80),
                scenario_from
            ));
            for problem in &run.problems {
                out.push_str(&format!("warning: {}\n", one_line(problem, 300)));
            }
            if !grade.thresholds_from_run.is_empty() {
                out.push_str(&format!(
                    "thresholds from this run's _result.json (its recipe), not the defaults: {}\n",
                    one_line(&grade.thresholds_from_run.join(", "), 300)
                ));
            }
            for ignored in &grade.thresholds_ignored {
                out.push_str(&format!(
                    "threshold ignored: {}\n",
                    one_line(&ignored.line(), 300)
                ));
            }
            check_lines(&mut out, &grade.checks);
            out.push_str(&run.verdict_line());
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

/// The table's column heads.
const TABLE_HEADS: [&str; 5] = [
    "scenario",
    "run",
    "verdict",
    "failed checks",
    "deciding numbers",
];

/// One row per run and a summary line, for a folder of runs. A failed run's row names
/// the checks that failed it: `verify <that run>` then shows each one's numbers.
pub fn render_table(root: &Path, runs: &[Result<GradedRun, String>]) -> String {
    let mut rows: Vec<[String; 5]> = Vec::new();
    for run in runs {
        rows.push(match run {
            Ok(run) => [
                one_line(run.scenario(), 40),
                one_line(
                    &shown_path(run.dir.strip_prefix(root).unwrap_or(&run.dir)),
                    90,
                ),
                run.verdict_word().to_string(),
                match run.failing_checks() {
                    failing if failing.is_empty() => "-".to_string(),
                    failing => one_line(&failing.join(", "), 120),
                },
                one_line(&run.deciding(), 120),
            ],
            Err(error) => [
                "?".into(),
                String::new(),
                "ERROR".into(),
                "-".into(),
                one_line(error, 200),
            ],
        });
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
            .max(TABLE_HEADS[i].len())
    };
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    let [h0, h1, h2, h3, h4] = TABLE_HEADS;
    let mut out = format!("{h0:<w0$}  {h1:<w1$}  {h2:<w2$}  {h3:<w3$}  {h4}\n");
    for row in &rows {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}\n",
            row[0], row[1], row[2], row[3], row[4]
        ));
    }
    let passed = runs
        .iter()
        .filter(|r| r.as_ref().is_ok_and(GradedRun::ok))
        .count();
    let errors = runs.iter().filter(|r| r.is_err()).count();
    let control = runs
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|run| run.control))
        .count();
    let control = if control > 0 {
        format!(" ({control} of them control run(s), never a passed drill)")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "{} run(s): {passed} passed, {} failed{control}, {errors} unreadable\n",
        runs.len(),
        runs.len() - passed - errors
    ));
    out
}

/// `verify PATH`: one run, every run below a folder, or the run of an evidence bundle
/// (`export`'s .tar.gz, unpacked to a temp folder first). `Ok(true)` when every run is a
/// passed drill, `Ok(false)` when one failed or is a control run, [`CouldNotRun`] when
/// the path (or, with no failure to report, a run below it) could not be graded. With
/// `junit`, a JUnit report too (checked before grading, written after).
pub fn verify(
    path: &Path,
    as_json: bool,
    compare: bool,
    junit: Option<&Path>,
) -> Result<bool, CouldNotRun> {
    if let Some(junit) = junit {
        crate::ci::junit::check_target(junit).map_err(CouldNotRun)?;
    }
    let unpacked = bundle_of(path)?;
    let root = unpacked.as_ref().map_or(path, |u| u.path());
    let single = foreign::is_run_dir(root);
    let mut runs: Vec<Result<GradedRun, String>> = if single {
        // One run that cannot be graded is the command's error, with nothing printed
        // (but the JUnit report, which CI reads: one testcase in error).
        match grade_run(root) {
            Ok(run) => vec![Ok(run)],
            Err(error) => {
                write_junit(junit, path, &[Err(error.clone())])?;
                return Err(CouldNotRun(error));
            }
        }
    } else {
        let dirs = foreign::find_runs(root);
        if dirs.is_empty() {
            return Err(CouldNotRun(format!(
                "{} is not a run directory and holds none below it: pass snapshots/<scenario>/<run_id>, a folder of runs, or an evidence bundle (.tar.gz)",
                shown_path(path)
            )));
        }
        grade_all(&dirs)
    };
    if unpacked.is_some() {
        let bundle_check = bundle_manifest_check(root);
        // Named inside the bundle (`evidence.tar.gz/<scenario>/<run_id>`), never by the
        // temp folder that is gone when this returns.
        let temp = root.display().to_string();
        for run in &mut runs {
            match run {
                Ok(run) => {
                    run.dir = path.join(run.dir.strip_prefix(root).unwrap_or(&run.dir));
                    run.add_check(bundle_check.clone());
                }
                Err(error) => *error = error.replace(&temp, &path.display().to_string()),
            }
        }
    }
    let one = match runs.as_slice() {
        [Ok(run)] if single || unpacked.is_some() => Some(run),
        _ => None,
    };
    match one {
        Some(run) if as_json => emit(&format!("{:#}\n", run.json())),
        Some(run) => emit(&render_one(run, compare)),
        None => emit_folder(path, &runs, as_json, compare),
    }
    write_junit(junit, path, &runs)?;
    if let Some(run) = one.filter(|_| single) {
        return Ok(run.ok());
    }
    folder_outcome(path, &runs)
}

/// The JUnit report of `runs`, when one was asked for.
fn write_junit(
    junit: Option<&Path>,
    path: &Path,
    runs: &[Result<GradedRun, String>],
) -> Result<(), CouldNotRun> {
    let Some(junit) = junit else {
        return Ok(());
    };
    let cases: Vec<_> = runs
        .iter()
        .map(|run| crate::ci::cases::verify_case(path, run))
        .collect();
    let xml = crate::ci::junit::render("drill-cockpit verify", &cases, 0.0);
    crate::ci::junit::write(junit, &xml).map_err(CouldNotRun)
}

/// A folder's runs: as JSON, or the table (after each run's report with `--compare`).
fn emit_folder(path: &Path, runs: &[Result<GradedRun, String>], as_json: bool, compare: bool) {
    if as_json {
        let list: Vec<Value> = runs
            .iter()
            .map(|r| match r {
                Ok(run) => run.json(),
                Err(error) => json!({"error": error}),
            })
            .collect();
        let all_ok = runs.iter().all(|r| r.as_ref().is_ok_and(GradedRun::ok));
        emit(&format!(
            "{:#}\n",
            json!({"runs": list, "ok": all_ok, "count": runs.len()})
        ));
        return;
    }
    if compare {
        for run in runs.iter().flatten() {
            emit(&format!("{}\n", render_one(run, true)));
        }
    }
    emit(&render_table(path, runs));
}

/// The bundle at `path` unpacked, `None` when `path` is a folder; a file that is not a
/// bundle, or a path that cannot be read, is refused with what to pass instead.
fn bundle_of(path: &Path) -> Result<Option<crate::evidence::unpack::Unpacked>, CouldNotRun> {
    use crate::evidence::bundle;
    let is_file = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if !is_file {
        readable_dir(path)?;
        return Ok(None);
    }
    let name = path.to_string_lossy();
    match bundle::refuse_extension(path) {
        None => crate::evidence::unpack::unpack(path)
            .map(Some)
            .map_err(CouldNotRun),
        // An archive of another kind (.tar.zst, .tar): why it is not taken.
        Some(refusal) if name.contains(".tar") || name.ends_with(".tzst") => {
            Err(CouldNotRun(refusal))
        }
        // Any other file: the message says what verify takes.
        Some(_) => readable_dir(path).map(|()| None),
    }
}

/// Grades every run, in the order given, on every core: runs are independent and each
/// is mostly reading and parsing its own small files.
fn grade_all(dirs: &[std::path::PathBuf]) -> Vec<Result<GradedRun, String>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(dirs.len().max(1));
    if threads <= 1 {
        return dirs.iter().map(|d| grade_run(d)).collect();
    }
    let chunk = dirs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = dirs
            .chunks(chunk)
            .map(|part| {
                let worker =
                    scope.spawn(move || part.iter().map(|d| grade_run(d)).collect::<Vec<_>>());
                (part.len(), worker)
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|(count, worker)| {
                worker.join().unwrap_or_else(|_| {
                    (0..count)
                        .map(|_| {
                            Err("grading this group of runs panicked: please report it".to_string())
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// The path exists, is a directory and can be listed; else why not, and the fix.
fn readable_dir(path: &Path) -> Result<(), CouldNotRun> {
    let shown = shown_path(path);
    let metadata = std::fs::metadata(path).map_err(|error| {
        CouldNotRun(match error.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{shown} does not exist: pass a run directory (snapshots/<scenario>/<run_id>) or a folder of runs"
            ),
            _ => format!("{shown} cannot be read ({error}): check that you may read it"),
        })
    })?;
    if !metadata.is_dir() {
        return Err(CouldNotRun(format!(
            "{shown} is a file, not a run directory: pass the run directory that holds it, a folder of runs, or an evidence bundle (*.tar.gz from `drill-cockpit export`)"
        )));
    }
    std::fs::read_dir(path).map(|_| ()).map_err(|error| {
        CouldNotRun(format!(
            "{shown} cannot be listed ({error}): check its permissions (it needs r and x for you)"
        ))
    })
}

/// A folder's outcome: a failed (or control) run fails it; with none, a run that could
/// not be graded means the folder could not be graded in full.
fn folder_outcome(path: &Path, runs: &[Result<GradedRun, String>]) -> Result<bool, CouldNotRun> {
    if runs.iter().any(|r| r.as_ref().is_ok_and(|run| !run.ok())) {
        return Ok(false);
    }
    let errors = runs.iter().filter(|r| r.is_err()).count();
    if errors > 0 {
        return Err(CouldNotRun(format!(
            "{errors} of {} run(s) below {} could not be graded, each for the reason shown with it: fix or move them and verify again",
            runs.len(),
            shown_path(path)
        )));
    }
    Ok(true)
}

/// Writes to stdout; a closed pipe (`verify … | head`) ends the output, never the process.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of ours whose every check passed.
    fn passed_run(control: bool) -> GradedRun {
        GradedRun {
            dir: PathBuf::from("snapshots/es_down_connect/20260214T230000"),
            graded: Graded::Ours(Verdict {
                scenario: "es_down_connect".into(),
                checks: vec![crate::drill::checks::outcome(
                    "retry_delta",
                    "retry_scheduled Δ ≥ 1",
                    true,
                    "Δ=4 (0 → 4); expected ≥ 1".into(),
                )],
                ok: true,
                findings: Vec::new(),
            }),
            problems: Vec::new(),
            control,
        }
    }

    #[test]
    fn a_control_run_whose_checks_passed_is_not_a_passed_drill() {
        let run = passed_run(true);
        assert!(run.checks_ok());
        assert!(!run.ok());
        assert_eq!(run.verdict_word(), "CONTROL RUN");
        let text = render_one(&run, false);
        assert!(
            text.ends_with("verdict: CONTROL RUN — not a drill: the fault was not put in, yet its checks passed: they do not need the fault to pass\n"),
            "{text}"
        );
        let value = run.json();
        assert_eq!(value["ok"], false);
        assert_eq!(value["control"], true);
        assert_eq!(value["checks_ok"], true);
        let table = render_table(Path::new("snapshots"), &[Ok(run)]);
        assert!(table.contains("CONTROL RUN"), "{table}");
        assert!(table.contains("1 run(s): 0 passed, 1 failed"), "{table}");
    }

    #[test]
    fn the_same_run_without_the_control_note_passed() {
        let run = passed_run(false);
        assert!(run.ok());
        assert!(render_one(&run, false).ends_with("verdict: PASSED\n"));
        assert_eq!(run.json()["control"], false);
        assert_eq!(run.json()["ok"], true);
    }
}
