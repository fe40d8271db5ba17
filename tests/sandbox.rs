//! The sandbox as a newcomer meets it: no Docker (DOCKER_HOST points nowhere), no
//! DATABASE_URL, nothing but this binary and PostgreSQL's server binaries.
//! - `run all --sandbox` passes all nine drills;
//! - the cockpit with `--sandbox`: `s`, `y`, `d`, `S`, `f`, `q` leave a passing
//!   es_down_connect run directory, SANDBOX written on screen and in its files;
//! - without server binaries, one clear message with the install commands.

mod common;

use std::process::Command;
use std::time::Duration;

use common::tmux::{Tmux, line_with};

#[test]
fn run_all_in_the_sandbox_passes_every_drill_without_docker() {
    if !common::sandbox::available() {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let child = common::sandbox::command(snapshots.path())
        .args(["run", "all", "--sandbox"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "run all --sandbox: {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("9/9 passed"), "{stdout}");
    assert!(
        stderr.contains("SANDBOX · simulated Elasticsearch and trace store"),
        "{stderr}"
    );
    for drill in drill_cockpit::drill::scenario::RUNNABLE {
        let run = common::sandbox::run_dir(snapshots.path(), drill.id);
        let recipe = std::fs::read_to_string(run.join("_recipe.json")).unwrap();
        assert!(recipe.contains("\"banner\": \"SANDBOX"), "{recipe}");
        let report = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(report.starts_with("> **SANDBOX"), "{}", drill.id);
    }
    // The throwaway cluster (named by the process's pid) is gone with the process.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("drill-sandbox-pg-{pid}-")))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_cockpit_drills_es_down_with_the_runbooks_keys() {
    if !common::sandbox::available() {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock".to_string()),
        ("DATABASE_URL", String::new()),
        ("OUTBOX_BASE_BACKOFF_SECONDS", "0.3".into()),
        ("OUTBOX_MAX_BACKOFF_SECONDS", "1".into()),
        ("OUTBOX_MAX_ATTEMPTS", "100".into()),
        (
            "OUTBOX_METRICS_PORT",
            testkit::docker::free_port().to_string(),
        ),
        ("OUTBOX_HTTP_PORT", testkit::docker::free_port().to_string()),
        ("WORDLOOM_ENV", "test".into()),
        ("TERM", "xterm-256color".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let args = vec![
        "--sandbox".to_string(),
        "--set".into(),
        format!("cockpit.snapshots_dir={}", snapshots.path().display()),
    ];
    let Some(tmux) = Tmux::start(&env, &args) else {
        return;
    };
    tmux.wait_for(
        "every sandbox service and the worker",
        Duration::from_secs(30),
        |s| {
            s.contains("SANDBOX · simulated Elasticsearch and trace store")
                && line_with(s, "│postgres  running").is_some()
                && line_with(s, "│es        running").is_some()
                && line_with(s, "│jaeger    running").is_some()
                && s.contains("worker    running")
                && s.contains("Δ0")
        },
    )
    .await;
    tmux.keys("s");
    tmux.wait_for("the confirmation", Duration::from_secs(5), |s| {
        s.contains("Stop `es` of project `sandbox`")
    })
    .await;
    tmux.keys("y");
    tmux.wait_for("the simulated ES stopped", Duration::from_secs(10), |s| {
        line_with(s, "│es        ").is_some_and(|l| l.contains("exited"))
            && s.contains("es http   cannot reach Elasticsearch")
    })
    .await;
    tmux.keys("d");
    tmux.wait_for(
        "a retry with reason es_connect and its trace",
        Duration::from_secs(30),
        |s| {
            line_with(s, "retry_scheduled").is_some_and(|l| l.contains("reason=es_connect"))
                && s.contains("result=retry reason=es_connect")
        },
    )
    .await;
    tmux.keys("S");
    tmux.wait_for(
        "the event done after the restart",
        Duration::from_secs(30),
        |s| {
            line_with(s, "delete  done").is_some()
                && s.contains("✓ after `start es` the event reaches done")
        },
    )
    .await;
    // A marker for the room: on the strip now, in the journal, report and SVG after.
    tmux.keys("m");
    tmux.keys("ES is back");
    tmux.keys("Enter");
    tmux.wait_for(
        "the marker on the timeline strip",
        Duration::from_secs(10),
        |s| {
            s.lines()
                .nth(2)
                .is_some_and(|strip| strip.contains("ES is back"))
        },
    )
    .await;
    tmux.keys("f");
    tmux.wait_for("the freeze", Duration::from_secs(10), |s| {
        s.contains("froze evidence in")
    })
    .await;
    tmux.keys("q");
    tmux.wait_for("a clean exit", Duration::from_secs(30), |s| {
        s.contains("EXIT=0")
    })
    .await;
    let run = common::sandbox::run_dir(snapshots.path(), "es_down_connect");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("_result.json")).unwrap()).unwrap();
    assert_eq!(result["ok"], true, "{result:#}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("## The drill's story"), "{report}");
    assert!(report.contains("m ES is back"), "{report}");
    let svg = std::fs::read_to_string(run.join("timeline.svg")).unwrap();
    assert!(svg.contains("✎ ES is back"));
    let verify = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &run.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0));
}

#[test]
fn without_server_binaries_the_sandbox_says_how_to_install_them() {
    let snapshots = tempfile::tempdir().unwrap();
    let output = common::sandbox::command(snapshots.path())
        .env("DRILL_PG_BIN", "/nonexistent/postgres/bin")
        .args(["run", "es_down_connect", "--sandbox"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(3),
        "the drill could not run: {stderr}"
    );
    for hint in [
        "no PostgreSQL server binaries",
        "sudo apt-get install postgresql",
        "sudo dnf install postgresql-server",
        "brew install postgresql@16",
        "DATABASE_URL",
    ] {
        assert!(stderr.contains(hint), "{hint}: {stderr}");
    }
}
