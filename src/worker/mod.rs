//! The reference search-outbox worker (`drill-cockpit worker`): claims batches from
//! `search_outbox_events`, projects them into Elasticsearch with external versions,
//! classifies failures and retries with backoff, and is observable through the
//! contract's metrics, spans and JSON logs.

mod backoff;
pub mod classify;
mod es;
mod http;
mod log;
pub mod metrics;
pub mod store;
mod telemetry;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::Profile;
use crate::db::outbox::Op;
use classify::{Outcome, Reason};
use es::{EsAction, EsClient};
use log::{Level, Log};
use metrics::{Metrics, PROJECTION};
use store::{ClaimedEvent, FailedAttempt};

pub const OBS_SCHEMA: &str = "labs-009-v2";

struct Worker {
    profile: Profile,
    pool: PgPool,
    es: EsClient,
    metrics: Arc<Metrics>,
    log: Log,
}

/// Runs until SIGTERM/SIGINT; exit code 0 after a clean drain, 1 when it cannot start.
pub async fn run(profile: Profile) -> ExitCode {
    let log = Log {
        min_level: Level::from_env(),
    };
    let fail = |message: String| {
        log.error(&message, vec![("event", json!("worker.start_failed"))]);
        ExitCode::from(1)
    };
    if profile.env.trim().is_empty() {
        return fail("WORDLOOM_ENV is empty: set it (e.g. WORDLOOM_ENV=test) so the worker knows which environment it serves".into());
    }
    let file = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    log.info(
        &format!("Observability schema: {OBS_SCHEMA} (file={file})"),
        vec![("obs_schema", json!(OBS_SCHEMA))],
    );
    let pool = match crate::db::connect_with_timeout(
        &profile.sqlx_database_url(),
        &profile.redacted_database_url(),
        (4 + profile.tuning.concurrency.min(16)).max(2 + 2 * profile.tuning.claim_loops),
        Duration::from_secs(2),
    )
    .await
    {
        Ok(pool) => pool,
        Err(error) => return fail(error.to_string()),
    };
    // Said once it is true: the pool has connected.
    log.plain(&format!(
        "[OK] Database: {}",
        profile.redacted_database_url()
    ));
    let metrics = match Metrics::new() {
        Ok(metrics) => Arc::new(metrics),
        Err(error) => return fail(format!("cannot register metrics: {error}")),
    };
    let metrics_listener = match http::bind(profile.metrics_port, "OUTBOX_METRICS_PORT").await {
        Ok(listener) => listener,
        Err(message) => return fail(message),
    };
    let health_listener = if profile.http_port == profile.metrics_port {
        None
    } else {
        match http::bind(profile.http_port, "OUTBOX_HTTP_PORT").await {
            Ok(listener) => Some(listener),
            Err(message) => return fail(message),
        }
    };
    let es = match EsClient::new(
        &profile.elastic_url,
        &profile.elastic_index,
        profile.tuning.es_timeout.max(Duration::from_millis(10)),
        profile.tuning.concurrency as usize * 2,
    ) {
        Ok(client) => client,
        Err(error) => {
            return fail(format!(
                "cannot build the Elasticsearch client for {}: {error}",
                profile.elastic_url
            ));
        }
    };
    let telemetry = match telemetry::Telemetry::install(&profile) {
        Ok(telemetry) => telemetry,
        Err(message) => return fail(message),
    };
    if telemetry.enabled() {
        log.info(
            "tracing configured",
            vec![
                ("event", json!("tracing.config")),
                (
                    "endpoint",
                    json!(format!("{}/v1/traces", profile.otlp_endpoint)),
                ),
                ("protocol", json!("http/protobuf")),
                ("sampler", json!(profile.tracing_sampler)),
                ("service_name", json!(profile.service_name)),
            ],
        );
    } else {
        log.info(
            "tracing disabled (set WORDLOOM_TRACING_ENABLED=1 to export spans)",
            vec![("event", json!("tracing.disabled"))],
        );
    }
    http::serve(
        metrics_listener,
        health_listener,
        metrics.clone(),
        pool.clone(),
    );

    let worker = Arc::new(Worker {
        profile,
        pool,
        es,
        metrics,
        log,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(update_gauges(worker.clone(), stop_rx.clone()));
    tokio::spawn(async move {
        drill_sim::server::wait_for_stop().await;
        log.info(
            "Stop requested; draining current work only",
            vec![("event", json!("worker.stop_requested"))],
        );
        let _ = stop_tx.send(true);
    });
    log.info(
        "Worker started",
        vec![
            ("event", json!("worker.started")),
            ("worker_id", json!(worker.profile.worker_id)),
            ("batch_size", json!(worker.profile.tuning.batch_size)),
            ("use_es_bulk", json!(worker.profile.tuning.use_es_bulk)),
        ],
    );
    // Several claim loops pipeline the work: while one waits on Elasticsearch, another
    // claims or finalizes. Each claim is its own SKIP LOCKED batch, so they never overlap.
    let loops =
        (0..worker.profile.tuning.claim_loops.max(1)).map(|_| worker.claim_loop(stop_rx.clone()));
    futures::future::join_all(loops).await;
    telemetry.shutdown().await;
    log.info("Worker stopped", vec![("event", json!("worker.stopped"))]);
    ExitCode::SUCCESS
}

/// Sleeps unless a stop arrives first; returns true when stopping.
async fn sleep_or_stop(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Queue gauges on a timer, never per loop: their cost must not grow with throughput.
async fn update_gauges(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Ok(gauges) =
            store::queue_gauges(&worker.pool, worker.profile.tuning.max_processing).await
        {
            worker.metrics.lag.set(gauges.lag as f64);
            worker.metrics.oldest_age.set(gauges.oldest_age_seconds);
            worker.metrics.inflight.set(gauges.inflight as f64);
            worker.metrics.stuck.set(gauges.stuck as f64);
        }
        if sleep_or_stop(
            worker
                .profile
                .tuning
                .gauge_interval
                .max(Duration::from_millis(100)),
            &mut stop,
        )
        .await
        {
            return;
        }
    }
}

struct Settled {
    event: ClaimedEvent,
    op: Op,
    outcome: Outcome,
    trace_id: Option<String>,
    span_id: Option<String>,
}

impl Worker {
    async fn claim_loop(&self, mut stop: watch::Receiver<bool>) {
        let tuning = &self.profile.tuning;
        let mut db_failures = 0u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let claim_started = SystemTime::now();
            let claimed = match store::claim(
                &self.pool,
                &self.profile.worker_id,
                tuning.batch_size,
                tuning.lease,
            )
            .await
            {
                Ok(claimed) => {
                    if db_failures > 0 {
                        self.log.info(
                            "Database reachable again",
                            vec![("event", json!("db.recovered"))],
                        );
                    }
                    db_failures = 0;
                    claimed
                }
                Err(error) => {
                    db_failures += 1;
                    let delay = backoff::retry_delay(
                        db_failures,
                        Duration::from_millis(100),
                        Duration::from_secs(5),
                        fastrand::f64(),
                    );
                    self.log.error(
                        "Claim failed: database unavailable",
                        vec![
                            ("reason", json!("db_unavailable")),
                            ("error", json!(error.to_string())),
                            ("retry_in_seconds", json!(delay.as_secs_f64())),
                        ],
                    );
                    if sleep_or_stop(delay, &mut stop).await {
                        return;
                    }
                    continue;
                }
            };
            if claimed.is_empty() {
                if sleep_or_stop(tuning.poll_interval, &mut stop).await {
                    return;
                }
                continue;
            }
            let claim_ended = SystemTime::now();
            let tokens: Vec<store::ClaimToken> = claimed.iter().map(|e| e.token()).collect();
            let batch = self.process_batch(claimed, claim_started, claim_ended);
            tokio::pin!(batch);
            tokio::select! {
                _ = &mut batch => {}
                _ = stop.changed() => {
                    // Finish the in-flight batch within the grace period, else give its rows back.
                    if tokio::time::timeout(tuning.shutdown_grace.mul_f64(0.8), &mut batch).await.is_err() {
                        match store::release(&self.pool, &self.profile.worker_id, &tokens).await {
                            Ok(released) => self.log.info("Released leases of the unfinished batch", vec![("released", json!(released))]),
                            Err(error) => self.log.error("Could not release leases; they expire by themselves", vec![("error", json!(error.to_string()))]),
                        }
                    }
                    return;
                }
            }
        }
    }

    async fn process_batch(
        &self,
        events: Vec<ClaimedEvent>,
        claim_started: SystemTime,
        claim_ended: SystemTime,
    ) {
        let batch_id = Uuid::new_v4().to_string();
        let tracer = opentelemetry::global::tracer("drill-cockpit.worker");
        let worker_id = self.profile.worker_id.clone();

        let loop_span = tracer
            .span_builder("outbox_worker.loop")
            .with_kind(SpanKind::Internal)
            .with_start_time(claim_started)
            .with_attributes(vec![KeyValue::new("wordloom.worker_id", worker_id.clone())])
            .start(&tracer);
        let loop_cx = Context::current_with_span(loop_span);
        let mut claim_span = tracer
            .span_builder("outbox.claim_batch")
            .with_kind(SpanKind::Internal)
            .with_start_time(claim_started)
            .with_attributes(vec![
                KeyValue::new("wordloom.claim_batch_id", batch_id.clone()),
                KeyValue::new("claimed", events.len() as i64),
                KeyValue::new("wordloom.obs_schema", OBS_SCHEMA),
            ])
            .start_with_context(&tracer, &loop_cx);
        claim_span.end_with_timestamp(claim_ended);
        let batch_span = tracer
            .span_builder("projection.process_batch")
            .with_kind(SpanKind::Internal)
            .with_attributes(vec![
                KeyValue::new("wordloom.claim_batch_id", batch_id.clone()),
                KeyValue::new("wordloom.obs_schema", OBS_SCHEMA),
                KeyValue::new("wordloom.projection", PROJECTION),
                KeyValue::new("wordloom.worker_id", worker_id.clone()),
                KeyValue::new("claimed", events.len() as i64),
            ])
            .start_with_context(&tracer, &loop_cx);
        let batch_cx = loop_cx.with_span(batch_span);

        let reclaimed = events
            .iter()
            .filter(|e| e.prior_status == "processing")
            .count();
        if reclaimed > 0 {
            self.metrics.reclaimed.inc_by(reclaimed as u64);
            self.log.warning(
                &format!("Reclaimed {reclaimed} stuck outbox events (lease expired)"),
                vec![
                    ("event", json!("outbox.reclaimed")),
                    ("reclaimed", json!(reclaimed)),
                    ("claim_batch_id", json!(batch_id)),
                ],
            );
        }

        let settled = self.project(events, &batch_id, &batch_cx).await;
        let summary = self.finalize(&settled, &batch_id).await;

        let span = batch_cx.span();
        span.set_attribute(KeyValue::new("result", summary.result));
        span.set_attribute(KeyValue::new("reason", summary.reason.clone()));
        span.set_attribute(KeyValue::new("ok_count", summary.ok as i64));
        span.set_attribute(KeyValue::new("retry_count", summary.retry as i64));
        span.set_attribute(KeyValue::new("failed_count", summary.failed as i64));
        if summary.result == "failed" {
            span.set_status(Status::error(summary.reason.clone()));
        }
        span.end();
        loop_cx.span().end();
    }

    /// Sends every event to Elasticsearch, each under its own `outbox.process` span.
    async fn project(
        &self,
        events: Vec<ClaimedEvent>,
        batch_id: &str,
        batch_cx: &Context,
    ) -> Vec<Settled> {
        let tracer = opentelemetry::global::tracer("drill-cockpit.worker");
        let mut prepared = Vec::with_capacity(events.len());
        for event in events {
            let op = Op::parse(&event.op).unwrap_or(Op::Upsert);
            let mut links = Vec::new();
            if let Some(context) = event
                .traceparent
                .as_deref()
                .and_then(telemetry::parse_traceparent)
            {
                links.push(opentelemetry::trace::Link::with_context(context));
            }
            let span = tracer
                .span_builder("outbox.process")
                .with_kind(SpanKind::Internal)
                .with_links(links)
                .with_attributes(vec![
                    KeyValue::new("wordloom.outbox_event_id", event.id.to_string()),
                    KeyValue::new("wordloom.entity_type", event.entity_type.clone()),
                    KeyValue::new("wordloom.entity_id", event.entity_id.to_string()),
                    KeyValue::new("wordloom.outbox_op", event.op.clone()),
                    KeyValue::new("wordloom.outbox_event_version", event.event_version),
                    KeyValue::new("wordloom.outbox_attempts", i64::from(event.attempts)),
                    KeyValue::new("wordloom.es_index", self.profile.elastic_index.clone()),
                    KeyValue::new("wordloom.obs_schema", OBS_SCHEMA),
                    KeyValue::new("wordloom.claim_batch_id", batch_id.to_string()),
                ])
                .start_with_context(&tracer, batch_cx);
            let action = match op {
                Op::Upsert => event.document().map(|(version, doc)| EsAction {
                    op,
                    doc_id: event.entity_id.to_string(),
                    // The row's version, so the document and its version always agree.
                    version,
                    source: Some(doc),
                }),
                Op::Delete => Some(EsAction {
                    op,
                    doc_id: event.entity_id.to_string(),
                    version: event.event_version,
                    source: None,
                }),
            };
            prepared.push((event, op, action, span));
        }

        let outcomes: Vec<Option<Outcome>> = if self.profile.tuning.use_es_bulk {
            let mut outcomes: Vec<Option<Outcome>> = vec![None; prepared.len()];
            let with_action: Vec<(usize, EsAction)> = prepared
                .iter()
                .enumerate()
                .filter_map(|(i, (_, _, action, _))| action.clone().map(|a| (i, a)))
                .collect();
            for chunk in with_action.chunks(self.profile.tuning.bulk_size.max(1) as usize) {
                let actions: Vec<EsAction> = chunk.iter().map(|(_, a)| a.clone()).collect();
                let results = self.es.send_bulk(&actions, &self.metrics).await;
                for ((index, _), outcome) in chunk.iter().zip(results) {
                    outcomes[*index] = Some(outcome);
                }
            }
            outcomes
        } else {
            let es = &self.es;
            futures::stream::iter(prepared.iter().map(|(_, _, action, _)| action.clone()))
                .map(|action| async move {
                    match action {
                        Some(action) => Some(es.send_one(&action).await),
                        None => None,
                    }
                })
                .buffered(self.profile.tuning.concurrency.max(1) as usize)
                .collect()
                .await
        };

        prepared
            .into_iter()
            .zip(outcomes)
            .map(|((event, op, _, mut span), outcome)| {
                let outcome = outcome.unwrap_or(Outcome::Noop(Reason::NoSourceRow));
                match &outcome {
                    Outcome::Done => {
                        span.set_attribute(KeyValue::new("wordloom.idempotent_noop", false))
                    }
                    Outcome::Noop(reason) => {
                        span.set_attribute(KeyValue::new("wordloom.idempotent_noop", true));
                        span.set_attribute(KeyValue::new(
                            "wordloom.idempotent_noop_reason",
                            reason.as_str(),
                        ));
                    }
                    Outcome::Failed { reason, error } => {
                        span.set_attribute(KeyValue::new("wordloom.idempotent_noop", false));
                        span.set_attribute(KeyValue::new("reason", reason.as_str()));
                        span.set_attribute(KeyValue::new(
                            "error.message",
                            classify::truncate(error, 300),
                        ));
                        span.set_status(Status::error(reason.as_str()));
                    }
                }
                let context = span.span_context().clone();
                span.end();
                let valid = context.is_valid();
                Settled {
                    event,
                    op,
                    outcome,
                    trace_id: valid.then(|| context.trace_id().to_string()),
                    span_id: valid.then(|| context.span_id().to_string()),
                }
            })
            .collect()
    }

    /// Writes every outcome back (fenced), counts it and logs failures.
    async fn finalize(&self, settled: &[Settled], batch_id: &str) -> BatchSummary {
        let tuning = &self.profile.tuning;
        let mut done_ids = Vec::new();
        let mut attempts = Vec::new();
        for item in settled {
            match &item.outcome {
                Outcome::Done | Outcome::Noop(_) => done_ids.push(item.event.token()),
                Outcome::Failed { reason, error } => {
                    let attempt = item.event.attempts.max(1) as u32;
                    let retry_after = (reason.is_transient() && attempt < tuning.max_attempts)
                        .then(|| {
                            backoff::retry_delay(
                                attempt,
                                tuning.base_backoff,
                                tuning.max_backoff,
                                fastrand::f64(),
                            )
                        });
                    attempts.push(FailedAttempt {
                        token: item.event.token(),
                        retry_after,
                        reason: reason.as_str().to_string(),
                        error: error.clone(),
                    });
                }
            }
        }
        let finished_done = self
            .with_db_retry(|| store::finish_done(&self.pool, &self.profile.worker_id, &done_ids))
            .await;
        let finished_failed = self
            .with_db_retry(|| store::finish_failed(&self.pool, &self.profile.worker_id, &attempts))
            .await;
        let still_ours = |id: &Uuid| finished_done.contains(id) || finished_failed.contains(id);

        let mut summary = BatchSummary::default();
        for item in settled {
            let op = item.op.as_str();
            if !still_ours(&item.event.id) {
                self.metrics.owner_mismatch_skips.inc();
                self.log.warning(
                    &format!(
                        "Lease lost for outbox event {}; another worker owns it now",
                        item.event.id
                    ),
                    vec![
                        ("event", json!("outbox.owner_mismatch")),
                        ("outbox_event_id", json!(item.event.id)),
                        ("claim_batch_id", json!(batch_id)),
                    ],
                );
                continue;
            }
            match &item.outcome {
                Outcome::Done => {
                    summary.ok += 1;
                    self.metrics
                        .processed
                        .with_label_values(&[PROJECTION, op])
                        .inc();
                }
                Outcome::Noop(reason) => {
                    summary.ok += 1;
                    self.metrics
                        .processed
                        .with_label_values(&[PROJECTION, op])
                        .inc();
                    self.metrics
                        .idempotent_noop
                        .with_label_values(&[PROJECTION, op, reason.as_str()])
                        .inc();
                    if *reason == Reason::NoSourceRow {
                        self.log.warning(
                            &format!(
                                "Upsert of entity {} skipped: no search_index row",
                                item.event.entity_id
                            ),
                            vec![
                                ("outbox_event_id", json!(item.event.id)),
                                ("claim_batch_id", json!(batch_id)),
                                ("reason", json!(reason.as_str())),
                            ],
                        );
                    }
                }
                Outcome::Failed { reason, error } => {
                    let retry = attempts
                        .iter()
                        .find(|a| a.token.id == item.event.id)
                        .and_then(|a| a.retry_after);
                    self.metrics
                        .failed
                        .with_label_values(&[PROJECTION, op, reason.as_str()])
                        .inc();
                    let mut fields: Vec<(&str, Value)> = vec![
                        ("reason", json!(reason.as_str())),
                        ("attempt", json!(item.event.attempts)),
                        ("outbox_event_id", json!(item.event.id)),
                        ("claim_batch_id", json!(batch_id)),
                        ("op", json!(op)),
                        ("obs_schema", json!(OBS_SCHEMA)),
                        ("trace_id", json!(item.trace_id)),
                        ("span_id", json!(item.span_id)),
                        ("error", json!(classify::truncate(error, 300))),
                    ];
                    match retry {
                        Some(delay) => {
                            summary.retry += 1;
                            self.metrics
                                .retry_scheduled
                                .with_label_values(&[PROJECTION, op, reason.as_str()])
                                .inc();
                            fields.push((
                                "retry_in_seconds",
                                json!((delay.as_secs_f64() * 1000.0).round() / 1000.0),
                            ));
                        }
                        None => {
                            summary.failed += 1;
                            self.metrics
                                .terminal_failed
                                .with_label_values(&[PROJECTION, op, reason.as_str()])
                                .inc();
                            fields.push(("terminal", json!(true)));
                        }
                    }
                    if summary.reason.is_empty() {
                        summary.reason = reason.as_str().to_string();
                    }
                    self.log.error(
                        // Upstream's wording; the reason travels as a field.
                        &format!("Failed to process outbox event {}", item.event.id),
                        fields,
                    );
                }
            }
        }
        if summary.ok > 0 {
            self.metrics
                .last_success
                .set(chrono::Utc::now().timestamp_micros() as f64 / 1e6);
        }
        summary.result = match (summary.ok, summary.retry, summary.failed) {
            (_, 0, 0) => "ok",
            (0, _, 0) => "retry",
            (0, 0, _) => "failed",
            _ => "partial",
        };
        if summary.reason.is_empty() {
            summary.reason = "none".to_string();
        }
        summary
    }

    /// Retries a finalizing statement while Postgres is away, for at most one lease: after
    /// that another worker may own the rows and the fenced update would change nothing anyway.
    async fn with_db_retry<F, Fut>(&self, mut statement: F) -> Vec<Uuid>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Uuid>, sqlx::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.profile.tuning.lease;
        let mut failures = 0;
        loop {
            match statement().await {
                Ok(ids) => return ids,
                Err(error) => {
                    failures += 1;
                    if tokio::time::Instant::now() >= deadline {
                        self.log.error("Giving up finalizing: lease expired while the database was away; rows will be reclaimed", vec![("error", json!(error.to_string()))]);
                        return Vec::new();
                    }
                    self.log.error(
                        "Finalize failed: database unavailable; retrying",
                        vec![
                            ("reason", json!("db_unavailable")),
                            ("error", json!(error.to_string())),
                        ],
                    );
                    tokio::time::sleep(backoff::retry_delay(
                        failures,
                        Duration::from_millis(100),
                        Duration::from_secs(2),
                        fastrand::f64(),
                    ))
                    .await;
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct BatchSummary {
    result: &'static str,
    reason: String,
    ok: usize,
    retry: usize,
    failed: usize,
}
