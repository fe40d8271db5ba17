//! `verify` grades every drill of upstream's tooling by upstream's rules, from the raw
//! files alone: each fixture run passes with upstream's verdict and observed numbers,
//! each run made to say "the fault did not happen" fails naming the check, recorded
//! thresholds are honoured, a folder of runs becomes one table, and nothing is written.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    testkit::env::fixtures_dir()
}

/// (scenario, the run's folder below fixtures/)
fn fixture_runs() -> Vec<(String, PathBuf)> {
    let mut runs = vec![(
        "es_down_connect".to_string(),
        fixtures().join("upstream-run-es_down_connect"),
    )];
    for scenario in std::fs::read_dir(fixtures().join("upstream-runs"))
        .unwrap()
        .flatten()
    {
        for run in std::fs::read_dir(scenario.path()).unwrap().flatten() {
            runs.push((
                scenario.file_name().to_string_lossy().into_owned(),
                run.path(),
            ));
        }
    }
    runs.sort();
    runs
}

fn verify(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .arg("verify")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn verify_json(dir: &Path) -> (Option<i32>, Value) {
    let (code, text) = verify(&[&dir.display().to_string(), "--json"]);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (code, value)
}

/// A writable copy of a fixture run at `<tmp>/<scenario>/<run>`.
fn copy_of(scenario: &str, run: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(scenario).join(run.file_name().unwrap());
    common::copy_dir(run, &dir);
    // The writable copy keeps the read-only fixture's modes: make it writable.
    let _ = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(tmp.path())
        .status();
    (tmp, dir)
}

fn status_of<'a>(result: &'a Value, id: &str) -> &'a str {
    result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {result:#}"))["status"]
        .as_str()
        .unwrap()
}

#[test]
fn every_fixture_run_passes_with_upstreams_verdict_and_numbers() {
    let runs = fixture_runs();
    assert!(runs.len() >= 8, "{runs:?}");
    for (scenario, dir) in runs {
        let (code, result) = verify_json(&dir);
        assert_eq!(code, Some(0), "{scenario}: {result:#}");
        assert_eq!(result["scenario"], scenario.as_str());
        assert_eq!(result["ok"], true, "{scenario}: {result:#}");
        // Not a copy of their verdict: the same numbers, recomputed.
        let theirs: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("_result.json")).unwrap())
                .unwrap();
        assert_eq!(
            result["compare"].as_array().unwrap().len(),
            0,
            "{scenario}: {:#}",
            result["compare"]
        );
        if let Some(observed) = theirs["observed"].as_object() {
            for key in observed.keys() {
                assert!(
                    result["observed"].get(key).is_some(),
                    "{scenario}: observed key {key} missing in {:#}",
                    result["observed"]
                );
            }
        }
    }
}

