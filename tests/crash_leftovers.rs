//! kill -9 of `drill-cockpit run` (issue 18): what it put outside its process does not
//! outlive it for good.
//! - es_write_block_4xx killed once its write block is set: the index stays blocked
//!   (nothing could lift it), but the next run reports the leftover, lifts it and
//!   passes; the first run's worker died with it.
//! - a sandbox run killed once its worker runs: the worker dies with it; the sandbox's
//!   Postgres (daemonized by pg_ctl) is reported and removed by the next sandbox start.
//! - a leftover of a session that still lives is left alone;
//! - SIGTERM after ES applied the write block but before the run heard back: the run
//!   still lifts it (the state file knew before the flag did).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drill_cockpit::leftovers::{Entry, Leftover, StateFile, procs};
use testkit::docker::free_port;
use testkit::es::EsStandin;
use testkit::jaeger::JaegerStandin;

const INDEX: &str = common::INDEX;

/// `drill-cockpit run es_write_block_4xx` against the stand-ins and `database_url`.
fn write_block_run(
    database_url: &str,
    es: &EsStandin,
    jaeger: &JaegerStandin,
    snapshots: &Path,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"));
    command
        .args([
            "run",
            "es_write_block_4xx",
            "--duration",
            "20s",
            "--recovery-timeout",
            "30s",
        ])
        .args([
            "--set",
            &format!("cockpit.snapshots_dir={}", snapshots.display()),
        ])
        .args(["--set", "database.ours=true"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("DATABASE_URL", database_url)
        .env("ELASTIC_URL", es.url())
        .env("JAEGER_URL", jaeger.url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.url())
        .env("OUTBOX_METRICS_PORT", free_port().to_string())
        .env("OUTBOX_HTTP_PORT", free_port().to_string())
        .env("OUTBOX_BASE_BACKOFF_SECONDS", "0.3")
        .env("OUTBOX_MAX_BACKOFF_SECONDS", "1")
        .env("OUTBOX_POLL_INTERVAL_MS", "50")
        .env("WORDLOOM_ENV", "test")
        .env("DRILL_WORKER_COMMAND", "");
    command
}

/// Starts `command` with its stderr in `log` (read back for failure messages).
fn spawn_logged(command: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    command
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap()
}

/// Waits for `condition` until `timeout`; the child must not exit meanwhile.
fn wait_for(
    child: &mut Child,
    log: &Path,
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before {what}:\n{}", read(log));
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {timeout:?}:\n{}",
            read(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The run directories of `scenario`, oldest first.
fn runs(snapshots: &Path, scenario: &str) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(snapshots.join(scenario))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs
}

fn journal_of(snapshots: &Path, scenario: &str) -> String {
    runs(snapshots, scenario)
        .last()
        .map(|run| read(&run.join("_timeline.jsonl")))
        .unwrap_or_default()
}

fn recorded(snapshots: &Path) -> Vec<Entry> {
    StateFile::beside(snapshots).entries().unwrap()
}

/// The workers the state file records: (pid, start time).
fn recorded_workers(snapshots: &Path) -> Vec<(u32, Option<u64>)> {
    recorded(snapshots)
        .into_iter()
        .filter_map(|e| match e.leftover {
            Leftover::Worker { pid, started, .. } => Some((pid, started)),
            _ => None,
        })
        .collect()
}

/// Waits until none of `workers` runs (a zombie does not).
fn assert_gone(workers: &[(u32, Option<u64>)], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while workers
        .iter()
        .any(|(pid, started)| procs::alive(*pid, *started))
    {
        assert!(
            Instant::now() < deadline,
            "a worker of the killed run survives it: {workers:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// kill -9, and the child reaped.
fn kill_9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn write_blocked(es: &EsStandin) -> String {
    let settings: serde_json::Value = reqwest::get(format!("{}/{INDEX}/_settings", es.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    settings[INDEX]["settings"]["index"]["blocks"]["write"]
        .as_str()
        .unwrap_or_else(|| panic!("no blocks.write in {settings:#}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_block_left_by_kill_9_is_lifted_by_the_next_run_which_passes() {
    let Some(first_db) = testkit::pg::fresh_database().await else {
        return;
    };
    let second_db = testkit::pg::fresh_database().await.unwrap();
    let es = EsStandin::start().await.unwrap();
    let jaeger = JaegerStandin::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("snapshots");
    let log = dir.path().join("first.stderr");

    let mut first = spawn_logged(
        &mut write_block_run(&first_db.url, &es, &jaeger, &snapshots),
        &log,
    );
    wait_for(
        &mut first,
        &log,
        "the write block in the journal",
        Duration::from_secs(90),
        || journal_of(&snapshots, "es_write_block_4xx").contains("set index.blocks.write=true"),
    );
    let workers = recorded_workers(&snapshots);
    assert!(
        !workers.is_empty(),
        "the worker is recorded: {:#?}",
        recorded(&snapshots)
    );
    kill_9(first);

    // Nothing could lift it: the block is on, and the state file says so.
    assert_eq!(write_blocked(&es).await, "true");
    assert!(
        recorded(&snapshots)
            .iter()
            .any(|e| matches!(&e.leftover, Leftover::EsWriteBlock { index, .. } if index == INDEX)),
        "{:#?}",
        recorded(&snapshots)
    );
    assert!(!read(&StateFile::beside(&snapshots).path()).contains("password"));
    // The worker died with its parent (PR_SET_PDEATHSIG), ports and all.
    assert_gone(&workers, Duration::from_secs(10));

    let second = write_block_run(&second_db.url, &es, &jaeger, &snapshots)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    eprintln!("second run:\n{stderr}");
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "left the ES write block on index {INDEX} at {}: lifting it",
            es.url()
        )),
        "{stderr}"
    );
    let journal = journal_of(&snapshots, "es_write_block_4xx");
    let leftover = journal
        .lines()
        .find(|l| l.contains("\"kind\":\"leftover\"") && l.contains("write block"))
        .unwrap_or_else(|| panic!("no leftover in the second run's journal:\n{journal}"));
    assert!(leftover.contains("\"restored\":true"), "{leftover}");
    // Its own block lifted too, and nothing left to the next start.
    assert_eq!(write_blocked(&es).await, "false");
    assert_eq!(recorded(&snapshots), Vec::new());
}

#[test]
fn kill_9_of_a_sandbox_run_leaves_no_worker_and_the_next_start_removes_its_cluster() {
    if !common::sandbox::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("snapshots");
    let log = dir.path().join("first.stderr");
    let mut first = spawn_logged(
        common::sandbox::command(&snapshots).args(["run", "es_429_inject", "--sandbox"]),
        &log,
    );
    wait_for(
        &mut first,
        &log,
        "a running worker",
        Duration::from_secs(120),
        || journal_of(&snapshots, "es_429_inject").contains("\"baseline\""),
    );
    let workers = recorded_workers(&snapshots);
    let cluster = recorded(&snapshots)
        .into_iter()
        .find_map(|e| match e.leftover {
            Leftover::SandboxPostgres {
                dir,
                postmaster_pid,
                ..
            } => Some((dir, postmaster_pid)),
            _ => None,
        });
    let (cluster_dir, postmaster) =
        cluster.unwrap_or_else(|| panic!("the cluster is recorded: {:#?}", recorded(&snapshots)));
    let postmaster = postmaster.expect("the postmaster's pid is recorded");
    assert!(!workers.is_empty());
    kill_9(first);
    assert_gone(&workers, Duration::from_secs(10));

    let second = common::sandbox::command(&snapshots)
        .args(["run", "es_429_inject", "--sandbox"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    eprintln!("second run:\n{stderr}");
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "left the sandbox's Postgres cluster in {}: stopping it",
            cluster_dir.display()
        )),
        "{stderr}"
    );
    assert!(!cluster_dir.exists(), "{} is left", cluster_dir.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    while procs::alive(postmaster, None) {
        assert!(
            Instant::now() < deadline,
            "the killed run's postmaster {postmaster} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The second sandbox removed its own cluster on its way out: nothing is left.
    assert_eq!(recorded(&snapshots), Vec::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_of_a_live_session_is_left_alone() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    let es = EsStandin::start().await.unwrap();
    let jaeger = JaegerStandin::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("snapshots");
    // A live session (its run's `.lock` held here) blocked another index.
    let client = reqwest::Client::new();
    let other = format!("{}/other-index", es.url());
    client
        .put(&other)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let block = serde_json::json!({"index": {"blocks": {"write": true}}});
    let put = client
        .put(format!("{other}/_settings"))
        .json(&block)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let live_run = snapshots.join("es_down_connect/20260101T000000");
    std::fs::create_dir_all(&live_run).unwrap();
    let lock = std::fs::File::create(live_run.join(".lock")).unwrap();
    lock.lock().unwrap();
    let leftover = Leftover::EsWriteBlock {
        url: es.url(),
        index: "other-index".into(),
    };
    let entry = Entry::new(
        drill_cockpit::leftovers::Owner::session(&live_run),
        leftover,
    );
    StateFile::beside(&snapshots).add(entry.clone()).unwrap();

    let ran = write_block_run(&db.url, &es, &jaeger, &snapshots)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("other-index"), "{stderr}");
    assert_eq!(recorded(&snapshots), vec![entry]);
    let settings: serde_json::Value = reqwest::get(format!("{other}/_settings"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        settings["other-index"]["settings"]["index"]["blocks"]["write"],
        "true"
    );
    drop(lock);
}

/// A proxy in front of `upstream` that holds its answer to the PUT setting the write
/// block (after ES applied it) and says so on `applied`.
async fn holding_proxy(upstream: String, applied: tokio::sync::mpsc::Sender<()>) -> String {
    use axum::body::Bytes;
    use axum::http::{Method, StatusCode, Uri};
    let client = reqwest::Client::new();
    let forward = move |method: Method, uri: Uri, body: Bytes| {
        let (client, upstream, applied) = (client.clone(), upstream.clone(), applied.clone());
        async move {
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
            let blocks = method == reqwest::Method::PUT
                && path.ends_with("/_settings")
                && String::from_utf8_lossy(&body).contains("true");
            let answer = client
                .request(method, format!("{upstream}{path}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            let text = answer.bytes().await.unwrap();
            if blocks {
                let _ = applied.send(()).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            (status, [("content-type", "application/json")], text)
        }
    };
    let app = axum::Router::new().fallback(forward);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_between_the_write_block_and_its_flag_still_lifts_it() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    let es = EsStandin::start().await.unwrap();
    let jaeger = JaegerStandin::start().await.unwrap();
    let (applied_tx, mut applied) = tokio::sync::mpsc::channel(1);
    let proxy = holding_proxy(es.url(), applied_tx).await;
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("snapshots");
    let log = dir.path().join("run.stderr");
    let mut command = write_block_run(&db.url, &es, &jaeger, &snapshots);
    command.env("ELASTIC_URL", &proxy);
    let mut child = spawn_logged(&mut command, &log);
    tokio::time::timeout(Duration::from_secs(90), applied.recv())
        .await
        .unwrap_or_else(|_| panic!("no write block within 90 s:\n{}", read(&log)));
    // ES applied the block; the run has not heard back yet: SIGTERM now.
    assert_eq!(write_blocked(&es).await, "true");
    // SAFETY: kill(2) of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let stderr = read(&log);
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "this run left the ES write block on index {INDEX}"
        )),
        "{stderr}"
    );
    assert_eq!(write_blocked(&es).await, "false", "{stderr}");
    assert_eq!(recorded(&snapshots), Vec::new());
}
