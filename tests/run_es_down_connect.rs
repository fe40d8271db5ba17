//! `drill-cockpit run es_down_connect` end to end: real Postgres, the ES stand-in as a
//! real container stopped and started through Docker, the Jaeger stand-in, and the
//! bundled worker as a child process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::Connection;
use testkit::docker::{
    ComposeLikeContainer, ES_STANDIN_IMAGE, engine, free_port, require_image, wait_http,
};
use testkit::jaeger::JaegerStandin;
use testkit::pg::{Schema, apply_upstream_schema};

/// The worker under drill: the bundled one, or the foreign (Python) test double.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Worker {
    Bundled,
    Foreign,
}

struct Stack {
    _container: ComposeLikeContainer,
    schema: Schema,
    jaeger: JaegerStandin,
    project: String,
    es_port: u16,
    database_url: String,
    password: String,
    snapshots: tempfile::TempDir,
}

/// A database owned by a role with a password of its own, so the test can look for it.
async fn database_with_secret_password() -> Option<(String, String)> {
    let db = testkit::pg::fresh_database().await?;
    let password = format!("pw{}", uuid::Uuid::new_v4().simple());
    let role = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{password}'"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT ALL ON SCHEMA public TO {role}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} OWNER TO {role}",
        db.name
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let host = db.url.split('@').nth(1).unwrap();
    Some((
        format!("postgresql+psycopg://{role}:{password}@{host}"),
        password,
    ))
}