/// Each fixture, made to say that the fault did not happen, and the check that must fail.
#[test]
fn every_scenario_fails_when_its_evidence_says_the_fault_did_not_happen() {
    let same_metrics = |dir: &Path, pairs: &[(&str, &str)]| {
        for (before, after) in pairs {
            std::fs::copy(
                dir.join("_metrics").join(before),
                dir.join("_metrics").join(after),
            )
            .unwrap();
        }
    };
    let single = [("metrics-before.txt", "metrics-after.txt")];
    for (scenario, run) in fixture_runs() {
        let (_tmp, dir) = copy_of(&scenario, &run);
        let failing = match scenario.as_str() {
            "es_down_connect" | "es_429_inject" => {
                same_metrics(&dir, &single);
                "retry_delta_ge"
            }
            "es_write_block_4xx" => {
                same_metrics(&dir, &single);
                "failed_delta_ge"
            }
            "es_bulk_partial" => {
                same_metrics(&dir, &single);
                "partial_delta_ge"
            }
            "duplicate_delivery" => {
                same_metrics(&dir, &single);
                "min_processed_delta"
            }
            "db_claim_contention" => {
                same_metrics(
                    &dir,
                    &[
                        ("metrics-before-1.txt", "metrics-after-1.txt"),
                        ("metrics-before-2.txt", "metrics-after-2.txt"),
                    ],
                );
                "owner_mismatch_delta_ge"
            }
            "stuck_reclaim" => {
                let log = std::fs::read_dir(dir.join("_logs"))
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("worker2")
                    })
                    .unwrap();
                let text = std::fs::read_to_string(&log).unwrap();
                let kept: Vec<&str> = text.lines().filter(|l| !l.contains("Reclaimed")).collect();
                std::fs::write(&log, kept.join("\n")).unwrap();
                "reclaimed_ge"
            }
            "projection_version" => {
                std::fs::write(
                    dir.join("_probe_entry_v2.json"),
                    r#"{"chronicle_event_id": "a93fcabf-9d94-451f-9985-3d1a370aeb84", "found": true, "projection_version": 1}"#,
                )
                .unwrap();
                "probe_v2"
            }
            other => panic!("no negative variant for {other}"),
        };
        let (code, result) = verify_json(&dir);
        assert_eq!(code, Some(1), "{scenario}: {result:#}");
        assert_eq!(result["ok"], false);
        assert_eq!(
            status_of(&result, failing),
            "failed",
            "{scenario}: {result:#}"
        );
        // And the difference from the run's own verdict is shown.
        assert!(
            result["compare"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["what"] == "ok"),
            "{scenario}: {:#}",
            result["compare"]
        );
    }
}

/// No collector_down run is on file: one is written here the way upstream's tooling writes it.
fn collector_down_run(root: &Path, exit_code: &str, processed_after: u32) -> PathBuf {
    let dir = root.join("collector_down").join("20260214T230000");
    std::fs::create_dir_all(dir.join("_metrics")).unwrap();
    std::fs::write(
        dir.join("_recipe.json"),
        r#"{"scenario": "collector_down", "run_id": "20260214T230000"}"#,
    )
    .unwrap();
    let metrics = |processed: u32| {
        format!(
            "# TYPE outbox_processed_total counter\noutbox_processed_total{{projection=\"search_index_to_elastic\",op=\"upsert\"}} {processed}.0\noutbox_failed_total{{projection=\"search_index_to_elastic\",op=\"upsert\",reason=\"none\"}} 0.0\n"
        )
    };
    std::fs::write(dir.join("_metrics/metrics-before.txt"), metrics(0)).unwrap();
    std::fs::write(
        dir.join("_metrics/metrics-after.txt"),
        metrics(processed_after),
    )
    .unwrap();
    std::fs::write(dir.join("_inject_jaeger_stop.exitcode.txt"), exit_code).unwrap();
    dir
}

#[test]
fn collector_down_is_graded_by_exit_code_processed_and_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, result) = verify_json(&collector_down_run(tmp.path(), "0\n", 1));
    assert_eq!(code, Some(0), "{result:#}");
    assert_eq!(result["observed"]["outbox_processed_total"]["delta"], 1.0);

    let tmp = tempfile::tempdir().unwrap();
    let (code, result) = verify_json(&collector_down_run(tmp.path(), "1\n", 1));
    assert_eq!(code, Some(1));
    assert_eq!(status_of(&result, "inject_exit_code"), "failed");

    let tmp = tempfile::tempdir().unwrap();
    let (code, result) = verify_json(&collector_down_run(tmp.path(), "0\n", 0));
    assert_eq!(code, Some(1));
    assert_eq!(status_of(&result, "processed_delta_ge"), "failed");
}

#[test]
fn thresholds_recorded_in_the_run_are_its_recipe_and_are_said() {
    let run = fixtures().join("upstream-runs/es_429_inject");
    let run = std::fs::read_dir(run)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let (_tmp, dir) = copy_of("es_429_inject", &run);
    let mut result: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_result.json")).unwrap()).unwrap();
    result["checks"]["retry_delta_ge"] = 10.0.into();
    std::fs::write(dir.join("_result.json"), result.to_string()).unwrap();
    let (code, text) = verify(&[&dir.display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            "thresholds from this run's _result.json (its recipe), not the defaults: retry_delta_ge"
        ),
        "{text}"
    );
    assert!(text.contains("Δ=4 (0 → 4); expected ≥ 10"), "{text}");
}

