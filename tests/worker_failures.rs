//! The reference worker's failure behaviour, run as a real process against real
//! Postgres and the ES/Jaeger stand-ins: every reason path and the idempotent no-ops.

mod common;

use std::time::Duration;

use common::{INDEX, Rig, eventually};
use drill_cockpit::db::outbox::{NewEvent, Op, insert_event};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn es_down_is_es_connect_retried_with_backoff_then_done_after_es_returns() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.server.stop();
    let worker = rig.spawn_worker("w-a", &[]);
    worker.wait_ready().await;
    let id = rig.insert(Op::Delete, 1).await[0];
    assert!(
        eventually(WAIT, || async {
            worker
                .counter(
                    "outbox_retry_scheduled_total",
                    Some(("reason", "es_connect")),
                )
                .await
                >= 2.0
        })
        .await,
        "no es_connect retries; log:\n{}",
        worker.log()
    );
    assert!(
        worker
            .counter("outbox_failed_total", Some(("reason", "es_connect")))
            .await
            >= 2.0
    );
    assert_eq!(
        worker.counter("outbox_terminal_failed_total", None).await,
        0.0
    );
    let (status, attempts, reason, _) = rig.row(id).await;
    assert!(status == "pending" || status == "processing", "{status}");
    assert!(attempts >= 2);
    assert_eq!(reason.as_deref(), Some("es_connect"));
    let log = worker.log();
    let retry_line = log
        .lines()
        .find(|l| l.contains("\"reason\":\"es_connect\""))
        .expect("a retry log line");
    let parsed: serde_json::Value = serde_json::from_str(retry_line).unwrap();
    for field in [
        "reason",
        "attempt",
        "outbox_event_id",
        "claim_batch_id",
        "trace_id",
        "span_id",
    ] {
        assert!(
            !parsed[field].is_null(),
            "retry line lacks {field}: {retry_line}"
        );
    }
    assert_eq!(parsed["outbox_event_id"], id.to_string());

    rig.es.server.start().await.unwrap();
    assert!(
        eventually(WAIT, || async { rig.row(id).await.0 == "done" }).await,
        "not done after ES returned"
    );
    // A delete of a document that never existed is an idempotent no-op.
    assert_eq!(
        worker
            .counter("outbox_idempotent_noop_total", Some(("reason", "es_404")))
            .await,
        1.0
    );
}

#[tokio::test]
async fn es_429_and_5xx_are_retried_and_recover() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.state.inject(429, 2);
    let worker = rig.spawn_worker("w-b", &[]);
    worker.wait_ready().await;
    let id = rig.insert(Op::Upsert, 1).await[0];
    assert!(
        eventually(WAIT, || async { rig.row(id).await.0 == "done" }).await,
        "log:\n{}",
        worker.log()
    );
    assert_eq!(
        worker
            .counter("outbox_retry_scheduled_total", Some(("reason", "es_429")))
            .await,
        2.0
    );

    rig.es.state.inject(503, 1);
    let id = rig.insert(Op::Upsert, 1).await[0];
    assert!(eventually(WAIT, || async { rig.row(id).await.0 == "done" }).await);
    assert_eq!(
        worker
            .counter("outbox_retry_scheduled_total", Some(("reason", "es_5xx")))
            .await,
        1.0
    );
    assert_eq!(
        worker.counter("outbox_terminal_failed_total", None).await,
        0.0
    );
}

#[tokio::test]
async fn write_block_4xx_is_terminal_at_once_with_reason_and_error() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.state.set_write_block(INDEX, true);
    let worker = rig.spawn_worker("w-c", &[]);
    worker.wait_ready().await;
    let id = rig.insert(Op::Upsert, 1).await[0];
    assert!(
        eventually(WAIT, || async { rig.row(id).await.0 == "failed" }).await,
        "log:\n{}",
        worker.log()
    );
    let (_, attempts, reason, owner) = rig.row(id).await;
    assert_eq!(
        (attempts, reason.as_deref(), owner),
        (1, Some("es_4xx"), None)
    );
    let error: String = sqlx::query_scalar("SELECT error FROM search_outbox_events WHERE id = $1")
        .bind(id)
        .fetch_one(&rig.pool)
        .await
        .unwrap();
    assert!(error.contains("cluster_block_exception"), "{error}");
    assert_eq!(
        worker
            .counter("outbox_failed_total", Some(("reason", "es_4xx")))
            .await,
        1.0
    );
    assert_eq!(
        worker
            .counter("outbox_terminal_failed_total", Some(("reason", "es_4xx")))
            .await,
        1.0
    );
    assert_eq!(
        worker.counter("outbox_retry_scheduled_total", None).await,
        0.0
    );
}

#[tokio::test]
async fn slow_es_is_es_timeout_and_exhausted_attempts_become_terminal() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.state.set_delay(Duration::from_millis(600));
    let worker = rig.spawn_worker(
        "w-d",
        &[
            ("OUTBOX_ES_TIMEOUT_SECONDS", "0.2"),
            ("OUTBOX_MAX_ATTEMPTS", "2"),
        ],
    );
    worker.wait_ready().await;
    let id = rig.insert(Op::Upsert, 1).await[0];
    assert!(
        eventually(WAIT, || async { rig.row(id).await.0 == "failed" }).await,
        "log:\n{}",
        worker.log()
    );
    let (_, attempts, reason, _) = rig.row(id).await;
    assert_eq!((attempts, reason.as_deref()), (2, Some("es_timeout")));
    assert_eq!(
        worker
            .counter(
                "outbox_retry_scheduled_total",
                Some(("reason", "es_timeout"))
            )
            .await,
        1.0
    );
    assert_eq!(
        worker
            .counter(
                "outbox_terminal_failed_total",
                Some(("reason", "es_timeout"))
            )
            .await,
        1.0
    );
}

