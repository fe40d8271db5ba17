//! The real cockpit binary in a terminal (tmux), driven by keys, against real
//! Postgres, a real Docker container of the ES stand-in, the Jaeger stand-in and the
//! bundled worker. And the same binary with every source unreachable.

mod common;

use std::time::Duration;

use common::tmux::{Tmux, line_with};

use testkit::docker::{
    ComposeLikeContainer, ES_STANDIN_IMAGE, engine, free_port, require_image, wait_http,
};
use testkit::jaeger::JaegerStandin;
use testkit::pg::Schema;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_drive_the_drill_from_es_stop_to_recovery() {
    drive_the_drill(Schema::Ours, None).await;
}

/// The same keys on the real world: upstream's schema (never migrated by the cockpit)
/// and a worker that is not ours (the Python test double), configured by name only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_drive_the_drill_on_upstreams_schema_with_a_foreign_worker() {
    let Some(foreign) = testkit::foreign_worker::command() else {
        return;
    };
    drive_the_drill(Schema::Upstream, Some(foreign)).await;
}

async fn drive_the_drill(schema: Schema, worker_command: Option<String>) {
    let Some(docker) = engine().await else { return };
    let Some(()) = require_image(&docker, ES_STANDIN_IMAGE).await else {
        return;
    };
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    if schema == Schema::Upstream {
        testkit::pg::apply_upstream_schema(&db.url).await;
    }
    let foreign = worker_command.is_some();
    let project = format!("drillui{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let es_port = free_port();
    let _container =
        ComposeLikeContainer::start(&docker, ES_STANDIN_IMAGE, &project, "es", es_port, 9200).await;
    assert!(
        wait_http(
            &format!("http://127.0.0.1:{es_port}/"),
            Duration::from_secs(15)
        )
        .await
    );
    let jaeger = JaegerStandin::start().await.unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", db.url.clone()),
        ("ELASTIC_URL", format!("http://127.0.0.1:{es_port}")),
        ("JAEGER_URL", jaeger.url()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.url()),
        ("COMPOSE_PROJECT_NAME", project.clone()),
        ("OUTBOX_METRICS_PORT", free_port().to_string()),
        ("OUTBOX_HTTP_PORT", free_port().to_string()),
        ("OUTBOX_BASE_BACKOFF_SECONDS", "0.3".into()),
        ("OUTBOX_MAX_BACKOFF_SECONDS", "1".into()),
        ("OUTBOX_MAX_ATTEMPTS", "100".into()),
        ("WORDLOOM_ENV", "test".into()),
        ("DRILL_WORKER_COMMAND", worker_command.unwrap_or_default()),
        ("TERM", "xterm-256color".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let args = vec![
        "--set".to_string(),
        format!("database.ours={}", schema == Schema::Ours),
        "--set".into(),
        format!("cockpit.snapshots_dir={}", snapshots.path().display()),
    ];
    let Some(tmux) = Tmux::start(&env, &args) else {
        return;
    };

    tmux.wait_for("the worker to run", Duration::from_secs(30), |s| {
        s.contains("worker    running") && s.contains("es        running")
    })
    .await;

    tmux.keys("s");
    tmux.wait_for("the confirmation", Duration::from_secs(5), |s| {
        s.contains("Stop `es` of project")
    })
    .await;
    tmux.keys("y");
    tmux.wait_for("the ES row to show stopped", Duration::from_secs(15), |s| {
        line_with(s, "es        ").is_some_and(|l| l.contains("exited"))
    })
    .await;

    tmux.keys("d");
    let screen = tmux
        .wait_for(
            "a retry with reason es_connect and its trace",
            Duration::from_secs(30),
            |s| {
                s.contains("retry_scheduled  es_connect")
                    && s.contains("result=retry reason=es_connect")
            },
        )
        .await;
    assert!(
        line_with(&screen, "delete  pending").is_some()
            || line_with(&screen, "delete  processing").is_some(),
        "{screen}"
    );
    if foreign {
        // Its 5 KB ERROR lines render compact with their trace id, and its 200 ms
        // poll lines fold into one row instead of hiding them.
        let screen = tmux
            .wait_for("folded poll lines", Duration::from_secs(10), |s| {
                s.lines()
                    .any(|l| l.contains("outbox.claim_batch") && l.contains('×'))
            })
            .await;
        let error = line_with(&screen, "ERROR   Outbox delete failed (es_connect)")
            .unwrap_or_else(|| panic!("no compact error line:\n{screen}"));
        assert!(
            error.contains("reason=es_connect") && error.contains("trace="),
            "{error}"
        );
        // The batch size it reports equals the one it was given under both names.
        assert!(screen.contains("batch 100"), "{screen}");
    }

    tmux.keys("S");
    tmux.wait_for("the event to reach done", Duration::from_secs(30), |s| {
        line_with(s, "delete  done").is_some()
    })
    .await;
    tmux.wait_for("the recovery check", Duration::from_secs(10), |s| {
        s.contains("✓ after `start es` the event reaches done")
    })
    .await;

    // The run must pass: the cockpit may ask to wait for a pending check.
    tmux.quit_waiting().await;
    let runs: Vec<_> = std::fs::read_dir(snapshots.path().join("es_down_connect"))
        .unwrap()
        .flatten()
        .collect();
    let result = std::fs::read_to_string(runs[0].path().join("_result.json"))
        .expect("final _result.json on quit");
    assert!(result.contains("\"ok\": true"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_sources_and_a_worker_that_exits_at_once_are_shown_not_fatal() {
    let snapshots = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock".to_string()),
        (
            "DATABASE_URL",
            "postgres://wordloom:hunter2@127.0.0.1:1/none".into(),
        ),
        ("ELASTIC_URL", "http://127.0.0.1:1".into()),
        ("JAEGER_URL", "http://127.0.0.1:1".into()),
        ("OUTBOX_METRICS_PORT", free_port().to_string()),
        ("DRILL_WORKER_COMMAND", "false".into()),
        ("TERM", "xterm-256color".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let args = vec![
        "--set".to_string(),
        format!("cockpit.snapshots_dir={}", snapshots.path().display()),
    ];
    let Some(tmux) = Tmux::start(&env, &args) else {
        return;
    };
    let screen = tmux
        .wait_for("every source's failure", Duration::from_secs(30), |s| {
            s.contains("cannot reach Docker at")
                && s.contains("cannot connect to Postgres")
                && s.contains("exited   code 1")
                && s.contains("cannot reach the worker's metrics")
        })
        .await;
    assert!(!screen.contains("hunter2"), "{screen}");
    tmux.keys("d");
    tmux.wait_for(
        "the insert's error in the status bar",
        Duration::from_secs(10),
        |s| s.contains("the database is not connected"),
    )
    .await;
    tmux.keys("s");
    tmux.keys("y");
    tmux.wait_for(
        "the stop's error in the status bar",
        Duration::from_secs(10),
        |s| s.contains("Docker is not connected"),
    )
    .await;
    tmux.quit_anyway().await;
}

/// The foreign worker at upstream's default `LOG_LEVEL=WARNING` hides its schema
/// marker: the cockpit says so in the checklist and the run fails that check by name,
/// without crashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_worker_at_warning_fails_the_marker_check_by_name() {
    let Some(foreign) = testkit::foreign_worker::command() else {
        return;
    };
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    testkit::pg::apply_upstream_schema(&db.url).await;
    let es = testkit::es::EsStandin::start().await.unwrap();
    let jaeger = JaegerStandin::start().await.unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock".to_string()),
        ("DATABASE_URL", db.url.clone()),
        ("ELASTIC_URL", es.url()),
        ("JAEGER_URL", jaeger.url()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.url()),
        ("OUTBOX_METRICS_PORT", free_port().to_string()),
        ("OUTBOX_HTTP_PORT", free_port().to_string()),
        ("WORDLOOM_ENV", "test".into()),
        ("LOG_LEVEL", "WARNING".into()),
        ("DRILL_WORKER_COMMAND", foreign),
        ("TERM", "xterm-256color".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let args = vec![
        "--set".to_string(),
        "database.ours=false".into(),
        "--set".into(),
        format!("cockpit.snapshots_dir={}", snapshots.path().display()),
    ];
    let Some(tmux) = Tmux::start(&env, &args) else {
        return;
    };
    tmux.wait_for(
        "the worker running and the marker missing",
        Duration::from_secs(30),
        // Counters with a Δ: the baseline is taken, so the worker already serves
        // /metrics, which it does only after the point where it logs its marker.
        |s| {
            s.contains("worker    running")
                && s.contains("Δ0")
                && s.contains("no evidence: marker line not")
        },
    )
    .await;
    tmux.quit_anyway().await;
    let run = std::fs::read_dir(snapshots.path().join("es_down_connect"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let timeline = std::fs::read_to_string(run.join("_timeline.jsonl")).unwrap_or_default();
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("_result.json"))
            .unwrap_or_else(|e| panic!("_result.json: {e}; journal:\n{timeline}")),
    )
    .unwrap();
    assert_eq!(result["ok"], false);
    let marker = result["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "schema_marker")
        .unwrap();
    assert_eq!(marker["status"], "failed", "{marker}");
}

/// B then F through keys, in one cockpit: the gate's 429 in (`x`) and out (`X`) around
/// the drill's event (`i`); then the picker (`D`) to stuck_reclaim, its event, the kill
/// of the worker holding the claim (`x`), worker 2's reclaim in its own log (`l`).
/// No Docker: the gate, the ES stand-in and processes are all these drills need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_drive_the_429_drill_and_the_stuck_reclaim_drill() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    let es = testkit::es::EsStandin::start().await.unwrap();
    let jaeger = JaegerStandin::start().await.unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock".to_string()),
        ("DATABASE_URL", db.url.clone()),
        ("ELASTIC_URL", es.url()),
        ("JAEGER_URL", jaeger.url()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.url()),
        ("OUTBOX_METRICS_PORT", free_port().to_string()),
        ("OUTBOX_HTTP_PORT", free_port().to_string()),
        ("OUTBOX_BASE_BACKOFF_SECONDS", "0.3".into()),
        ("OUTBOX_MAX_BACKOFF_SECONDS", "1".into()),
        ("OUTBOX_MAX_ATTEMPTS", "100".into()),
        ("WORDLOOM_ENV", "test".into()),
        ("TERM", "xterm-256color".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let args = vec![
        "--scenario".to_string(),
        "es_429_inject".into(),
        "--set".into(),
        "database.ours=true".into(),
        "--set".into(),
        format!("cockpit.snapshots_dir={}", snapshots.path().display()),
    ];
    let Some(tmux) = Tmux::start(&env, &args) else {
        return;
    };
    tmux.wait_for("the worker behind the gate", Duration::from_secs(30), |s| {
        s.contains("worker    running")
            && s.contains("Checklist · es_429_inject")
            && s.contains("Elasticsearch gate pass")
    })
    .await;

    // B: the gate answers every write 429; the drill's event is retried with es_429.
    tmux.keys("x");
    tmux.wait_for(
        "the 429 fault in the Faults pane",
        Duration::from_secs(10),
        |s| s.contains("Elasticsearch gate abort 429") && s.contains("the drill's fault is IN"),
    )
    .await;
    tmux.keys("i");
    tmux.wait_for(
        "retries with reason es_429, answered 429 by the gate",
        Duration::from_secs(30),
        |s| s.contains("retry_scheduled  es_429") && s.contains("← abort 429"),
    )
    .await;
    tmux.keys("X");
    tmux.wait_for(
        "the event done once the gate passes",
        Duration::from_secs(30),
        |s| {
            line_with(s, "upsert  done").is_some()
                && s.contains("✓ after the gate passes again the event reaches done")
        },
    )
    .await;

    // To F through the picker: B is closed (its last freeze) and F starts.
    tmux.keys("D");
    tmux.wait_for("the picker", Duration::from_secs(5), |s| {
        s.contains("● es_429_inject") && s.contains("stuck_reclaim")
    })
    .await;
    for _ in 0..4 {
        tmux.keys("Down");
    }
    tmux.keys("Enter");
    tmux.wait_for("the stuck_reclaim drill", Duration::from_secs(40), |s| {
        s.contains("Checklist · stuck_reclaim") && s.contains("worker 1  running")
    })
    .await;
    tmux.keys("i");
    tmux.wait_for("worker 1 holding the claim", Duration::from_secs(20), |s| {
        line_with(s, "upsert  processing").is_some()
    })
    .await;
    tmux.keys("x");
    tmux.wait_for(
        "worker 1 killed, worker 2 running and reclaiming",
        Duration::from_secs(40),
        |s| {
            line_with(s, "│worker 1  ").is_some_and(|l| l.contains("killed   signal 9"))
                && line_with(s, "│worker 2  ").is_some_and(|l| l.contains("running"))
                && line_with(s, "upsert  done").is_some()
                && s.contains("✓ worker 2 logs `Reclaimed N stuck outbox events`")
        },
    )
    .await;
    tmux.keys("l");
    tmux.wait_for("worker 2's log", Duration::from_secs(10), |s| {
        s.contains("Worker 2 log") && s.contains("Reclaimed 1 stuck outbox events")
    })
    .await;

    // Both runs must pass: the cockpit may ask to wait for a pending check.
    tmux.quit_waiting().await;
    for scenario in ["es_429_inject", "stuck_reclaim"] {
        let run = std::fs::read_dir(snapshots.path().join(scenario))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let result: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("_result.json")).unwrap())
                .unwrap();
        assert_eq!(result["ok"], true, "{scenario}: {result:#}");
        assert!(run.join("manifest.json").is_file(), "{scenario} closed");
    }
}
