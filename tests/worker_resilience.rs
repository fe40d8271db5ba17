//! The reference worker survives what drills do to it: kill -9, SIGTERM, a second
//! worker, a Postgres restart; and its spans are findable by the contract's pivots.

mod common;

use std::time::Duration;

use common::{Rig, eventually};
use drill_cockpit::db::outbox::Op;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_killed_workers_claimed_rows_are_reclaimed_by_another_after_the_lease() {
    let Some(rig) = Rig::new().await else { return };
    // ES answers slowly so the first worker is mid-batch when it dies.
    rig.es.state.set_delay(Duration::from_millis(1500));
    let ids = rig.insert(Op::Upsert, 5).await;
    let mut first = rig.spawn_worker("w-first", &[("OUTBOX_LEASE_SECONDS", "1")]);
    assert!(
        eventually(WAIT, || async {
            rig.statuses().await.get("processing").copied().unwrap_or(0) == 5
        })
        .await
    );
    first.kill9();
    rig.es.state.set_delay(Duration::ZERO);

    // The second worker's own lease is long: the only rows it can reclaim are the first's.
    let second = rig.spawn_worker("w-second", &[("OUTBOX_LEASE_SECONDS", "30")]);
    assert!(
        eventually(WAIT, || async { rig.all_done(5).await }).await,
        "log:\n{}",
        second.log()
    );
    // Its claim loops may split the reclaim (4 + 1, 5, …): the lines and the counter
    // add up to every row, once.
    let reclaim_line = regex::Regex::new(r"Reclaimed (\d+) stuck outbox events").unwrap();
    let logged: u64 = reclaim_line
        .captures_iter(&second.log())
        .map(|c| c[1].parse::<u64>().unwrap())
        .sum();
    assert_eq!(logged, 5, "{}", second.log());
    assert_eq!(second.counter("outbox_reclaimed_total", None).await, 5.0);
    assert_eq!(second.counter("outbox_processed_total", None).await, 5.0);
    for id in ids {
        let (_, attempts, _, owner) = rig.row(id).await;
        assert_eq!((attempts, owner), (2, None), "one attempt by each worker");
    }
}

#[tokio::test]
async fn two_workers_on_one_table_never_finalize_a_row_twice() {
    let Some(rig) = Rig::new().await else { return };
    // A little ES latency so the work lasts long enough for both to take part.
    rig.es.state.set_delay(Duration::from_millis(2));
    let a = rig.spawn_worker("w-one", &[("OUTBOX_BATCH_SIZE", "20")]);
    let b = rig.spawn_worker("w-two", &[("OUTBOX_BATCH_SIZE", "20")]);
    a.wait_ready().await;
    b.wait_ready().await;
    rig.insert(Op::Upsert, 600).await;
    assert!(eventually(WAIT, || async { rig.all_done(600).await }).await);
    // `processed` counts fenced finalizations only, so the sum is exactly one per row.
    let processed = a.counter("outbox_processed_total", None).await
        + b.counter("outbox_processed_total", None).await;
    assert_eq!(processed, 600.0);
    assert!(
        a.counter("outbox_processed_total", None).await > 0.0,
        "both workers took part"
    );
    assert!(
        b.counter("outbox_processed_total", None).await > 0.0,
        "both workers took part"
    );
    let attempts: i64 =
        sqlx::query_scalar("SELECT sum(attempts)::bigint FROM search_outbox_events")
            .fetch_one(&rig.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 600, "no row was claimed twice");
}

#[tokio::test]
async fn a_lost_lease_is_never_finalized_and_is_counted() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.state.set_delay(Duration::from_millis(800));
    let id = rig.insert(Op::Upsert, 1).await[0];
    let worker = rig.spawn_worker("w-slow", &[("OUTBOX_LEASE_SECONDS", "30")]);
    assert!(eventually(WAIT, || async { rig.row(id).await.0 == "processing" }).await);
    // Another owner takes the row over while the ES call is in flight.
    sqlx::query("UPDATE search_outbox_events SET owner = 'w-thief' WHERE id = $1")
        .bind(id)
        .execute(&rig.pool)
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || async {
            worker
                .counter("outbox_owner_mismatch_skips_total", None)
                .await
                == 1.0
        })
        .await,
        "{}",
        worker.log()
    );
    let (status, _, _, owner) = rig.row(id).await;
    assert_eq!(
        (status.as_str(), owner.as_deref()),
        ("processing", Some("w-thief"))
    );
    assert_eq!(worker.counter("outbox_processed_total", None).await, 0.0);
}

