//! The sandbox as a newcomer meets it: no Docker (DOCKER_HOST points nowhere), no
//! DATABASE_URL, nothing but this binary and PostgreSQL's server binaries.
//! - `run all --sandbox` passes all nine drills;
//! - the cockpit with `--sandbox`: `s`, `y`, `d`, `S`, `f`, `q` leave a passing
//!   es_down_connect run directory, SANDBOX written on screen and in its files;
//! - the README's drill A typed as written ends PASSED, and the terminal says so after
//!   the exit, with the run directory and its report;
//! - `q` with a check pending asks (after the stopped-ES question), `q` again quits
//!   anyway and the terminal still names the verdict and the check;
//! - without server binaries, one clear message with the install commands;
//! - docs/DRILLS.md's worked example (a user drill file, not one of the nine) runs
//!   with `run --sandbox --drill` and passes, and `verify` re-grades it by the drill
//!   file the run recorded.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::tmux::{Tmux, line_with};

/// `scripts/ci-drills` as a CI job runs it (docs/CI.md): `run all --sandbox --junit
/// --json`, an evidence bundle per run re-graded alone, the folder re-graded with
/// `--junit`. All nine drills pass without Docker; the cluster is gone afterwards.
/// It is the suite's one run of all nine, so it runs them as CI must prove them: a fleet
/// of three workers, counted by a throwaway Prometheus (issue 22), re-graded by verify.
#[test]
fn the_ci_script_runs_every_drill_in_the_sandbox_and_keeps_its_evidence() {
    if !common::sandbox::available() {
        return;
    }
    let fleet_through_prometheus = drill_cockpit::sandbox::prometheus::find_binary().is_some()
        || testkit::env::unavailable::<()>("prometheus", "install prometheus; scripts/test does")
            .is_some();
    let run_all_options: &[&str] = match fleet_through_prometheus {
        true => &["--replicas", "3", "--prometheus"],
        false => &[],
    };
    let work = tempfile::tempdir().unwrap();
    // The script's own temp folder: the throwaway cluster must be gone from it after.
    let temp = tempfile::tempdir().unwrap();
    let artifacts = work.path().join("ci-drills");
    let started = std::time::Instant::now();
    let output = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ci-drills"))
        .arg(&artifacts)
        .args(run_all_options)
        .env_remove("DATABASE_URL")
        .env("DRILL_COCKPIT", env!("CARGO_BIN_EXE_drill-cockpit"))
        .env("TMPDIR", temp.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("WORDLOOM_ENV", "test")
        .env("OUTBOX_BASE_BACKOFF_SECONDS", "0.3")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "scripts/ci-drills: {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    // With --json the table goes to the log (stderr) and stdout to run-all.json.
    assert!(stderr.contains("9/9 passed"), "{stderr}");
    assert!(
        stderr.contains("SANDBOX · simulated Elasticsearch and trace store"),
        "{stderr}"
    );
    let ids: Vec<&str> = drill_cockpit::drill::scenario::lab()
        .iter()
        .map(|d| d.id)
        .collect();

    // run all --junit: nine passed testcases, each naming its run directory.
    let run_dirs = junit_run_dirs(&artifacts.join("junit-run.xml"), &ids);
    for (id, dir) in ids.iter().zip(&run_dirs) {
        let recipe = std::fs::read_to_string(dir.join("_recipe.json")).unwrap();
        assert!(recipe.contains("\"banner\": \"SANDBOX"), "{recipe}");
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(report.starts_with("> **SANDBOX"), "{id}");
        if fleet_through_prometheus {
            // A fleet of three, its counters read with PromQL (each query kept).
            let recipe: serde_json::Value = serde_json::from_str(&recipe).unwrap();
            assert_eq!(recipe["worker"]["replicas"], 3, "{id}: {recipe:#}");
            let queries = std::fs::read_dir(dir.join("_metrics"))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("promql-"))
                .count();
            assert!(
                queries >= 2,
                "{id}: {queries} promql files in {}",
                dir.display()
            );
            // The baseline's own name: a freeze in the same second never collides with it.
            assert!(dir.join("_metrics/promql-before.json").is_file(), "{id}");
        }
    }

    // run all --json: verify's shape, every run passed.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(artifacts.join("run-all.json")).unwrap()).unwrap();
    assert_eq!(json["ok"], true, "{json:#}");
    assert_eq!(json["count"], 9, "{json:#}");
    for (run, id) in json["runs"].as_array().unwrap().iter().zip(&ids) {
        assert_eq!(run["scenario"], *id, "{run:#}");
        assert_eq!(
            (&run["ok"], &run["verdict"]),
            (&serde_json::json!(true), &serde_json::json!("PASSED"))
        );
        assert!(
            run["checks"].is_object() && run["observed"].is_object(),
            "{run:#}"
        );
    }

    // A bundle per run, each re-graded from the bundle alone and passed.
    let bundles = std::fs::read_dir(artifacts.join("bundles"))
        .unwrap()
        .count();
    assert_eq!(bundles, 9);
    let verified = std::fs::read_to_string(artifacts.join("verify.txt")).unwrap();
    assert_eq!(verified.matches("verdict: PASSED").count(), 9, "{verified}");
    assert!(verified.contains(".tar.gz/es_down_connect/"), "{verified}");
    assert!(
        verified.contains("9 run(s): 9 passed, 0 failed"),
        "{verified}"
    );

    // verify <folder> --junit: the same nine runs, named <scenario>/<run_id>.
    let regraded = junit_run_dirs(&artifacts.join("junit-verify.xml"), &ids);
    assert_eq!(regraded, run_dirs);

    // The throwaway cluster (in the script's TMPDIR) is gone with the process.
    let leftovers: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("drill-sandbox-pg-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Checks a JUnit file is valid XML with one passed testcase per drill (named by its
/// id, or `<id>/<run_id>`); returns each one's `run_dir`, in `ids`' order.
fn junit_run_dirs(path: &Path, ids: &[&str]) -> Vec<PathBuf> {
    let named = |case: &roxmltree::Node, id: &str| {
        let name = case.attribute("name").unwrap_or("");
        name == id || name.starts_with(&format!("{id}/"))
    };
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites", "{text}");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1, "{text}");
    assert_eq!(suites[0].attribute("tests"), Some("9"), "{text}");
    assert_eq!(suites[0].attribute("failures"), Some("0"), "{text}");
    assert_eq!(suites[0].attribute("errors"), Some("0"), "{text}");
    let mut cases: Vec<_> = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    cases.sort_by_key(|case| ids.iter().position(|id| named(case, id)));
    assert_eq!(cases.len(), ids.len(), "{text}");
    let mut dirs = Vec::new();
    for (case, id) in cases.iter().zip(ids) {
        assert!(named(case, id), "{:?} for {id}", case.attribute("name"));
        assert!(
            !case
                .descendants()
                .any(|n| n.has_tag_name("failure") || n.has_tag_name("error")),
            "{text}"
        );
        let dir = case
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("run_dir"))
            .and_then(|n| n.attribute("value"))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no run_dir property for {id}\n{text}"));
        assert!(dir.join("manifest.json").is_file(), "{}", dir.display());
        dirs.push(dir);
    }
    dirs
}

/// docs/CI.md shows scripts/ci-drills whole, as it is.
#[test]
fn the_ci_page_shows_the_ci_script_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("scripts/ci-drills")).unwrap();
    let page = std::fs::read_to_string(root.join("docs/CI.md")).unwrap();
    assert!(
        page.contains(&format!("```bash\n{script}```\n")),
        "docs/CI.md must show scripts/ci-drills verbatim in a ```bash block: copy the script into it"
    );
    assert!(
        page.contains("scripts/ci-drills ci-drills"),
        "the job runs the script"
    );
}

