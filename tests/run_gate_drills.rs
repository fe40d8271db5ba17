//! Drills that need no Docker, end to end with `drill-cockpit run`:
//! - es_429_inject (B): the fault gate in front of the ES stand-in answers every write
//!   with 429, the upsert is retried with reason es_429, the gate passes again and the
//!   event recovers;
//! - es_write_block_4xx (C): `index.blocks.write=true` through the ES API, the upsert
//!   fails terminally with es_4xx (never retried), the block is lifted afterwards.
//!
//! Each with the bundled worker on our schema and with the foreign (Python) worker on
//! upstream's: the drills are worker-agnostic.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::docker::free_port;
use testkit::es::EsStandin;
use testkit::jaeger::JaegerStandin;
use testkit::pg::Schema;

/// The two tests of a drill: the bundled worker on our schema, and the foreign (Python)
/// worker on upstream's — the same drill, unchanged.
macro_rules! on_both_workers {
    ($run:ident, $bundled:ident, $foreign:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $bundled() {
            $run(Schema::Ours, None).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $foreign() {
            let Some(foreign) = testkit::foreign_worker::command() else {
                return;
            };
            $run(Schema::Upstream, Some(foreign)).await;
        }
    };
}

/// The Δ of an observed counter of `_result.json` (upstream's key).
fn delta(observed: &serde_json::Value, key: &str) -> f64 {
    observed[key]["delta"]
        .as_f64()
        .unwrap_or_else(|| panic!("no Δ of {key} in {observed:#}"))
}

fn run_dir(snapshots: &Path, scenario: &str) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(snapshots.join(scenario))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    runs.sort();
    runs.pop().expect("a run directory")
}

/// What one headless run left: its `_result.json`, its directory, and the ES stand-in
/// (still running, to look at after the drill).
struct Ran {
    result: serde_json::Value,
    dir: PathBuf,
    es: EsStandin,
    _snapshots: tempfile::TempDir,
}

/// Runs `scenario` headless; checks the verdict passed, `verify` agrees, and so do
/// upstream's own rules applied to our run directory.
async fn run_drill(scenario: &str, schema: Schema, worker: Option<String>) -> Option<Ran> {
    let (output, ran) = launch(scenario, schema, worker, false).await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(ran.result["ok"], true, "{:#}", ran.result);
    // Graded again from the files alone: the same verdict, check by check.
    let verify = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &ran.dir.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert_same_verdict(&ran);
    // Our run directory carries the files upstream's rules read, and they agree, but
    // where a file upstream reads would claim what did not happen: collector_down's
    // fault is our gate, no `compose stop jaeger` ran, so there is no exit code to read
    // (`_inject_collector.txt` says what put the fault in).
    let upstream =
        drill_cockpit::drill::upstream::grade(&drill_cockpit::evidence::foreign::read(&ran.dir))
            .expect("one of upstream's scenarios");
    let no_command_ran = |c: &drill_cockpit::drill::CheckOutcome| {
        scenario == "collector_down"
            && c.id == "inject_exit_code"
            && c.observed == "no _inject_jaeger_stop.exitcode.txt"
    };
    assert!(
        upstream
            .checks
            .iter()
            .all(|c| c.status == drill_cockpit::drill::CheckStatus::Passed || no_command_ran(c)),
        "upstream's rules disagree: {:#?}",
        upstream
            .checks
            .iter()
            .map(|c| (c.id, c.status, c.observed.clone()))
            .collect::<Vec<_>>()
    );
    Some(ran)
}

