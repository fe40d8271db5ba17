//! `drill-cockpit verify` re-grades runs from raw evidence, including the upstream
//! tooling's (shared/fixtures/upstream-run-es_down_connect).

mod common;

use std::path::PathBuf;
use std::process::Command;

use drill_cockpit::drill::{CheckStatus, Missing, grade};
use drill_cockpit::evidence::read::read_run_dir;

/// Drill A as built in (upstream's es_down_connect is graded our way by it too).
fn es_down_connect() -> &'static drill_cockpit::drill::scenario::Scenario {
    drill_cockpit::drill::catalog::builtin("es_down_connect").unwrap()
}

fn upstream_run() -> PathBuf {
    testkit::env::fixtures_dir().join("upstream-run-es_down_connect")
}

#[test]
fn upstream_run_verifies_ok_with_its_own_deltas() {
    let run = read_run_dir(&upstream_run()).unwrap();
    assert!(!run.ours);
    assert_eq!(run.scenario, "es_down_connect");
    let verdict = grade(es_down_connect(), &run.observations, run.missing_mode());
    assert!(verdict.ok, "{}", verdict.table());

    // The same deltas as the fixture's own _result.json.
    let theirs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(upstream_run().join("_result.json")).unwrap(),
    )
    .unwrap();
    let ours = verdict.result_json(es_down_connect(), "x");
    for key in [
        "outbox_retry_scheduled_total_reason_es_connect_or_unreachable",
        "outbox_failed_total_reason_es_connect_or_unreachable",
        "outbox_terminal_failed_total_reason_es_connect_or_unreachable",
    ] {
        assert_eq!(ours["observed"][key], theirs["observed"][key], "{key}");
    }
    let status = |id: &str| verdict.checks.iter().find(|c| c.id == id).unwrap().status;
    // Evidence upstream did not record does not decide; what it did record does.
    assert_eq!(status("schema_marker"), CheckStatus::NotRecorded);
    assert_eq!(status("recovered"), CheckStatus::NotRecorded);
    assert_eq!(status("trace_by_batch"), CheckStatus::NotRecorded);
    assert_eq!(status("trace_by_event"), CheckStatus::Passed);
    assert_eq!(status("log_trace_link"), CheckStatus::Passed);
    assert_eq!(status("retry_delta"), CheckStatus::Passed);
}

#[test]
fn the_same_evidence_graded_as_our_own_run_fails_on_what_is_missing() {
    let run = read_run_dir(&upstream_run()).unwrap();
    let verdict = grade(es_down_connect(), &run.observations, Missing::Failed);
    assert!(!verdict.ok);
    let failed: Vec<&str> = verdict
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Failed)
        .map(|c| c.id)
        .collect();
    assert_eq!(failed, vec!["schema_marker", "trace_by_batch", "recovered"]);
}

#[test]
fn verify_command_prints_the_table_and_exits_0() {
    let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &upstream_run().display().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("not recorded"), "{stdout}");
    assert!(stdout.contains("Δ=4"), "{stdout}");
    assert!(stdout.contains("verdict: PASSED"), "{stdout}");
}

#[test]
fn a_directory_that_is_not_a_run_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &dir.path().display().to_string()])
        .output()
        .unwrap();
    // 3: the path could not be graded (not 1, no drill failed; not 2, the usage was right).
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a run directory"));
}

/// Every freeze exports the traces found so far; `verify` counts each trace once.
#[test]
fn a_trace_exported_by_several_freezes_counts_once() {
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path().join("es_down_connect").join("20260214T184133");
    common::copy_dir(&upstream_run(), &dir);
    let export = std::fs::read_dir(dir.join("_exports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy()
                .contains("jaeger-traces-outbox_event_id-")
        })
        .unwrap();
    let once = read_run_dir(&dir)
        .unwrap()
        .observations
        .traces_by_event
        .unwrap()
        .len();
    let later = export
        .to_string_lossy()
        .replace("20260214T104255", "20260214T104301");
    std::fs::copy(&export, later).unwrap();
    let run = read_run_dir(&dir).unwrap();
    assert_eq!(
        run.observations.traces_by_event.as_ref().unwrap().len(),
        once
    );
    let verdict = grade(es_down_connect(), &run.observations, run.missing_mode());
    let seen = &verdict
        .checks
        .iter()
        .find(|c| c.id == "trace_by_event")
        .unwrap()
        .observed;
    assert!(seen.starts_with(&format!("{once} trace(s)")), "{seen}");
}

/// `verify` of a run below a folder whose name carries an escape sequence and a bidi
/// override: the one-run report, the folder table and the error of a folder with no
/// run print the name with its controls written out, never sent to the terminal.
#[test]
fn verify_never_prints_the_escape_bytes_of_a_path() {
    let work = tempfile::tempdir().unwrap();
    let hostile = work.path().join("evil\u{1b}[31m\u{202e}runs");
    let run = hostile.join("es_down_connect").join("20260214T184133-A3");
    common::copy_dir(&upstream_run(), &run);
    let empty = work.path().join("empty\u{1b}]0;title\u{7}");
    std::fs::create_dir(&empty).unwrap();
    for (target, code) in [(&run, 0), (&hostile, 0), (&empty, 3)] {
        let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .arg("verify")
            .arg(target)
            .output()
            .unwrap();
        let all = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        assert_eq!(output.status.code(), Some(code), "{text}");
        assert!(!all.contains(&0x1b), "ESC printed: {text:?}");
        assert!(!text.contains('\u{202e}'), "RLO printed: {text:?}");
        assert!(!all.contains(&0x07), "BEL printed: {text:?}");
    }
    let one = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .arg("verify")
        .arg(&run)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(text.contains("evil\\u{1b}[31m\\u{202e}runs/"), "{text}");
}