async fn stack(schema: Schema) -> Option<Stack> {
    let docker = engine().await?;
    require_image(&docker, ES_STANDIN_IMAGE).await?;
    let (database_url, password) = database_with_secret_password().await?;
    if schema == Schema::Upstream {
        // Built as the run's own role, the way upstream's migrations would have.
        apply_upstream_schema(&database_url.replacen("postgresql+psycopg://", "postgres://", 1))
            .await;
    }
    let project = format!(
        "drillrun{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let es_port = free_port();
    let container =
        ComposeLikeContainer::start(&docker, ES_STANDIN_IMAGE, &project, "es", es_port, 9200).await;
    assert!(
        wait_http(
            &format!("http://127.0.0.1:{es_port}/"),
            Duration::from_secs(15)
        )
        .await
    );
    Some(Stack {
        _container: container,
        schema,
        jaeger: JaegerStandin::start().await.unwrap(),
        project,
        es_port,
        database_url,
        password,
        snapshots: tempfile::tempdir().unwrap(),
    })
}

fn run(stack: &Stack, worker: Worker, extra_env: &[(&str, &str)]) -> Option<std::process::Output> {
    let mut command = run_command(stack, worker, extra_env)?;
    Some(command.output().expect("run drill-cockpit"))
}

fn run_command(stack: &Stack, worker: Worker, extra_env: &[(&str, &str)]) -> Option<Command> {
    run_command_for(stack, worker, &["es_down_connect"], extra_env)
}

/// `drill-cockpit run <args…>` against the stack.
fn run_command_for(
    stack: &Stack,
    worker: Worker,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> Option<Command> {
    let worker_command = match worker {
        // Like the upstream worker, print the database URL with its password first.
        Worker::Bundled => format!(
            "sh -c 'echo \"[OK] Database: $DATABASE_URL token=$MY_API_TOKEN\"; exec {} worker'",
            env!("CARGO_BIN_EXE_drill-cockpit")
        ),
        // Prints its URL with the password by itself; the token is echoed the same way.
        Worker::Foreign => format!(
            "sh -c 'echo \"token=$MY_API_TOKEN\"; exec {}'",
            testkit::foreign_worker::command()?
        ),
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"));
    command
        .arg("run")
        .args(args)
        .args(["--duration", "15s", "--recovery-timeout", "30s"])
        .args([
            "--set",
            &format!("cockpit.snapshots_dir={}", stack.snapshots.path().display()),
        ])
        // Only our own schema may be migrated; upstream's is used as it is.
        .args([
            "--set",
            &format!("database.ours={}", stack.schema == Schema::Ours),
        ])
        .env("DATABASE_URL", &stack.database_url)
        .env("ELASTIC_URL", format!("http://127.0.0.1:{}", stack.es_port))
        .env("JAEGER_URL", stack.jaeger.url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", stack.jaeger.url())
        .env("COMPOSE_PROJECT_NAME", &stack.project)
        .env("OUTBOX_METRICS_PORT", free_port().to_string())
        .env("OUTBOX_HTTP_PORT", free_port().to_string())
        .env("OUTBOX_BASE_BACKOFF_SECONDS", "0.3")
        .env("OUTBOX_MAX_BACKOFF_SECONDS", "1")
        .env("OUTBOX_POLL_INTERVAL_MS", "50")
        .env("MY_API_TOKEN", "tok-zz-991")
        .env("WORDLOOM_ENV", "test")
        .env("DRILL_WORKER_COMMAND", worker_command)
        .envs(extra_env.iter().copied());
    Some(command)
}

fn run_dir(snapshots: &Path) -> PathBuf {
    let scenario = snapshots.join("es_down_connect");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&scenario)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    runs.sort();
    runs.pop().expect("a run directory")
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(all_files(&path))
        } else {
            files.push(path)
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_runbook_passes_headless_with_complete_secret_free_evidence() {
    passes_with(Schema::Ours, Worker::Bundled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runbook_passes_on_upstreams_schema_with_the_bundled_worker() {
    passes_with(Schema::Upstream, Worker::Bundled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runbook_passes_on_upstreams_schema_with_a_foreign_python_worker() {
    passes_with(Schema::Upstream, Worker::Foreign).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runbook_passes_on_our_schema_with_a_foreign_python_worker() {
    passes_with(Schema::Ours, Worker::Foreign).await;
}

async fn passes_with(schema: Schema, worker: Worker) {
    let Some(stack) = stack(schema).await else {
        return;
    };
    let started = std::time::Instant::now();
    let Some(output) = run(&stack, worker, &[]) else {
        return;
    };
    eprintln!(
        "run es_down_connect ({schema:?} schema, {worker:?} worker): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains("stopping `es`") && stderr.contains("verdict: PASSED"),
        "{stderr}"
    );

    let dir = run_dir(stack.snapshots.path());
    let names: Vec<String> = all_files(&dir)
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    for expected in [
        "_recipe.json",
        "_result.json",
        "_metrics/metrics-before.txt",
        "_metrics/metrics-after.txt",
        "_outbox_event_id.txt",
        "_timeline.jsonl",
        "report.md",
        "timeline.svg",
        "manifest.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing {expected} in {names:?}"
        );
    }
    for prefix in [
        "_logs/worker-",
        "_exports/jaeger-services-",
        "_exports/jaeger-operations-",
        "_exports/jaeger-traces-outbox_event_id-",
        "_exports/jaeger-projection-by-claim_batch_id-",
        "_containers-",
        "_outbox-",
        "_metrics/metrics-2",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "missing {prefix}* in {names:?}"
        );
    }
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_result.json")).unwrap()).unwrap();
    assert_eq!(result["ok"], true, "{result:#}");
    assert!(
        result["observed"]["outbox_retry_scheduled_total_reason_es_connect_or_unreachable"]["delta"]
            .as_f64()
            .unwrap() >= 1.0
    );
    let timeline = std::fs::read_to_string(dir.join("_timeline.jsonl")).unwrap();
    for kind in [
        "\"kind\":\"container\"",
        "\"kind\":\"insert\"",
        "\"kind\":\"check\"",
        "\"kind\":\"freeze\"",
    ] {
        assert!(timeline.contains(kind), "timeline lacks {kind}");
    }
    // The worker's state is structured JSON in every container snapshot.
    let containers = all_files(&dir)
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("_containers-")
        })
        .unwrap();
    let containers: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(containers).unwrap()).unwrap();
    assert_eq!(
        containers["worker"]["status"]["state"], "running",
        "{containers:#}"
    );
    assert!(containers["worker"]["status"]["pid"].as_u64().unwrap() > 0);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("PASSED") && report.contains("/trace/"),
        "{report}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["files"].as_array().unwrap().len() >= 15);

    // No secret anywhere: neither the DB password (the worker logs its URL) nor a token.
    for file in all_files(&dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains(&stack.password),
            "{} holds the DB password",
            file.display()
        );
        assert!(
            !text.contains("tok-zz-991"),
            "{} holds a token",
            file.display()
        );
    }

    // Re-graded offline from the raw evidence: the same verdict.
    let verify = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &dir.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // The manifest is the last word: a changed file, or a deleted recipe (which would
    // make the run look like another tool's, graded leniently), fails naming the file.
    let regrade = || {
        let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .args(["verify", &dir.display().to_string()])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    std::fs::remove_file(dir.join("_recipe.json")).unwrap();
    let (code, stdout) = regrade();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("written by drill-cockpit"), "{stdout}");
    assert!(
        stdout.contains("_recipe.json: listed in manifest.json but missing"),
        "{stdout}"
    );
    let report = dir.join("report.md");
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::write(&report, format!("{text}\nReviewed: all good.\n")).unwrap();
    let (code, stdout) = regrade();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("report.md: changed since manifest.json"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracing_disabled_the_run_fails_and_says_which_checks_and_why() {
    let Some(stack) = stack(Schema::Ours).await else {
        return;
    };
    let Some(output) = run(
        &stack,
        Worker::Bundled,
        &[("WORDLOOM_TRACING_ENABLED", "0")],
    ) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let dir = run_dir(stack.snapshots.path());
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("FAILED"), "{report}");
    assert!(
        report.contains("| outbox.process found by outbox_event_id | FAILED |"),
        "{report}"
    );
    assert!(stderr.contains("check `trace_by_event` FAILED"), "{stderr}");
    // ES was started again although the drill failed.
    assert!(
        wait_http(
            &format!("http://127.0.0.1:{}/", stack.es_port),
            Duration::from_secs(10)
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_worker_at_log_level_warning_fails_honestly_naming_the_schema_marker() {
    let Some(stack) = stack(Schema::Upstream).await else {
        return;
    };
    let Some(output) = run(&stack, Worker::Foreign, &[("LOG_LEVEL", "WARNING")]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A verdict, not a crash: exit 1 and the check that could not pass is named.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("check `schema_marker` FAILED"), "{stderr}");
    let dir = run_dir(stack.snapshots.path());
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_result.json")).unwrap()).unwrap();
    assert_eq!(result["ok"], false);
    // The fault's own evidence is there all the same.
    assert!(
        result["observed"]["outbox_retry_scheduled_total_reason_es_connect_or_unreachable"]["delta"]
            .as_f64()
            .unwrap() >= 1.0,
        "{result:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_insert_is_journaled_and_reported() {
    let Some(stack) = stack(Schema::Upstream).await else {
        return;
    };
    // The database refuses every outbox insert (as a locked-down or broken one would).
    let url = stack
        .database_url
        .replacen("postgresql+psycopg://", "postgres://", 1);
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "ALTER TABLE search_outbox_events ADD CONSTRAINT drill_refuses_inserts CHECK (false) NOT VALID",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let Some(output) = run(&stack, Worker::Bundled, &[]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    // No event, no drill: it could not run (exit 3), and says why.
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("the drill could not run"), "{stderr}");
    assert!(stderr.contains("drill_refuses_inserts"), "{stderr}");
    let dir = run_dir(stack.snapshots.path());
    let timeline = std::fs::read_to_string(dir.join("_timeline.jsonl")).unwrap();
    let failed: Vec<serde_json::Value> = timeline
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["kind"] == "action_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{timeline}");
    assert_eq!(failed[0]["action"], "insert delete event");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("check constraint drill_refuses_inserts of search_outbox_events failed"),
        "{}",
        failed[0]
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## Failed actions"), "{report}");
    assert!(
        report.contains("**insert delete event** failed"),
        "{report}"
    );
    // ES is running again.
    assert!(
        wait_http(
            &format!("http://127.0.0.1:{}/", stack.es_port),
            Duration::from_secs(10)
        )
        .await
    );
}

/// SIGTERM (and SIGHUP alike) in the middle of the outage: the drill records what it
/// has, starts Elasticsearch again and exits 143.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_drill_restores_elasticsearch() {
    let Some(stack) = stack(Schema::Ours).await else {
        return;
    };
    // Without spans the trace checks never pass: the drill observes its whole window.
    let Some(mut command) = run_command(
        &stack,
        Worker::Bundled,
        &[("WORDLOOM_TRACING_ENABLED", "0")],
    ) else {
        return;
    };
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stopped = testkit::docker::wait_until(Duration::from_secs(30), || {
        std::fs::read_dir(stack.snapshots.path().join("es_down_connect"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|run| {
                std::fs::read_to_string(run.path().join("_timeline.jsonl")).is_ok_and(|t| {
                    t.contains(r#""action":"stop","by":"drill""#)
                        && t.contains(r#""kind":"insert""#)
                })
            })
    })
    .await;
    assert!(stopped, "the drill never stopped ES");
    // SAFETY: kill(2) on the child this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert!(
        wait_http(
            &format!("http://127.0.0.1:{}/", stack.es_port),
            Duration::from_secs(15)
        )
        .await,
        "ES is not running again after SIGTERM:\n{stderr}"
    );
    let dir = run_dir(stack.snapshots.path());
    assert!(
        dir.join("_result.json").is_file(),
        "the final freeze was written"
    );
}

/// A: without stopping Elasticsearch nothing is retried: the control run fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_down_connect_fails_without_its_fault() {
    let Some(stack) = stack(Schema::Ours).await else {
        return;
    };
    let Some(mut command) = run_command_for(
        &stack,
        Worker::Bundled,
        &["es_down_connect", "--control"],
        &[],
    ) else {
        return;
    };
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CONTROL RUN"), "{stderr}");
    assert!(stderr.contains("check `retry_delta`"), "{stderr}");
}

/// `run all`: the nine drills in turn on one stack (A through Docker, the others
/// through the gate, the ES API and processes), a summary table, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_every_drill_and_prints_the_summary() {
    run_all_passes(Schema::Ours, Worker::Bundled).await;
}

/// The same nine drills, unchanged, on upstream's schema with the foreign worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_with_the_foreign_worker_on_upstreams_schema_fails_only_e() {
    run_all_passes(Schema::Upstream, Worker::Foreign).await;
}

async fn run_all_passes(schema: Schema, worker: Worker) {
    let Some(stack) = stack(schema).await else {
        return;
    };
    let Some(mut command) = run_command_for(&stack, worker, &["all"], &[]) else {
        return;
    };
    let started = std::time::Instant::now();
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "run all ({schema:?} schema, {worker:?} worker): {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    // Upstream's worker does not count a lost lease (CONTRACT §7): E fails with it,
    // every other drill passes.
    let fails_with_this_worker =
        |id: &str| worker == Worker::Foreign && id == "db_claim_contention";
    assert_eq!(
        output.status.code(),
        Some(if worker == Worker::Foreign { 1 } else { 0 }),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for drill in drill_cockpit::drill::scenario::lab() {
        let verdict = if fails_with_this_worker(drill.id) {
            "FAILED"
        } else {
            "PASSED"
        };
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(drill.id) && l.contains(verdict)),
            "{}: {stdout}",
            drill.id
        );
        // Each drill left its own run directory, closed with a manifest.
        let runs = stack.snapshots.path().join(drill.id);
        let run = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap();
        assert!(run.path().join("manifest.json").is_file(), "{}", drill.id);
    }
    let passed = if worker == Worker::Foreign {
        "8/9 passed"
    } else {
        "9/9 passed"
    };
    assert!(stdout.contains(passed), "{stdout}");
}