/// `_result.json` (what the run wrote, and its report.md shows) and `verify --json`
/// (graded again from the raw files) agree on every check.
fn assert_same_verdict(ran: &Ran) {
    let verify = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", "--json", &ran.dir.display().to_string()])
        .output()
        .unwrap();
    let graded: serde_json::Value = serde_json::from_slice(&verify.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&verify.stdout)));
    let statuses = |result: &serde_json::Value| -> Vec<(String, String)> {
        result["verdict"]
            .as_array()
            .map(|checks| {
                checks
                    .iter()
                    // `verify` adds its own integrity check of the manifest.
                    .filter(|c| c["id"] != "manifest")
                    .map(|c| (c["id"].to_string(), c["status"].to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let graded = if graded.is_array() {
        graded[0].clone()
    } else {
        graded
    };
    assert_eq!(
        statuses(&ran.result),
        statuses(&graded),
        "written vs verify: {graded:#}"
    );
    assert_eq!(ran.result["ok"], graded["ok"]);
    let report = std::fs::read_to_string(ran.dir.join("report.md")).unwrap();
    let verdict_word = if ran.result["ok"] == true {
        "PASSED"
    } else {
        "FAILED"
    };
    assert!(report.contains(verdict_word), "{report}");
}

/// A control run of `scenario` (everything but the fault): the verdict must fail, and
/// `verify` must fail it too.
async fn control_fails(scenario: &str) {
    let Some((output, ran)) = launch(scenario, Schema::Ours, None, true).await else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(ran.result["ok"], false, "{:#}", ran.result);
    // It fails on the check that names the fault's effect, not on something else.
    let effect = drill_cockpit::drill::scenario::find(scenario)
        .unwrap()
        .effect;
    let check = ran.result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == effect)
        .unwrap_or_else(|| panic!("no check {effect} in {:#}", ran.result));
    assert_ne!(check["status"], "passed", "{check:#}");
    assert_same_verdict(&ran);
    let verify = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &ran.dir.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1));
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(said.contains("CONTROL RUN"), "{said}");
}

/// Runs `drill-cockpit run` against fresh stand-ins and a fresh database.
async fn launch(
    scenario: &str,
    schema: Schema,
    worker: Option<String>,
    control: bool,
) -> Option<(std::process::Output, Ran)> {
    launch_with(scenario, schema, worker, control, &[]).await
}

/// [`launch`] with more arguments for `run`.
async fn launch_with(
    scenario: &str,
    schema: Schema,
    worker: Option<String>,
    control: bool,
    extra: &[&str],
) -> Option<(std::process::Output, Ran)> {
    let db = testkit::pg::fresh_database().await?;
    if schema == Schema::Upstream {
        testkit::pg::apply_upstream_schema(&db.url).await;
    }
    let es = EsStandin::start().await.unwrap();
    let jaeger = JaegerStandin::start().await.unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args([
            "run",
            scenario,
            "--duration",
            // A control run's checks wait in vain: a shorter window.
            if control { "8s" } else { "20s" },
            "--recovery-timeout",
            "30s",
        ])
        .args(control.then_some("--control"))
        .args(extra)
        .args([
            "--set",
            &format!("cockpit.snapshots_dir={}", snapshots.path().display()),
        ])
        .args([
            "--set",
            &format!("database.ours={}", schema == Schema::Ours),
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("DATABASE_URL", &db.url)
        .env("ELASTIC_URL", es.url())
        .env("JAEGER_URL", jaeger.url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.url())
        .env("OUTBOX_METRICS_PORT", free_port().to_string())
        .env("OUTBOX_HTTP_PORT", free_port().to_string())
        .env("OUTBOX_BASE_BACKOFF_SECONDS", "0.3")
        .env("OUTBOX_MAX_BACKOFF_SECONDS", "1")
        .env("OUTBOX_POLL_INTERVAL_MS", "50")
        .env("WORDLOOM_ENV", "test")
        .env("DRILL_WORKER_COMMAND", worker.unwrap_or_default())
        .output()
        .unwrap();
    eprintln!(
        "run {scenario} ({schema:?} schema{}): {:.1} s\n{}",
        if control { ", control" } else { "" },
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = run_dir(snapshots.path(), scenario);
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_result.json")).unwrap()).unwrap();
    Some((
        output,
        Ran {
            result,
            dir,
            es,
            _snapshots: snapshots,
        },
    ))
}

async fn run_b(schema: Schema, worker: Option<String>) {
    let Some(ran) = run_drill("es_429_inject", schema, worker).await else {
        return;
    };
    assert!(
        ran.result["observed"]["outbox_retry_scheduled_total_reason_es_429"]["delta"]
            .as_f64()
            .unwrap()
            >= 1.0,
        "{:#}",
        ran.result
    );
    // The gate's own record of what it did is evidence too.
    let exports: Vec<PathBuf> = std::fs::read_dir(ran.dir.join("_exports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("gate-")
        })
        .collect();
    assert!(!exports.is_empty());
    let records = std::fs::read_to_string(exports.last().unwrap()).unwrap();
    assert!(
        records
            .lines()
            .any(|l| l.contains("\"status\":429") && l.contains("abort 429")),
        "{records}"
    );
}

async fn run_c(schema: Schema, worker: Option<String>) {
    let Some(ran) = run_drill("es_write_block_4xx", schema, worker).await else {
        return;
    };
    let observed = &ran.result["observed"];
    assert!(
        delta(observed, "outbox_failed_total_reason_es_4xx") >= 1.0,
        "{observed:#}"
    );
    assert_eq!(
        observed["outbox_retry_scheduled_total_reason_es_4xx"]["delta"],
        0.0
    );
    let end = ran.result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "recovered")
        .unwrap();
    assert_eq!(end["observed"], "status failed, reason es_4xx", "{end}");
    let journal = std::fs::read_to_string(ran.dir.join("_timeline.jsonl")).unwrap();
    assert!(
        journal.contains("set index.blocks.write=false"),
        "{journal}"
    );
    // The block is lifted: the index takes writes again.
    let put = reqwest::Client::new()
        .put(format!(
            "{}/wordloom-test-search-index/_doc/after",
            ran.es.url()
        ))
        .json(&serde_json::json!({"text": "after the drill"}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
}

on_both_workers!(
    run_b,
    es_429_inject_passes_with_the_bundled_worker,
    es_429_inject_passes_with_the_foreign_worker_on_upstreams_schema
);

on_both_workers!(
    run_c,
    es_write_block_4xx_passes_with_the_bundled_worker,
    es_write_block_4xx_passes_with_the_foreign_worker_on_upstreams_schema
);

/// G: an upsert, then the same delete twice (each once the previous one is done): the
/// second delete finds no document and is an idempotent no-op, nothing fails.
async fn run_g(schema: Schema, worker: Option<String>) {
    let Some(ran) = run_drill("duplicate_delivery", schema, worker).await else {
        return;
    };
    let observed = &ran.result["observed"];
    assert!(
        delta(observed, "outbox_idempotent_noop_total_reason_es_404") >= 1.0,
        "{observed:#}"
    );
    assert!(delta(observed, "outbox_processed_total") >= 3.0);
    assert_eq!(observed["outbox_failed_total"]["delta"], 0.0);
    let journal = std::fs::read_to_string(ran.dir.join("_timeline.jsonl")).unwrap();
    let inserts: Vec<serde_json::Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["kind"] == "insert")
        .collect();
    assert_eq!(inserts.len(), 3);
    assert!(
        inserts
            .iter()
            .all(|e| e["entity_id"] == inserts[0]["entity_id"]),
        "one entity: {inserts:?}"
    );
}

on_both_workers!(
    run_g,
    duplicate_delivery_passes_with_the_bundled_worker,
    duplicate_delivery_passes_with_the_foreign_worker_on_upstreams_schema
);

/// H: the entity's version 2, then a replay of version 1: the ES document keeps version
/// 2 — by a 409 no-op (the bundled worker's external versions) or by a re-read of the
/// current row (upstream's plain PUTs): how it held is a finding, not a requirement.
async fn run_h(schema: Schema, worker: Option<String>) {
    let foreign = worker.is_some();
    let Some(ran) = run_drill("projection_version", schema, worker).await else {
        return;
    };
    let observed = &ran.result["observed"];
    assert_eq!(observed["outbox_failed_total"]["delta"], 0.0);
    let check = |id: &str| {
        ran.result["verdict"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {:#}", ran.result))
            .clone()
    };
    let kept = check("document_version");
    assert_eq!(
        kept["observed"], "the document holds version 2; expected 2",
        "{kept}"
    );
    assert_eq!(check("replay_done")["status"], "passed");
    let findings = ran.result["findings"].to_string();
    let how = if foreign {
        "no 409"
    } else {
        "ES refused the stale write"
    };
    assert!(findings.contains(how), "{findings}");
    let exports = std::fs::read_dir(&ran.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("_es_document-"))
        .count();
    assert!(exports >= 1, "the document is evidence");
}

on_both_workers!(
    run_h,
    projection_version_passes_with_the_bundled_worker,
    projection_version_passes_with_the_foreign_worker_on_upstreams_schema
);

/// collector_down: a gate in front of the collector refuses connections from before the
/// worker starts; processing goes on (processed ≥ 1, nothing failed), no span expected.
async fn run_collector_down(schema: Schema, worker: Option<String>) {
    let Some(ran) = run_drill("collector_down", schema, worker).await else {
        return;
    };
    let observed = &ran.result["observed"];
    assert!(delta(observed, "outbox_processed_total") >= 1.0);
    assert_eq!(observed["outbox_failed_total"]["delta"], 0.0);
    let ids: Vec<&str> = ran.result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(!ids.iter().any(|id| id.starts_with("trace_by_")), "{ids:?}");
    assert!(ids.contains(&"collector_refused"), "{ids:?}");
    let journal = std::fs::read_to_string(ran.dir.join("_timeline.jsonl")).unwrap();
    assert!(journal.contains("hang up on every connection"), "{journal}");
    // No command ran: no exit code claims one did; the run says what put the fault in.
    assert!(!ran.dir.join("_inject_jaeger_stop.exitcode.txt").exists());
    assert!(!ran.dir.join("_inject_jaeger_stop.stdout.txt").exists());
    let injected = std::fs::read_to_string(ran.dir.join("_inject_collector.txt")).unwrap();
    assert!(
        injected.starts_with("the cockpit's collector gate refused OTLP exports (no command ran)"),
        "{injected}"
    );
    // The collector's gate recorded the worker's export attempts it turned away.
    let turned_away: usize = std::fs::read_dir(ran.dir.join("_exports"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("collector-gate-")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap().lines().count())
        .max()
        .unwrap_or(0);
    assert!(turned_away >= 1);
}

on_both_workers!(
    run_collector_down,
    collector_down_passes_with_the_bundled_worker,
    collector_down_passes_with_the_foreign_worker_on_upstreams_schema
);

/// D: bulk on, two upserts in one claim; the gate rewrites item 0 of the real `_bulk`
/// answer to 400: a partial bulk, the poison row failed, the good one done.
async fn run_d(schema: Schema, worker: Option<String>) {
    let foreign = worker.is_some();
    let Some(ran) = run_drill("es_bulk_partial", schema, worker).await else {
        return;
    };
    let observed = &ran.result["observed"];
    for key in [
        "outbox_es_bulk_requests_total",
        "outbox_es_bulk_items_total",
        "outbox_es_bulk_item_failures_total",
    ] {
        assert!(
            observed
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with(key)),
            "{key}: {observed:#}"
        );
    }
    let end = ran.result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "recovered")
        .unwrap();
    assert_eq!(end["status"], "passed", "{end}");
    // The batch is found by its claim batch id whichever way the worker ties it to the
    // events (its per-event spans, or its claim line when it writes none in bulk mode).
    let batch = ran.result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "trace_by_batch")
        .unwrap();
    assert_eq!(batch["status"], "passed", "{batch}");
    // Upstream's bulk span says `ok` on a partial bulk: a finding, not a failure.
    let findings = ran.result["findings"].to_string();
    assert_eq!(findings.contains("says result=ok"), foreign, "{findings}");
    let inserts = std::fs::read_to_string(ran.dir.join("_timeline.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"kind\":\"insert\""))
        .count();
    assert_eq!(inserts, 2);
}

on_both_workers!(
    run_d,
    es_bulk_partial_passes_with_the_bundled_worker,
    es_bulk_partial_passes_with_the_foreign_worker_on_upstreams_schema
);

/// E: two workers, a one-second lease, the gate holding the first write for three: the
/// lease is lost under one worker, the other reclaims and finalizes; the late finalize
/// is skipped (owner mismatch), the row is finalized once.
async fn run_e(schema: Schema, worker: Option<String>) {
    let Some(ran) = run_drill("db_claim_contention", schema, worker).await else {
        return;
    };
    let observed = &ran.result["observed"];
    assert!(
        delta(observed, "outbox_owner_mismatch_skips_total") >= 1.0,
        "{observed:#}"
    );
    for file in [
        "metrics-before-1.txt",
        "metrics-before-2.txt",
        "metrics-after-1.txt",
        "metrics-after-2.txt",
    ] {
        assert!(ran.dir.join("_metrics").join(file).is_file(), "{file}");
    }
    let logs: Vec<String> = std::fs::read_dir(ran.dir.join("_logs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(logs.iter().any(|l| l.starts_with("worker2-")), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_claim_contention_passes_with_the_bundled_worker() {
    run_e(Schema::Ours, None).await;
}

/// Upstream's worker keeps E's invariant (the row finalized once, by the worker that
/// reclaimed it) but does not count the lost lease and counts the late finalize as
/// processed (CONTRACT §7): the drill fails, and says so in words its author can act on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_claim_contention_fails_with_upstreams_worker_and_names_its_defect() {
    let Some(foreign) = testkit::foreign_worker::command() else {
        return;
    };
    let Some((output, ran)) = launch(
        "db_claim_contention",
        Schema::Upstream,
        Some(foreign),
        false,
    )
    .await
    else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let status = |id: &str| {
        ran.result["verdict"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].clone())
            .unwrap_or_else(|| panic!("no {id} in {:#}", ran.result))
    };
    assert_eq!(status("finalized_once"), "passed", "{:#}", ran.result);
    assert_eq!(status("owner_mismatch_delta"), "failed", "{:#}", ran.result);
    let findings = ran.result["findings"].to_string();
    assert!(findings.contains("The invariant held"), "{findings}");
    assert!(
        findings.contains("did not report the lost lease"),
        "{findings}"
    );
    assert!(
        findings.contains("over-counted: outbox_processed_total"),
        "{findings}"
    );
    let report = std::fs::read_to_string(ran.dir.join("report.md")).unwrap();
    assert!(report.contains("## Findings") && report.contains("did not report the lost lease"));
}

/// F: worker 1 claims (its write held by the gate), worker 2 starts, worker 1 is killed
/// with SIGKILL; worker 2 reclaims the expired lease and processes the event.
async fn run_f(schema: Schema, worker: Option<String>) {
    let Some(ran) = run_drill("stuck_reclaim", schema, worker).await else {
        return;
    };
    let journal = std::fs::read_to_string(ran.dir.join("_timeline.jsonl")).unwrap();
    assert!(journal.contains("kill -9"), "{journal}");
    let reclaimed = ran.result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "reclaimed")
        .unwrap();
    assert_eq!(reclaimed["status"], "passed", "{reclaimed}");
    let after_1 = std::fs::read_to_string(ran.dir.join("_metrics/metrics-after-1.txt")).unwrap();
    assert!(after_1.starts_with("# drill-cockpit: worker 1 was killed"));
}

on_both_workers!(
    run_f,
    stuck_reclaim_passes_with_the_bundled_worker,
    stuck_reclaim_passes_with_the_foreign_worker_on_upstreams_schema
);

// Control runs: each drill without its fault must fail (its checks need the fault).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_429_inject_fails_without_its_fault() {
    control_fails("es_429_inject").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_write_block_4xx_fails_without_its_fault() {
    control_fails("es_write_block_4xx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_bulk_partial_fails_without_its_fault() {
    control_fails("es_bulk_partial").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_claim_contention_fails_without_its_fault() {
    control_fails("db_claim_contention").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_reclaim_fails_without_its_fault() {
    control_fails("stuck_reclaim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_fails_without_the_second_delete() {
    control_fails("duplicate_delivery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_version_fails_without_the_replay() {
    control_fails("projection_version").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_fails_while_the_collector_is_up() {
    control_fails("collector_down").await;
}

/// `--inject worker`: upstream's own way, the worker's OUTBOX_EXPERIMENT_* switches put
/// the fault in (B: every upsert answered 429 before it is sent, taken out by replacing
/// the worker; D: item 0 of each `_bulk` answer rewritten; E: a non-atomic claim;
/// F: a sleep after the claim, then the kill) — graded by the same checks.
async fn in_worker(scenario: &str) {
    let Some(foreign) = testkit::foreign_worker::command() else {
        return;
    };
    let Some((output, ran)) = launch_with(
        scenario,
        Schema::Upstream,
        Some(foreign),
        false,
        &["--inject", "worker"],
    )
    .await
    else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(ran.result["ok"], true, "{:#}", ran.result);
    assert_same_verdict(&ran);
    let journal = std::fs::read_to_string(ran.dir.join("_timeline.jsonl")).unwrap();
    assert!(
        journal.contains("OUTBOX_EXPERIMENT_"),
        "journaled as such: {journal}"
    );
    // Nothing was injected through the gate.
    assert!(
        !journal.contains("\"by\":\"drill\",\"fault\":\"abort 429"),
        "{journal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_429_inject_passes_with_upstreams_in_worker_switches() {
    in_worker("es_429_inject").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_bulk_partial_passes_with_upstreams_in_worker_switches() {
    in_worker("es_bulk_partial").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_claim_contention_passes_with_upstreams_in_worker_switches() {
    in_worker("db_claim_contention").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_reclaim_passes_with_upstreams_in_worker_switches() {
    in_worker("stuck_reclaim").await;
}

#[test]
fn in_worker_injection_is_refused_for_the_bundled_worker_and_drills_without_a_switch() {
    let refused = |args: &[&str], worker: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .args(args)
            .env("DRILL_WORKER_COMMAND", worker)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = refused(&["run", "es_429_inject", "--inject", "worker"], "");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the bundled worker has no in-worker fault switches"),
        "{stderr}"
    );
    let (code, stderr) = refused(
        &["run", "es_down_connect", "--inject", "worker"],
        "python3 w.py",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("upstream has no in-worker switch for es_down_connect"),
        "{stderr}"
    );
}

/// A worker 2 that finds its port taken (another process bound it between the
/// cockpit's pick and the worker's bind: the race this suite once lost) is started again
/// on new ports; the drill is not failed for it, and the restart is journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_2_that_lost_its_port_is_started_again_on_new_ports() {
    let scripts = tempfile::tempdir().unwrap();
    let flag = scripts.path().join("worker-2-failed-once");
    let script = scripts.path().join("worker.sh");
    // Worker 2's first start fails as a worker does when its port is taken; every other
    // start is the bundled worker.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$OUTBOX_WORKER_ID\" in *-w2) if [ ! -e '{flag}' ]; then touch '{flag}'; echo \"OSError: [Errno 98] Address already in use\" >&2; exit 1; fi;; esac\nexec '{exe}' worker\n",
            flag = flag.display(),
            exe = env!("CARGO_BIN_EXE_drill-cockpit"),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let Some(ran) = run_drill(
        "db_claim_contention",
        Schema::Ours,
        Some(script.display().to_string()),
    )
    .await
    else {
        return;
    };
    assert!(flag.exists(), "worker 2's first start failed as planned");
    let journal = std::fs::read_to_string(ran.dir.join("_timeline.jsonl")).unwrap();
    assert!(
        journal.contains("another process took its port"),
        "{journal}"
    );
    let log = std::fs::read_dir(ran.dir.join("_logs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("worker2"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(
        log.contains("Address already in use"),
        "both starts in one log: {log}"
    );
}
