//! Fleets in the sandbox (issue 22): a drill with `--replicas 3` keeps its verdict and
//! its roles (A: one worker's drill; E: the lease loser is any of the fleet), graded on
//! the fleet's sums; and the contention drill at a CI size (4 replicas × 300 events).
//! Each starts the sandbox of its own process; the three runs take ~20 s together.

mod common;

use std::path::Path;

/// Runs `args` in the sandbox; asserts it passed and returns its stderr.
fn passes(snapshots: &Path, args: &[&str]) -> String {
    let output = common::sandbox::command(snapshots)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{args:?}\n{stderr}");
    stderr
}

/// How many workers a run's files name: logs, per-worker baselines, and the
/// `# drill-cockpit: worker N` sections of the summed `metrics-before.txt`.
fn workers_in(run: &Path) -> (usize, usize, usize) {
    let count = |dir: &str, prefix: &str| {
        std::fs::read_dir(run.join(dir))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .count()
    };
    let sum = std::fs::read_to_string(run.join("_metrics/metrics-before.txt")).unwrap();
    (
        count("_logs", "worker"),
        count("_metrics", "metrics-before-"),
        sum.matches("# drill-cockpit: worker ").count(),
    )
}

#[test]
fn drills_a_and_e_pass_with_three_replicas_each_worker_with_its_own_files() {
    if !common::sandbox::available() {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    for drill in ["es_down_connect", "db_claim_contention"] {
        passes(
            snapshots.path(),
            &["run", drill, "--sandbox", "--replicas", "3"],
        );
        let run = common::sandbox::run_dir(snapshots.path(), drill);
        assert_eq!(workers_in(&run), (3, 3, 3), "{drill}: {}", run.display());
        let recipe = std::fs::read_to_string(run.join("_recipe.json")).unwrap();
        assert!(recipe.contains("\"replicas\": 3"), "{recipe}");
        // Every worker's /metrics as host:port, distinct (the scrape targets of a fleet).
        let journal = std::fs::read_to_string(run.join("_timeline.jsonl")).unwrap();
        let targets: Vec<String> = journal
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|e| e.pointer("/metrics_targets").cloned())
            .and_then(|t| serde_json::from_value(t).ok())
            .unwrap_or_default();
        let mut distinct = targets.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{targets:?}");
        assert!(
            targets.iter().all(|t| t.starts_with("127.0.0.1:")),
            "{targets:?}"
        );
        // `replay` shows the fleet as the Containers pane listed it at the last freeze.
        let recording = drill_cockpit::replay::recording::Recording::load(&run).unwrap();
        let (snapshot, _) = recording.at(f64::MAX);
        let replicas: Vec<usize> = snapshot.replicas.iter().map(|r| r.0).collect();
        let expected = if drill == "db_claim_contention" {
            vec![3]
        } else {
            vec![2, 3]
        };
        assert_eq!(replicas, expected, "{drill}");
        // `verify` grades the files as the run did: the fleet's sums, every log.
        let verified = std::process::Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .args(["verify", &run.display().to_string()])
            .output()
            .unwrap();
        assert_eq!(
            verified.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&verified.stdout)
        );
    }
}

#[test]
fn fleet_contention_at_ci_size_finalizes_every_row_once_and_reports_the_late_finalizes() {
    if !common::sandbox::available() {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let stderr = passes(
        snapshots.path(),
        &[
            "run",
            "fleet-contention",
            "--sandbox",
            "--replicas",
            "4",
            "--events",
            "300",
        ],
    );
    let run = common::sandbox::run_dir(snapshots.path(), "fleet-contention");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("_result.json")).unwrap()).unwrap();
    assert_eq!(result["verdict"], "PASSED", "{stderr}");
    let figures = &result["figures"];
    assert_eq!(figures["events"], 300);
    assert_eq!(figures["replicas"], 4);
    // The gate held writes, and leases were lost under them: contention happened.
    assert!(figures["writes_held"].as_u64().unwrap() >= 1, "{figures}");
    assert!(figures["leases_lost"].as_f64().unwrap() >= 1.0, "{figures}");
    assert!(
        figures["events_per_second"].as_f64().unwrap() > 0.0,
        "{figures}"
    );
    for id in [
        "no_event_lost",
        "finalized_once",
        "late_finalizes_reported",
        "work_shared",
    ] {
        assert!(
            result["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == id && c["passed"] == true),
            "{id}: {result}"
        );
    }
    assert_eq!(workers_in(&run).0, 4);
    // `verify` re-derives the fleet's Δ and log lines from the files and agrees.
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &run.display().to_string()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(0), "{said}");
    assert!(
        said.contains("files unchanged since manifest.json"),
        "{said}"
    );
}

#[test]
fn a_fleet_of_one_is_refused_for_the_contention_drill() {
    let snapshots = tempfile::tempdir().unwrap();
    let output = common::sandbox::command(snapshots.path())
        .args(["run", "fleet-contention", "--replicas", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("pass --replicas 2 or more"), "{stderr}");
}

#[test]
fn events_is_refused_for_a_drill_that_inserts_its_own() {
    let snapshots = tempfile::tempdir().unwrap();
    let output = common::sandbox::command(snapshots.path())
        .args(["run", "es_down_connect", "--events", "10"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("--events is for `run fleet-contention`"),
        "{stderr}"
    );
}