#[test]
fn the_documented_drill_file_runs_in_the_sandbox_and_passes() {
    if !common::sandbox::available() {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/drills/es_bulk_503.toml");
    let started = std::time::Instant::now();
    let output = common::sandbox::command(snapshots.path())
        .args(["run", "--sandbox", "--drill"])
        .arg(&example)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "run --sandbox --drill es_bulk_503.toml: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("verdict: PASSED"), "{stderr}");
    // The fault was in for its 5 s and came out by itself.
    assert!(
        stderr.contains("abort 503 on bulk, lifted after 5 s")
            && stderr.contains("the fault's time is up: lifted"),
        "{stderr}"
    );
    let run = common::sandbox::run_dir(snapshots.path(), "es_bulk_503");
    assert_eq!(
        std::fs::read_to_string(run.join("_drill.toml")).unwrap(),
        std::fs::read_to_string(&example).unwrap()
    );
    // Re-graded where the file is not loaded: by the drill the run recorded.
    let verified = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .arg("verify")
        .arg(&run)
        .current_dir(snapshots.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("retry_scheduled{es_5xx} Δ≥1"), "{stdout}");
}

/// The sandbox cockpit in tmux, the worker retrying with `backoff` seconds (base, max).
fn start_sandbox_cockpit(snapshots: &std::path::Path, backoff: (&str, &str)) -> Option<Tmux> {
    let env: Vec<(String, String)> = [
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock".to_string()),
        ("DATABASE_URL", String::new()),
        ("OUTBOX_BASE_BACKOFF_SECONDS", backoff.0.into()),
        ("OUTBOX_MAX_BACKOFF_SECONDS", backoff.1.into()),
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
        format!("cockpit.snapshots_dir={}", snapshots.display()),
    ];
    Tmux::start(&env, &args)
}

async fn wait_until_ready(tmux: &Tmux) {
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
}

/// Drill A's first keys: `s`, `y` (ES stopped), `d`, until the Counters show the
/// event's retries for es_connect.
async fn stop_es_and_delete_until_it_retries(tmux: &Tmux) {
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
            s.contains("retry_scheduled  es_connect")
                && s.contains("result=retry reason=es_connect")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_cockpit_drills_es_down_with_the_runbooks_keys() {
    if !common::sandbox::available() {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let Some(tmux) = start_sandbox_cockpit(snapshots.path(), ("0.3", "1")) else {
        return;
    };
    wait_until_ready(&tmux).await;
    stop_es_and_delete_until_it_retries(&tmux).await;
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
    tmux.quit_waiting().await;
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

/// The README's drill A typed as written — `s`, `y`, `d`, watch the retries, `S`, `f`,
/// `q` (and `w` when the cockpit asks about pending checks) — with the worker retrying
/// after `backoff` seconds (base, max), its runs below `snapshots`. Returns the screen
/// after the exit, the run directory, and whether the cockpit asked.
async fn drill_a_as_the_readme_says(
    snapshots: &Path,
    backoff: (&str, &str),
) -> Option<(String, PathBuf, bool)> {
    if !common::sandbox::available() {
        return None;
    }
    let tmux = start_sandbox_cockpit(snapshots, backoff)?;
    wait_until_ready(&tmux).await;
    stop_es_and_delete_until_it_retries(&tmux).await;
    tmux.keys("S");
    tmux.wait_for("ES started again", Duration::from_secs(10), |s| {
        s.contains("started `es`")
    })
    .await;
    tmux.keys("f");
    tmux.wait_for("the freeze", Duration::from_secs(10), |s| {
        s.contains("froze evidence in")
    })
    .await;
    let (asked, screen) = tmux.quit_waiting().await;
    eprintln!("asked about pending checks: {asked}; the screen after the exit:\n{screen}");
    let run = common::sandbox::run_dir(snapshots, "es_down_connect");
    Some((screen, run, asked))
}

/// What the terminal says after drill A passed: the verdict, the run, its report; and
/// the run's `_result.json` agrees.
fn assert_passed_and_says_where(screen: &str, run: &Path) {
    assert!(
        line_with(screen, "drill es_down_connect: PASSED (")
            .is_some_and(|l| l.ends_with("passed · PASSED)")),
        "{screen}"
    );
    assert_says_where(screen, run, true);
}

/// The screen after exit names the run and its report, and the run's `_result.json`
/// says `ok` = `passed`.
fn assert_says_where(screen: &str, run: &Path, passed: bool) {
    assert!(
        screen.contains(&format!("run directory: {}", run.display())),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("report: {}", run.join("report.md").display())),
        "{screen}"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("_result.json")).unwrap()).unwrap();
    assert_eq!(result["ok"], passed, "{result:#}");
}

/// With the suite's fast backoff the event is usually done by `q`; either way the drill
/// passes and the terminal says so after the exit, with the run directory and report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_drill_a_typed_as_written_ends_passed_and_says_where_the_evidence_is() {
    let snapshots = tempfile::tempdir().unwrap();
    let Some((screen, run, _)) = drill_a_as_the_readme_says(snapshots.path(), ("0.3", "1")).await
    else {
        return;
    };
    assert_passed_and_says_where(&screen, &run);
}

/// A backoff of 10–20 s, as a newcomer meets it: after `S` the event still waits for its
/// next retry when `q` is typed, so the cockpit asks; `w` waits and the cockpit quits
/// by itself once the event is done — PASSED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_drill_a_with_a_slower_backoff_waits_for_the_retry_and_passes() {
    let snapshots = tempfile::tempdir().unwrap();
    let Some((screen, run, asked)) =
        drill_a_as_the_readme_says(snapshots.path(), ("20", "20")).await
    else {
        return;
    };
    assert!(
        asked,
        "the cockpit quit without asking about the pending check"
    );
    assert_passed_and_says_where(&screen, &run);
}