#[tokio::test]
async fn stale_version_is_a_409_noop_and_never_regresses_the_document() {
    let Some(rig) = Rig::new().await else { return };
    let worker = rig.spawn_worker("w-e", &[]);
    worker.wait_ready().await;
    let entity = uuid::Uuid::new_v4();
    let newer = insert_event(
        &rig.pool,
        &NewEvent {
            op: Op::Upsert,
            entity_id: entity,
            version: Some(5),
            traceparent: None,
        },
    )
    .await
    .unwrap();
    assert!(eventually(WAIT, || async { rig.row(newer).await.0 == "done" }).await);
    // A replay of an older version reaches ES after the newer one.
    let stale = sqlx::query_scalar::<_, uuid::Uuid>(
        "INSERT INTO search_outbox_events (id, entity_type, entity_id, op, event_version) VALUES (gen_random_uuid(), 'block', $1, 'delete', 3) RETURNING id",
    )
    .bind(entity)
    .fetch_one(&rig.pool)
    .await
    .unwrap();
    assert!(eventually(WAIT, || async { rig.row(stale).await.0 == "done" }).await);
    assert_eq!(
        worker
            .counter("outbox_idempotent_noop_total", Some(("reason", "es_409")))
            .await,
        1.0
    );
    let doc = rig
        .es
        .state
        .document(INDEX, &entity.to_string())
        .expect("document kept");
    assert_eq!(doc.version, 5);
    assert_eq!(doc.source["event_version"], json!(5));
}

#[tokio::test]
async fn bulk_settles_items_on_their_own_and_counts_partial() {
    let Some(rig) = Rig::new().await else { return };
    // A mapped field the poison document violates.
    let client = reqwest::Client::new();
    client
        .put(format!("{}/{INDEX}", rig.es.url()))
        .json(&json!({"mappings": {"properties": {"rank_score": {"type": "double"}, "text": {"type": "long"}}}}))
        .send()
        .await
        .unwrap();
    let good = rig.insert(Op::Delete, 3).await;
    let poison = rig.insert(Op::Upsert, 1).await[0]; // its text "block … version 1" is not a long
    let worker = rig.spawn_worker(
        "w-f",
        &[("OUTBOX_USE_ES_BULK", "1"), ("OUTBOX_BATCH_SIZE", "10")],
    );
    worker.wait_ready().await;
    assert!(
        eventually(WAIT, || async { rig.row(poison).await.0 == "failed" }).await,
        "log:\n{}",
        worker.log()
    );
    for id in good {
        assert_eq!(rig.row(id).await.0, "done");
    }
    assert_eq!(
        worker
            .counter("outbox_es_bulk_requests_total", Some(("result", "partial")))
            .await,
        1.0
    );
    let samples = worker.metrics().await.unwrap();
    assert_eq!(
        samples.sum("outbox_es_bulk_items_total", &[("result", &["success"])]),
        3.0
    );
    assert_eq!(
        samples.sum("outbox_es_bulk_items_total", &[("result", &["failed"])]),
        1.0
    );
    assert_eq!(
        samples.sum(
            "outbox_es_bulk_item_failures_total",
            &[("failure_class", &["4xx"])]
        ),
        1.0
    );
    assert_eq!(rig.row(poison).await.2.as_deref(), Some("es_4xx"));
}

#[tokio::test]
async fn upsert_without_its_search_index_row_is_skipped_and_logged() {
    let Some(rig) = Rig::new().await else { return };
    let worker = rig.spawn_worker("w-g", &[]);
    worker.wait_ready().await;
    let orphan = sqlx::query_scalar::<_, uuid::Uuid>(
        "INSERT INTO search_outbox_events (id, entity_type, entity_id, op, event_version) VALUES (gen_random_uuid(), 'block', gen_random_uuid(), 'upsert', 1) RETURNING id",
    )
    .fetch_one(&rig.pool)
    .await
    .unwrap();
    assert!(eventually(WAIT, || async { rig.row(orphan).await.0 == "done" }).await);
    // The row is finalized before its line reaches the log file: wait for the line too.
    assert!(
        eventually(WAIT, || async {
            worker.log().contains("no search_index row")
        })
        .await,
        "no 'no search_index row' line in the worker's log:\n{}",
        worker.log()
    );
    assert_eq!(
        worker
            .counter(
                "outbox_idempotent_noop_total",
                Some(("reason", "no_source_row"))
            )
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_taken_metrics_port_or_unreachable_database_exits_1_with_the_fix() {
    let Some(rig) = Rig::new().await else { return };
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port().to_string();
    let mut worker = rig.spawn_worker("w-h", &[("OUTBOX_METRICS_PORT", &taken)]);
    let status = worker
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("worker exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        worker
            .log()
            .contains("set OUTBOX_METRICS_PORT to a free port"),
        "{}",
        worker.log()
    );

    let mut worker = rig.spawn_worker(
        "w-i",
        &[(
            "DATABASE_URL",
            "postgres://wordloom:hunter2@127.0.0.1:1/none",
        )],
    );
    let status = worker
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("worker exits");
    assert_eq!(status.code(), Some(1));
    let log = worker.log();
    assert!(log.contains("cannot connect to Postgres"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
}