#[tokio::test]
async fn sigterm_releases_the_leases_of_an_unfinished_batch_and_exits_0() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.state.set_delay(Duration::from_secs(10));
    rig.insert(Op::Upsert, 3).await;
    let mut worker = rig.spawn_worker("w-term", &[("OUTBOX_SHUTDOWN_GRACE_SECONDS", "1")]);
    assert!(
        eventually(WAIT, || async {
            rig.statuses().await.get("processing").copied().unwrap_or(0) == 3
        })
        .await
    );
    let signalled = std::time::Instant::now();
    worker.signal(libc::SIGTERM);
    let status = worker
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", worker.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "took {:?}",
        signalled.elapsed()
    );
    let log = worker.log();
    assert!(
        log.contains("Stop requested; draining current work only"),
        "{log}"
    );
    let statuses = rig.statuses().await;
    assert_eq!(statuses.get("pending").copied(), Some(3), "{statuses:?}");
    let owners: i64 =
        sqlx::query_scalar("SELECT count(*) FROM search_outbox_events WHERE owner IS NOT NULL")
            .fetch_one(&rig.pool)
            .await
            .unwrap();
    assert_eq!(owners, 0);
}

#[tokio::test]
async fn a_postgres_restart_mid_run_loses_nothing() {
    let Some(cluster) = testkit::pg::OwnCluster::start() else {
        return;
    };
    let rig = Rig::on_database(cluster.url()).await;
    rig.insert(Op::Upsert, 200).await;
    // Slow enough that the outage lands mid-run.
    rig.es.state.set_delay(Duration::from_millis(20));
    let worker = rig.spawn_worker(
        "w-pg",
        &[
            ("OUTBOX_BATCH_SIZE", "10"),
            ("OUTBOX_CONCURRENCY", "2"),
            ("OUTBOX_LEASE_SECONDS", "3"),
        ],
    );
    worker.wait_ready().await;
    assert!(
        eventually(WAIT, || async {
            rig.statuses().await.get("done").copied().unwrap_or(0) > 0
        })
        .await
    );
    cluster.down();
    // Longer than the worker pool's 2 s acquire timeout, so statements fail rather than wait.
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.up();
    rig.es.state.set_delay(Duration::ZERO);
    rig.insert(Op::Delete, 50).await;
    assert!(
        eventually(Duration::from_secs(60), || async {
            rig.all_done(250).await
        })
        .await,
        "{:?}\n{}",
        rig.statuses().await,
        worker.log()
    );
    assert!(
        worker.log().contains("database unavailable"),
        "the outage landed mid-run:\n{}",
        worker.log()
    );
    let processed = worker.counter("outbox_processed_total", None).await;
    assert!(
        (250.0..=260.0).contains(&processed),
        "processed {processed}: at-least-once, never lost"
    );
    assert_eq!(rig.es.state.documents(common::INDEX).len(), 200);
}

