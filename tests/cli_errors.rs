//! Each mistake a newcomer makes on the command line gets one line that names the
//! thing, the value and the fix: the real binary, run with the exact input, in a
//! folder of its own (no ./drill-cockpit.toml, no user config, no snapshots but the
//! test's).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A scratch folder as the working directory, with its own XDG folders.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"));
        command
            .args(args)
            .current_dir(self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// A run directory as `verify` knows one (its recipe), at `snapshots/<scenario>/<id>`.
    fn recorded_run(&self, scenario: &str, id: &str) -> PathBuf {
        let dir = self.path().join("snapshots").join(scenario).join(id);
        std::fs::create_dir_all(dir.join("_metrics")).unwrap();
        std::fs::write(
            dir.join("_recipe.json"),
            format!(r#"{{"scenario": "{scenario}", "run_id": "{id}"}}"#),
        )
        .unwrap();
        dir
    }

    /// Every entry below the scratch folder but the XDG state (the diagnostics log).
    fn entries(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                out.push(entry.path());
                if entry.path().is_dir() {
                    walk(&entry.path(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), &mut out);
        out.retain(|p| !p.starts_with(self.path().join("state")));
        out.sort();
        out
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn replay_of_a_missing_path_says_what_replay_takes_and_offers_the_latest_run() {
    let scratch = Scratch::new();
    let output = scratch.run(&["replay", "/nonexistent"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "drill-cockpit: /nonexistent does not exist: `replay` takes one run directory, snapshots/<scenario>/<run_id>; there is no run under snapshots yet: `drill-cockpit run es_down_connect --sandbox` records one\n"
    );

    scratch.recorded_run("es_down_connect", "20260214T104133");
    let latest = scratch.recorded_run("es_429_inject", "20260215T090000");
    // Newest by time, whatever the names sort as.
    std::fs::File::open(&latest)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    let output = scratch.run(&["replay", "/nonexistent"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "drill-cockpit: /nonexistent does not exist: `replay` takes one run directory, snapshots/<scenario>/<run_id>; the latest run is snapshots/es_429_inject/20260215T090000\n"
    );
}

#[test]
fn replay_of_a_folder_of_runs_offers_its_latest_run_and_verify() {
    let scratch = Scratch::new();
    let only = scratch.recorded_run("es_down_connect", "20260214T104133");
    let output = scratch.run(&["replay", "snapshots"]);
    assert_eq!(output.status.code(), Some(3));
    let text = stderr(&output);
    assert!(
        text.contains(
            "snapshots is a folder of 1 run(s), not one run: `replay` takes one run directory"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "e.g. {} (the latest)",
            only.strip_prefix(scratch.path()).unwrap().display()
        )),
        "{text}"
    );
    assert!(
        text.contains("`drill-cockpit verify` grades a whole folder"),
        "{text}"
    );
}

#[test]
fn a_missing_config_file_is_one_line_naming_it_and_the_fix() {
    let scratch = Scratch::new();
    let output = scratch.run(&["--config", "missing.toml", "config"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "drill-cockpit: config file missing.toml does not exist: fix the path given to --config, or drop --config (./drill-cockpit.toml is then read when present)\n"
    );
}

#[test]
fn prometheus_without_the_sandbox_is_refused_with_the_real_stacks_settings() {
    let scratch = Scratch::new();
    for args in [
        &["run", "es_down_connect", "--prometheus"][..],
        &["--prometheus"][..],
    ] {
        let output = finishes_within(scratch.command(args), Duration::from_secs(10));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr(&output),
            "drill-cockpit: --prometheus starts a throwaway Prometheus in the sandbox only: add --sandbox; on the real stack set metrics.source=prometheus and metrics.prometheus_url (docs/PROMETHEUS.md)\n"
        );
    }
    // Without the binary: refused before anything starts, saying how to get one.
    let mut command = scratch.command(&["run", "es_down_connect", "--sandbox", "--prometheus"]);
    command.env("PATH", "/nonexistent");
    let output = finishes_within(command, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("--prometheus needs the `prometheus` binary and none is on PATH: install Prometheus: Debian/Ubuntu `sudo apt-get install prometheus`"),
        "{}",
        stderr(&output)
    );
    let mut command = scratch.command(&["run", "es_down_connect", "--sandbox", "--prometheus"]);
    command.env("DRILL_PROMETHEUS_BIN", "/nonexistent/prometheus");
    let output = finishes_within(command, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("DRILL_PROMETHEUS_BIN=/nonexistent/prometheus is not a file"),
        "{}",
        stderr(&output)
    );
    // The settings it names are real ones, shown with their origin.
    let output = scratch.run(&["--set", "metrics.source=prometheus", "config"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("metrics.source") && text.contains("prometheus"),
        "{text}"
    );
    assert!(text.contains("metrics.prometheus_url"), "{text}");
    let output = scratch.run(&["--set", "metrics.source=promql", "config"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("metrics.source"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn report_onto_an_existing_file_never_overwrites_it_and_says_how_to_go_on() {
    let scratch = Scratch::new();
    let run = testkit::env::fixtures_dir().join("upstream-run-es_down_connect");
    let existing = scratch.path().join("report.html");
    std::fs::write(&existing, "somebody's evidence").unwrap();
    let output = scratch.run(&[
        "report",
        &run.display().to_string(),
        "--html",
        "--out",
        "report.html",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "drill-cockpit: report.html exists; drill-cockpit never overwrites evidence: choose another --out path or remove it\n"
    );
    assert_eq!(
        std::fs::read_to_string(&existing).unwrap(),
        "somebody's evidence"
    );
}

/// Runs the binary and waits for it at most `limit`; a child still running then is
/// killed and the test fails (it started something it should not have).
fn finishes_within(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: it started something before refusing the scenario\n{}",
                stderr(&output)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_misspelt_scenario_is_refused_with_did_you_mean_before_anything_starts() {
    let scratch = Scratch::new();
    let cases: [&[&str]; 6] = [
        &["run", "es_492_inject"],
        &["run", "es_492_inject", "--sandbox"],
        &["--scenario", "es_492_inject"],
        &["--sandbox", "--scenario", "es_492_inject"],
        &["--sandbox", "--set", "cockpit.scenario=es_492_inject"],
        &[
            "run",
            "es_down_connect",
            "--sandbox",
            "--set",
            "cockpit.scenario=es_492_inject",
        ],
    ];
    for args in cases {
        let started = Instant::now();
        let output = finishes_within(scratch.command(args), Duration::from_secs(2));
        let text = stderr(&output);
        assert!(
            matches!(output.status.code(), Some(2 | 3)),
            "{args:?}: {:?}\n{text}",
            output.status
        );
        assert!(
            text.to_lowercase()
                .contains("did you mean `es_429_inject`?"),
            "{args:?}: {text}"
        );
        // Nothing started: no sandbox banner, no run directory, no Postgres.
        assert_eq!(text.lines().count(), 1, "{args:?}: {text}");
        assert!(
            !text.contains("SANDBOX") && !text.contains("run directory"),
            "{text}"
        );
        assert!(
            scratch.entries().is_empty(),
            "{args:?} left {:?}",
            scratch.entries()
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn a_misspelt_scenario_in_the_user_config_is_refused_naming_that_file() {
    let scratch = Scratch::new();
    let user_config = scratch.path().join("config/drill-cockpit/config.toml");
    std::fs::create_dir_all(user_config.parent().unwrap()).unwrap();
    std::fs::write(&user_config, "[cockpit]\nscenario = \"es_492_inject\"\n").unwrap();
    let output = finishes_within(scratch.command(&["--sandbox"]), Duration::from_secs(2));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "drill-cockpit: config key `cockpit.scenario` = \"es_492_inject\" (from user config {}): expected a scenario id (did you mean `es_429_inject`?): one of es_down_connect, es_429_inject, es_write_block_4xx, es_bulk_partial, db_claim_contention, stuck_reclaim, duplicate_delivery, projection_version, collector_down\n",
            user_config.display()
        )
    );
}

#[test]
fn a_junit_report_that_cannot_be_written_is_refused_before_any_drill_starts() {
    let scratch = Scratch::new();
    std::fs::write(scratch.path().join("junit.xml"), "last run's report").unwrap();
    for (junit, why) in [
        (
            "junit.xml",
            "--junit junit.xml: the file exists; drill-cockpit never overwrites a report: choose another path or remove it",
        ),
        (
            "no/such/junit.xml",
            "--junit no/such/junit.xml: its folder no/such does not exist: create it first (mkdir -p)",
        ),
    ] {
        let output = finishes_within(
            scratch.command(&["run", "all", "--sandbox", "--junit", junit]),
            Duration::from_secs(10),
        );
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        assert_eq!(stderr(&output), format!("drill-cockpit: {why}\n"));
    }
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("junit.xml")).unwrap(),
        "last run's report"
    );
}