/// With a slow backoff the event waits for its next retry after `S`: the status bar
/// says when; `q` asks (one question at a time: the stopped ES first), and `q` again
/// quits anyway — the terminal still gets the verdict with the pending check named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quitting_with_a_pending_check_asks_and_quit_anyway_still_prints_the_verdict() {
    if !common::sandbox::available() {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let Some(tmux) = start_sandbox_cockpit(snapshots.path(), ("60", "60")) else {
        return;
    };
    wait_until_ready(&tmux).await;
    stop_es_and_delete_until_it_retries(&tmux).await;
    tmux.keys("q");
    tmux.wait_for(
        "the stopped ES question first",
        Duration::from_secs(5),
        |s| {
            s.contains("`es` is still stopped. Start it before quitting?")
                && !s.contains("check(s) still pending")
        },
    )
    .await;
    tmux.keys("Escape");
    tmux.wait_for("the question gone", Duration::from_secs(5), |s| {
        !s.contains("is still stopped. Start it before quitting?")
    })
    .await;
    tmux.keys("S");
    tmux.wait_for(
        "when the event retries, in the status bar",
        Duration::from_secs(15),
        |s| {
            s.contains("started `es`")
                && line_with(s, "the event retries in")
                    .is_some_and(|l| l.contains("(next_retry_at "))
        },
    )
    .await;
    tmux.keys("q");
    let question = tmux
        .wait_for("the pending question", Duration::from_secs(5), |s| {
            s.contains("check(s) still pending")
        })
        .await;
    assert!(
        question.contains("after `start es` the event reaches done"),
        "{question}"
    );
    assert!(question.contains("q: quit anyway"), "{question}");
    tmux.keys("q");
    let screen = tmux
        .wait_for("a clean exit", Duration::from_secs(60), |s| {
            s.contains("EXIT=0")
        })
        .await;
    eprintln!("the screen after the exit:\n{screen}");
    let run = common::sandbox::run_dir(snapshots.path(), "es_down_connect");
    assert!(screen.contains("drill es_down_connect: FAILED"), "{screen}");
    assert!(
        line_with(
            &screen,
            "  recovered · FAILED · after `start es` the event reaches done"
        )
        .is_some_and(|l| l.contains("seen: status pending")),
        "{screen}"
    );
    assert_says_where(&screen, &run, false);
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

/// The sandbox with the user's DATABASE_URL that does not answer: the error's fix
/// names DATABASE_URL (and unsetting it), never a compose file the sandbox has not got.
#[test]
fn a_given_database_that_does_not_answer_gets_the_sandboxs_fix() {
    let snapshots = tempfile::tempdir().unwrap();
    let closed = testkit::docker::free_port();
    let output = common::sandbox::command(snapshots.path())
        .env(
            "DATABASE_URL",
            format!("postgres://nobody@127.0.0.1:{closed}/nothing"),
        )
        .args(["run", "es_down_connect", "--sandbox"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "Check DATABASE_URL, or unset it: the sandbox then starts its own throwaway Postgres"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("docker compose"), "{stderr}");
}

/// Drill F (two workers, worker 1 killed) with `--sandbox --prometheus`: the verdict
/// and every metrics file come from PromQL (the killed worker's counts kept by its
/// last value), the queries are kept, and the throwaway Prometheus is gone after.
#[test]
fn a_two_worker_drill_counted_by_a_throwaway_prometheus_passes_and_leaves_nothing() {
    if !common::sandbox::available()
        || (drill_cockpit::sandbox::prometheus::find_binary().is_none()
            && testkit::env::unavailable::<()>(
                "prometheus",
                "install prometheus; scripts/test does",
            )
            .is_none())
    {
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let child = common::sandbox::command(snapshots.path())
        .args(["run", "stuck_reclaim", "--sandbox", "--prometheus"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    eprintln!("run --prometheus: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("verdict: PASSED"),
        "{stdout}\n{stderr}"
    );
    let run = common::sandbox::run_dir(snapshots.path(), "stuck_reclaim");
    let metrics = run.join("_metrics");
    let page = |name: &str| {
        let text = std::fs::read_to_string(metrics.join(name)).unwrap();
        assert!(
            text.starts_with("# drill-cockpit: ") && text.contains("from Prometheus"),
            "{name}: {text}"
        );
        drill_cockpit::prom::Samples::parse(&text).unwrap()
    };
    let processed = |name: &str| page(name).sum("outbox_processed_total", &[]);
    // The reclaimed event was processed by worker 2; worker 1 (killed) counted none.
    assert_eq!(
        processed("metrics-after.txt") - processed("metrics-before.txt"),
        1.0
    );
    assert_eq!(
        processed("metrics-after-1.txt") + processed("metrics-after-2.txt"),
        processed("metrics-after.txt")
    );
    // Worker 2's own baseline page, when Prometheus had it then: 0 (it started later).
    if metrics.join("metrics-before-2.txt").exists() {
        assert_eq!(processed("metrics-before-2.txt"), 0.0);
    }
    // Every freeze and the baseline kept their queries and Prometheus's answers.
    let records: Vec<serde_json::Value> = std::fs::read_dir(&metrics)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("promql-"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
        .collect();
    assert!(records.len() >= 2, "{records:?}");
    for record in &records {
        for query in record["queries"].as_array().unwrap() {
            assert!(
                query["query"]
                    .as_str()
                    .unwrap()
                    .contains("job=\"drill-sandbox\"")
            );
            assert_eq!(query["answer"]["status"], "success", "{query}");
        }
    }
    // `verify` grades the files to the same verdict.
    let verified = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    // Its directory (named by our pid) is gone, and no process runs from it.
    let mark = format!("drill-cockpit-prometheus-{pid}-");
    let dirs: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&mark))
        .collect();
    assert!(dirs.is_empty(), "{dirs:?}");
    let running: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&mark))
        .collect();
    assert!(running.is_empty(), "{running:?}");
}