async fn find(jaeger: &str, operation: &str, tags: &str) -> Vec<Value> {
    let response: Value = reqwest::Client::new()
        .get(format!("{jaeger}/api/traces"))
        .query(&[
            ("service", "wordloom-search-outbox-worker"),
            ("operation", operation),
            ("tags", tags),
            ("limit", "20"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn spans_are_findable_by_event_id_and_by_claim_batch_id_within_a_second() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.server.stop();
    let worker = rig.spawn_worker(
        "w-trace",
        &[
            ("OUTBOX_BASE_BACKOFF_SECONDS", "5"),
            ("OUTBOX_MAX_BACKOFF_SECONDS", "5"),
        ],
    );
    worker.wait_ready().await;
    let id = rig.insert(Op::Delete, 1).await[0];
    assert!(
        eventually(WAIT, || async {
            worker.counter("outbox_retry_scheduled_total", None).await >= 1.0
        })
        .await
    );
    let failed_at = std::time::Instant::now();

    let event_tags =
        format!(r#"{{"wordloom.outbox_event_id":"{id}","wordloom.obs_schema":"labs-009-v2"}}"#);
    let jaeger = rig.jaeger.url();
    assert!(
        eventually(Duration::from_secs(3), || async {
            !find(&jaeger, "outbox.process", &event_tags)
                .await
                .is_empty()
        })
        .await
    );
    let found_after = failed_at.elapsed();
    assert!(
        // The exporter's delay is 200 ms; the margin absorbs a loaded CI machine.
        found_after < Duration::from_secs(3),
        "spans took {found_after:?} to reach the collector"
    );
    let traces = find(&jaeger, "outbox.process", &event_tags).await;
    let spans = traces[0]["spans"].as_array().unwrap();
    let tag = |span: &Value, key: &str| {
        span["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .map(|t| t["value"].clone())
    };
    let process = spans
        .iter()
        .find(|s| s["operationName"] == "outbox.process")
        .unwrap();
    let batch = spans
        .iter()
        .find(|s| s["operationName"] == "projection.process_batch")
        .expect("batch span in the same trace");
    assert!(
        spans
            .iter()
            .any(|s| s["operationName"] == "outbox_worker.loop")
    );
    assert!(
        spans
            .iter()
            .any(|s| s["operationName"] == "outbox.claim_batch")
    );
    assert_eq!(
        tag(process, "wordloom.outbox_op"),
        Some(Value::from("delete"))
    );
    assert_eq!(tag(process, "error"), Some(Value::from(true)));
    assert_eq!(tag(batch, "result"), Some(Value::from("retry")));
    assert_eq!(tag(batch, "reason"), Some(Value::from("es_connect")));
    assert_eq!(tag(batch, "retry_count"), Some(Value::from(1)));
    let batch_id = tag(batch, "wordloom.claim_batch_id").unwrap();
    let batch_tags =
        format!(r#"{{"wordloom.claim_batch_id":{batch_id},"wordloom.obs_schema":"labs-009-v2"}}"#);
    let by_batch = find(&jaeger, "projection.process_batch", &batch_tags).await;
    assert_eq!(by_batch.len(), 1);
    assert_eq!(by_batch[0]["traceID"], traces[0]["traceID"]);

    // Every error log line's trace_id and span_id resolve to an outbox.process span of this event.
    let log = worker.log();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "ERROR" && l["outbox_event_id"] == id.to_string())
        .collect();
    assert!(!lines.is_empty());
    for line in lines {
        let url = format!("{jaeger}/api/traces/{}", line["trace_id"].as_str().unwrap());
        assert!(
            eventually(Duration::from_secs(2), || async {
                reqwest::get(&url)
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await
        );
        let trace: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let spans = trace["data"][0]["spans"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let span = spans
            .iter()
            .find(|s| s["spanID"] == line["span_id"])
            .unwrap_or_else(|| panic!("span of {line} not in Jaeger"));
        assert_eq!(span["operationName"], "outbox.process");
        assert_eq!(
            tag(span, "wordloom.outbox_event_id"),
            Some(Value::from(id.to_string()))
        );
    }
}

#[tokio::test]
async fn a_dead_collector_does_not_slow_processing() {
    let Some(rig) = Rig::new().await else { return };
    rig.jaeger.server.stop();
    rig.insert(Op::Upsert, 300).await;
    let started = std::time::Instant::now();
    let worker = rig.spawn_worker("w-nocollector", &[]);
    assert!(
        eventually(WAIT, || async { rig.all_done(300).await }).await,
        "{}",
        worker.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(worker.counter("outbox_failed_total", None).await, 0.0);
}

#[tokio::test]
async fn a_rows_traceparent_becomes_a_link_of_its_process_span() {
    let Some(rig) = Rig::new().await else { return };
    let worker = rig.spawn_worker("w-link", &[]);
    worker.wait_ready().await;
    let producer_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let event = drill_cockpit::db::outbox::NewEvent {
        op: Op::Upsert,
        entity_id: uuid::Uuid::new_v4(),
        version: None,
        traceparent: Some(format!("00-{producer_trace}-00f067aa0ba902b7-01")),
    };
    let id = drill_cockpit::db::outbox::insert_event(&rig.pool, &event)
        .await
        .unwrap();
    let tags = format!(r#"{{"wordloom.outbox_event_id":"{id}"}}"#);
    let jaeger = rig.jaeger.url();
    assert!(
        eventually(WAIT, || async {
            !find(&jaeger, "outbox.process", &tags).await.is_empty()
        })
        .await
    );
    let traces = find(&jaeger, "outbox.process", &tags).await;
    let process = traces[0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == "outbox.process")
        .unwrap()
        .clone();
    let link = process["references"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["refType"] == "FOLLOWS_FROM")
        .expect("a link");
    assert_eq!(link["traceID"], producer_trace);
    assert_eq!(link["spanID"], "00f067aa0ba902b7");
}

/// The fence is the claim, not the owner string: a claim whose lease expired and was
/// taken again by the same owner (a sibling claim loop, or a second process started
/// with the same `OUTBOX_WORKER_ID`) finalizes, fails and releases nothing.
#[tokio::test]
async fn a_stale_claim_of_the_same_owner_changes_nothing() {
    use drill_cockpit::worker::store::{self, FailedAttempt};
    for schema in common::Schema::BOTH {
        let Some(rig) = Rig::with_schema(schema).await else {
            return;
        };
        let id = rig.insert(Op::Upsert, 1).await[0];
        let lease = Duration::from_secs(30);
        let stale = store::claim(&rig.pool, "w-same", 10, lease).await.unwrap();
        assert_eq!(stale.len(), 1);
        // The lease runs out; the same owner claims the row again.
        sqlx::query("UPDATE search_outbox_events SET lease_until = now() - interval '1 second' WHERE id = $1")
            .bind(id)
            .execute(&rig.pool)
            .await
            .unwrap();
        let current = store::claim(&rig.pool, "w-same", 10, lease).await.unwrap();
        assert_eq!(current.len(), 1);
        assert_ne!(stale[0].token(), current[0].token());

        let failed = FailedAttempt {
            token: stale[0].token(),
            retry_after: Some(Duration::from_secs(1)),
            reason: "es_timeout".into(),
            error: "stale".into(),
        };
        assert!(
            store::finish_done(&rig.pool, "w-same", &[stale[0].token()])
                .await
                .unwrap()
                .is_empty(),
            "{schema:?}"
        );
        assert!(
            store::finish_failed(&rig.pool, "w-same", &[failed])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store::release(&rig.pool, "w-same", &[stale[0].token()])
                .await
                .unwrap(),
            0
        );
        let (status, attempts, _, owner) = rig.row(id).await;
        assert_eq!(
            (status.as_str(), attempts, owner.as_deref()),
            ("processing", 2, Some("w-same"))
        );

        // The current claim still finalizes.
        assert_eq!(
            store::finish_done(&rig.pool, "w-same", &[current[0].token()])
                .await
                .unwrap(),
            vec![id]
        );
        assert_eq!(rig.row(id).await.0, "done");
    }
}

/// Two processes with one `OUTBOX_WORKER_ID`, each with two claim loops, while ES answers
/// slower than the lease: leases are lost and re-claimed under the same owner string, yet
/// every row ends done and is counted processed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_id_twice_with_es_slower_than_the_lease_counts_each_row_once() {
    let Some(rig) = Rig::new().await else { return };
    rig.es.state.set_delay(Duration::from_millis(1500));
    let tuning: &[(&str, &str)] = &[
        ("OUTBOX_LEASE_SECONDS", "1"),
        ("OUTBOX_BATCH_SIZE", "5"),
        ("OUTBOX_MAX_ATTEMPTS", "100"),
    ];
    let a = rig.spawn_worker("w-same", tuning);
    let b = rig.spawn_worker("w-same", tuning);
    a.wait_ready().await;
    b.wait_ready().await;
    rig.insert(Op::Upsert, 10).await;
    // ES stays slower than the lease until a stale finalize was skipped at least once.
    let skipped_total = || async {
        a.counter("outbox_owner_mismatch_skips_total", None).await
            + b.counter("outbox_owner_mismatch_skips_total", None).await
    };
    assert!(
        eventually(WAIT, || async { skipped_total().await >= 1.0 }).await,
        "no lease was lost:\n{}",
        a.log()
    );
    rig.es.state.set_delay(Duration::ZERO);
    assert!(
        eventually(WAIT, || async { rig.all_done(10).await }).await,
        "{:?}\n{}",
        rig.statuses().await,
        a.log()
    );
    let processed = a.counter("outbox_processed_total", None).await
        + b.counter("outbox_processed_total", None).await;
    let skipped = a.counter("outbox_owner_mismatch_skips_total", None).await
        + b.counter("outbox_owner_mismatch_skips_total", None).await;
    assert_eq!(processed, 10.0, "one finalize per row");
    assert!(
        skipped >= 1.0,
        "leases were lost under the same owner and their stale finalizes skipped"
    );
}