#[test]
fn the_scenario_comes_from_the_folder_when_the_run_does_not_say() {
    let run = fixtures().join("upstream-runs/es_write_block_4xx");
    let run = std::fs::read_dir(run)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let (_tmp, dir) = copy_of("es_write_block_4xx", &run);
    std::fs::remove_file(dir.join("_recipe.json")).unwrap();
    std::fs::remove_file(dir.join("_result.json")).unwrap();
    let (code, result) = verify_json(&dir);
    assert_eq!(code, Some(0), "{result:#}");
    assert_eq!(result["scenario"], "es_write_block_4xx");
    assert_eq!(result["scenario_from"], "the parent folder's name");
}

#[test]
fn a_folder_of_runs_is_one_table_and_one_failure_fails_it() {
    let (code, text) = verify(&[&fixtures().display().to_string()]);
    assert_eq!(code, Some(0), "{text}");
    let runs = fixture_runs().len();
    assert!(
        text.contains(&format!(
            "{runs} run(s): {runs} passed, 0 failed, 0 unreadable"
        )),
        "{text}"
    );
    for (scenario, _) in fixture_runs() {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&scenario) && l.contains("PASSED")),
            "{scenario} row in:\n{text}"
        );
    }
    assert!(text.contains("Δretry=4 Δfailed=4 Δterminal=0"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&fixtures().join("upstream-runs"), tmp.path());
    let _ = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(tmp.path())
        .status();
    collector_down_run(tmp.path(), "1", 1);
    let (code, text) = verify(&[&tmp.path().display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("8 run(s): 7 passed, 1 failed"), "{text}");
}

#[test]
fn a_folder_table_names_the_checks_that_failed_each_run() {
    let tmp = tempfile::tempdir().unwrap();
    // Three collector_down runs: one passed, one whose injection failed and whose
    // worker processed nothing, one that only processed nothing.
    let passed = collector_down_run(&tmp.path().join("a"), "0\n", 1);
    let both = collector_down_run(&tmp.path().join("b"), "1\n", 0);
    let one = collector_down_run(&tmp.path().join("c"), "0\n", 0);
    let (code, table) = verify(&[&tmp.path().display().to_string()]);
    assert_eq!(code, Some(1), "{table}");
    assert!(
        table.lines().next().unwrap().contains("failed checks"),
        "{table}"
    );
    let row = |dir: &Path| {
        let shown = dir.strip_prefix(tmp.path()).unwrap().display().to_string();
        table
            .lines()
            .find(|l| l.contains(&shown))
            .unwrap_or_else(|| panic!("no row for {shown} in:\n{table}"))
            .to_string()
    };
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(words(&row(&passed))[2..4], ["PASSED", "-"], "{table}");
    assert!(
        row(&both).contains("FAILED   inject_exit_code, processed_delta_ge"),
        "{table}"
    );
    assert!(
        row(&one).contains("FAILED   processed_delta_ge  "),
        "{table}"
    );
    assert!(table.contains("3 run(s): 1 passed, 2 failed"), "{table}");
}

#[test]
fn verify_writes_renames_and_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let (_copy, dir) = copy_of(
        "es_down_connect",
        &fixtures().join("upstream-run-es_down_connect"),
    );
    // A torn freeze whose plan points outside the run: recovery must not run here.
    let staging = dir.join(".staging-x");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("0"), "x").unwrap();
    std::fs::write(
        staging.join("COMMIT"),
        format!(r#"[{{"staged":"0","target":"{}"}}]"#, outside.display()),
    )
    .unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<String> = walk(dir)
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        names.sort();
        names
    };
    let before = listing(&dir);
    let (code, text) = verify(&[&dir.display().to_string()]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(listing(&dir), before, "verify changed the run directory");
    assert!(
        !outside.exists(),
        "verify followed a staging plan out of the run"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        files.push(entry.path());
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        }
    }
    files
}

/// The only run of `scenario` below fixtures/upstream-runs, as a writable copy.
fn fixture_copy(scenario: &str) -> (tempfile::TempDir, PathBuf) {
    let run = std::fs::read_dir(fixtures().join("upstream-runs").join(scenario))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    copy_of(scenario, &run)
}

/// Sets `checks.<id>` in the run's `_result.json` for each (id, value).
fn record_thresholds(dir: &Path, thresholds: &[(&str, Value)]) {
    let path = dir.join("_result.json");
    let mut result: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (id, value) in thresholds {
        result["checks"][*id] = value.clone();
    }
    std::fs::write(path, result.to_string()).unwrap();
}

#[test]
fn a_run_whose_thresholds_were_weakened_to_nothing_fails_and_says_what_was_ignored() {
    let (_tmp, dir) = fixture_copy("es_429_inject");
    for file in ["metrics-before.txt", "metrics-after.txt"] {
        std::fs::write(dir.join("_metrics").join(file), "").unwrap();
    }
    std::fs::write(dir.join("_metrics.txt"), "").unwrap();
    record_thresholds(
        &dir,
        &[
            ("retry_delta_ge", 0.into()),
            ("failed_delta_ge", 0.into()),
            ("terminal_delta_le", 1e9.into()),
        ],
    );

    let (code, text) = verify(&[&dir.display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("verdict: FAILED"), "{text}");
    for line in [
        "threshold ignored: `retry_delta_ge` = 0 in the run's _result.json is weaker than upstream's default 1",
        "threshold ignored: `failed_delta_ge` = 0 in the run's _result.json is weaker than upstream's default 1",
        "threshold ignored: `terminal_delta_le` = 1000000000 in the run's _result.json is weaker than upstream's default 0",
    ] {
        assert!(text.contains(line), "{line}\nin:\n{text}");
    }
    assert!(text.contains("Δ=0 (0 → 0); expected ≥ 1"), "{text}");

    let (code, result) = verify_json(&dir);
    assert_eq!(code, Some(1));
    assert_eq!(result["ok"], false);
    assert_eq!(result["checks"]["retry_delta_ge"], 1.0, "{result:#}");
    let ignored: Vec<&str> = result["thresholds_ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ignored,
        vec!["retry_delta_ge", "failed_delta_ge", "terminal_delta_le"]
    );
    assert_eq!(status_of(&result, "retry_delta_ge"), "failed");
}

#[test]
fn a_stricter_recorded_threshold_is_honoured_and_fails_a_run_below_it() {
    // C's run: Δfailed{es_4xx} = 1.
    let (_tmp, dir) = fixture_copy("es_write_block_4xx");
    record_thresholds(&dir, &[("failed_delta_ge", 5.into())]);
    let (code, result) = verify_json(&dir);
    assert_eq!(code, Some(1), "{result:#}");
    assert_eq!(result["checks"]["failed_delta_ge"], 5.0);
    assert_eq!(
        result["thresholds_from_run"],
        serde_json::json!(["failed_delta_ge"])
    );
    assert_eq!(result["thresholds_ignored"], serde_json::json!([]));
    assert_eq!(status_of(&result, "failed_delta_ge"), "failed");
    let observed = result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "failed_delta_ge")
        .unwrap()["observed"]
        .clone();
    assert_eq!(observed, "Δ=1 (0 → 1); expected ≥ 5");
}

#[test]
fn a_threshold_that_is_not_a_count_is_ignored_and_said() {
    let (_tmp, dir) = fixture_copy("es_429_inject");
    record_thresholds(
        &dir,
        &[
            ("retry_delta_ge", "NaN".into()),
            ("failed_delta_ge", 1e300.into()),
        ],
    );
    let (code, text) = verify(&[&dir.display().to_string()]);
    // Upstream's defaults decide: the run passes with them.
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("`retry_delta_ge` = \"NaN\" in the run's _result.json is not a count"),
        "{text}"
    );
    assert!(
        text.contains("`failed_delta_ge` = 1e+300 in the run's _result.json is not a count"),
        "{text}"
    );
}

/// The journal line `run --control` writes, among others.
fn journal_a_control_run(dir: &Path) {
    std::fs::write(
        dir.join("_timeline.jsonl"),
        concat!(
            r#"{"ts":"2026-02-14T22:24:54.000Z","kind":"note","message":"starting"}"#,
            "\n",
            r#"{"ts":"2026-02-14T22:24:55.000Z","kind":"note","message":"control run: the fault is not put in","control":true}"#,
            "\n",
        ),
    )
    .unwrap();
}

#[test]
fn a_control_run_is_never_a_passed_drill_even_when_its_checks_pass() {
    // Upstream's B run passes its checks; noted as a control run, it is not a drill.
    let (tmp, dir) = fixture_copy("es_429_inject");
    journal_a_control_run(&dir);

    let (code, text) = verify(&[&dir.display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            "verdict: CONTROL RUN — not a drill: the fault was not put in, yet its checks passed"
        ),
        "{text}"
    );
    assert!(!text.contains("PASSED"), "{text}");

    let (code, result) = verify_json(&dir);
    assert_eq!(code, Some(1));
    assert_eq!(result["control"], true, "{result:#}");
    assert_eq!(result["ok"], false);
    assert_eq!(result["checks_ok"], true);

    let (code, table) = verify(&[&tmp.path().display().to_string()]);
    assert_eq!(code, Some(1), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("es_429_inject") && l.contains("CONTROL RUN")),
        "{table}"
    );
    assert!(
        table.contains("1 run(s): 0 passed, 1 failed (1 of them control run(s), never a passed drill), 0 unreadable"),
        "{table}"
    );
}

#[test]
fn a_control_run_of_ours_says_so_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("es_down_connect").join("20260214T230000");
    std::fs::create_dir_all(dir.join("_metrics")).unwrap();
    std::fs::write(
        dir.join("_recipe.json"),
        r#"{"tool": "drill-cockpit", "scenario": "es_down_connect", "run_id": "20260214T230000"}"#,
    )
    .unwrap();
    journal_a_control_run(&dir);
    let (code, text) = verify(&[&dir.display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("written by drill-cockpit"), "{text}");
    assert!(
        text.contains("verdict: CONTROL RUN — not a drill: the fault was not put in, and its checks failed, as a control run's must"),
        "{text}"
    );
    let (_, result) = verify_json(&dir);
    assert_eq!(result["control"], true, "{result:#}");
    assert_eq!(result["ok"], false);
}

#[test]
fn a_path_that_cannot_be_graded_exits_3_naming_it_and_the_fix() {
    let (code, text) = verify(&["/nonexistent/run"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("/nonexistent/run does not exist: pass a run directory"),
        "{text}"
    );

    let empty = tempfile::tempdir().unwrap();
    let (code, text) = verify(&[&empty.path().display().to_string()]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "{} is not a run directory and holds none below it: pass snapshots/<scenario>/<run_id>",
            empty.path().display()
        )),
        "{text}"
    );

    let file = empty.path().join("_result.json");
    std::fs::write(&file, "{}").unwrap();
    let (code, text) = verify(&[&file.display().to_string()]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("is a file, not a run directory"), "{text}");
}

/// A run of a scenario nobody grades: present, but not gradable.
fn ungradable_run(root: &Path) {
    let dir = root.join("no_such_drill").join("20260214T230001");
    std::fs::create_dir_all(dir.join("_metrics")).unwrap();
    std::fs::write(dir.join("_recipe.json"), r#"{"scenario": "no_such_drill"}"#).unwrap();
}

#[test]
fn a_folder_exits_1_on_a_failed_run_and_3_when_the_rest_passed_but_one_could_not_be_graded() {
    let tmp = tempfile::tempdir().unwrap();
    collector_down_run(tmp.path(), "0", 1);
    ungradable_run(tmp.path());
    let (code, text) = verify(&[&tmp.path().display().to_string()]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("2 run(s): 1 passed, 0 failed, 1 unreadable"),
        "{text}"
    );
    assert!(
        text.contains("1 of 2 run(s) below") && text.contains("could not be graded"),
        "{text}"
    );

    // A failure outranks it: the folder failed.
    let failed = tmp.path().join("failed");
    collector_down_run(&failed, "1", 1);
    let (code, text) = verify(&[&tmp.path().display().to_string()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("3 run(s): 1 passed, 1 failed, 1 unreadable"),
        "{text}"
    );
}

/// `drill-cockpit <args>`: the exit code and stdout+stderr.
fn cockpit(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// Every file below `dir` with its bytes.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The names in a .tar.gz.
fn bundle_names(bundle: &Path) -> Vec<String> {
    let gzip = flate2::read::GzDecoder::new(std::fs::File::open(bundle).unwrap());
    tar::Archive::new(gzip)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn an_exported_bundle_is_graded_as_its_run_and_the_run_is_left_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let run = collector_down_run(&tmp.path().join("runs"), "0\n", 1);
    let before = contents(&run);
    let bundle = tmp.path().join("evidence.tar.gz");
    let shown = bundle.display().to_string();
    let (code, text) = cockpit(&["export", &run.display().to_string(), "--out", &shown]);
    assert_eq!((code, text.trim()), (Some(0), shown.as_str()));
    assert_eq!(contents(&run), before, "export wrote into the run");
    let names = bundle_names(&bundle);
    assert!(names.contains(&"report.html".to_string()), "{names:?}");
    assert!(names.contains(&"manifest.json".to_string()), "{names:?}");
    assert!(
        names.contains(&"collector_down/20260214T230000/_recipe.json".to_string()),
        "{names:?}"
    );

    let (code, result) = verify_json(&bundle);
    assert_eq!(code, Some(0), "{result:#}");
    assert_eq!(result["ok"], true);
    assert_eq!(result["observed"]["outbox_processed_total"]["delta"], 1.0);
    // The run's checks, and the bundle's own manifest check, passed.
    let (_, from_dir) = verify_json(&run);
    let mut checks = result["verdict"].as_array().unwrap().clone();
    let bundle_check = checks.pop().unwrap();
    assert_eq!(bundle_check["id"], "bundle_manifest");
    assert_eq!(bundle_check["status"], "passed");
    assert_eq!(
        Value::Array(checks),
        from_dir["verdict"],
        "the bundle grades as its run"
    );

    // Never over a file; never a zstd bundle it cannot write.
    let (code, text) = cockpit(&["export", &run.display().to_string(), "--out", &shown]);
    assert_eq!(code, Some(3));
    assert!(text.contains("never overwrites evidence"), "{text}");
    let zst = tmp.path().join("evidence.tar.zst").display().to_string();
    let (code, text) = cockpit(&["export", &run.display().to_string(), "--out", &zst]);
    assert_eq!(code, Some(3));
    assert!(
        text.contains("zstd bundles are not supported") && text.contains(".tar.gz"),
        "{text}"
    );
}

#[test]
fn a_failed_runs_bundle_fails_and_its_junit_names_the_failed_check() {
    let tmp = tempfile::tempdir().unwrap();
    let run = collector_down_run(&tmp.path().join("runs"), "0\n", 0);
    let bundle = tmp.path().join("failed.tar.gz");
    let (code, text) = cockpit(&[
        "export",
        &run.display().to_string(),
        "--out",
        &bundle.display().to_string(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    let junit = tmp.path().join("junit.xml");
    let (code, text) = verify(&[
        &bundle.display().to_string(),
        "--junit",
        &junit.display().to_string(),
    ]);
    assert_eq!(code, Some(1), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 1, "{xml}");
    let failure = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("processed_delta_ge"),
        "{xml}"
    );
    let run_dir = cases[0]
        .descendants()
        .find(|n| n.attribute("name") == Some("run_dir"))
        .and_then(|n| n.attribute("value"))
        .unwrap();
    assert!(
        run_dir.ends_with("failed.tar.gz/collector_down/20260214T230000"),
        "{xml}"
    );
    // A second report over the first is refused, before grading.
    let (code, text) = verify(&[
        &bundle.display().to_string(),
        "--junit",
        &junit.display().to_string(),
    ]);
    assert_eq!(code, Some(3));
    assert!(text.contains("never overwrites a report"), "{text}");
}

/// A .tar.gz whose one entry is named `name` (raw, as a hostile tool writes it).
fn hostile_bundle(path: &Path, name: &[u8], kind: tar::EntryType) {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    ));
    let mut recipe = tar::Header::new_gnu();
    recipe.set_size(2);
    recipe.set_mode(0o644);
    builder
        .append_data(&mut recipe, "collector_down/r/_recipe.json", &b"{}"[..])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    header.set_entry_type(kind);
    header.set_size(0);
    header.set_mode(0o644);
    if kind == tar::EntryType::Symlink {
        header.set_link_name("/etc").unwrap();
    }
    header.set_cksum();
    builder.append(&header, &[][..]).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
}

#[test]
fn a_bundle_leaving_its_folder_or_holding_a_link_is_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let temp = tmp.path().join("temp");
    std::fs::create_dir(&temp).unwrap();
    for (name, kind, why) in [
        (
            &b"../../escaped"[..],
            tar::EntryType::Regular,
            "goes up with `..`",
        ),
        (
            &b"/tmp/escaped"[..],
            tar::EntryType::Regular,
            "is an absolute path",
        ),
        (
            &b"collector_down/r/_logs"[..],
            tar::EntryType::Symlink,
            "is a symbolic link",
        ),
        (
            &b"collector_down/r/dev"[..],
            tar::EntryType::Block,
            "is a block device",
        ),
    ] {
        let bundle = tmp.path().join("hostile.tar.gz");
        hostile_bundle(&bundle, name, kind);
        let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .args(["verify", &bundle.display().to_string()])
            .env("TMPDIR", &temp)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{text}");
        assert!(
            text.contains(why) && text.contains("nothing was graded"),
            "{text}"
        );
        assert!(output.stdout.is_empty());
        // Nothing escaped, and the unpacking folder is gone.
        assert!(!tmp.path().join("escaped").exists());
        assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0, "{why}");
        std::fs::remove_file(&bundle).unwrap();
    }
}

#[test]
fn a_bundle_changed_after_export_fails_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = collector_down_run(&tmp.path().join("runs"), "0\n", 1);
    let bundle = tmp.path().join("evidence.tar.gz");
    let shown = bundle.display().to_string();
    let (code, text) = cockpit(&["export", &run.display().to_string(), "--out", &shown]);
    assert_eq!(code, Some(0), "{text}");
    // Unpacked, one file of the run changed (still a passing run by its numbers), packed
    // again: only the bundle's manifest can tell.
    let unpacked = tmp.path().join("unpacked");
    let gzip = flate2::read::GzDecoder::new(std::fs::File::open(&bundle).unwrap());
    tar::Archive::new(gzip).unpack(&unpacked).unwrap();
    let recipe = unpacked.join("collector_down/20260214T230000/_recipe.json");
    let changed = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace(", ", ",  ");
    std::fs::write(&recipe, changed).unwrap();
    std::fs::remove_file(&bundle).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&bundle).unwrap(),
        flate2::Compression::fast(),
    ));
    builder.append_dir_all(".", &unpacked).unwrap();
    builder.into_inner().unwrap().finish().unwrap();

    let (code, text) = verify(&[&shown]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("collector_down/20260214T230000/_recipe.json: changed since manifest.json"),
        "{text}"
    );
    assert!(text.contains("verdict: FAILED"), "{text}");
}
