//! Every metric of CONTRACT.md §3, children pre-created at start as upstream does.

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry, TextEncoder,
};

pub const PROJECTION: &str = "search_index_to_elastic";
const OPS: [&str; 2] = ["upsert", "delete"];
const BULK_OPS: [&str; 2] = ["index", "delete"];

pub struct Metrics {
    registry: Registry,
    pub processed: IntCounterVec,
    pub failed: IntCounterVec,
    pub retry_scheduled: IntCounterVec,
    pub terminal_failed: IntCounterVec,
    pub idempotent_noop: IntCounterVec,
    pub owner_mismatch_skips: IntCounter,
    pub reclaimed: IntCounter,
    pub lag: Gauge,
    pub oldest_age: Gauge,
    pub inflight: Gauge,
    pub stuck: Gauge,
    pub last_success: Gauge,
    pub bulk_requests: IntCounterVec,
    pub bulk_items: IntCounterVec,
    pub bulk_item_failures: IntCounterVec,
    pub bulk_duration: HistogramVec,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<Gauge> {
    let vec = GaugeVec::new(Opts::new(name, help), &["projection"])?;
    registry.register(Box::new(vec.clone()))?;
    vec.get_metric_with_label_values(&[PROJECTION])
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let op_reason = ["projection", "op", "reason"];
        let metrics = Metrics {
            processed: counter(
                &registry,
                "outbox_processed_total",
                "Outbox events projected successfully",
                &["projection", "op"],
            )?,
            failed: counter(
                &registry,
                "outbox_failed_total",
                "Failed attempts",
                &op_reason,
            )?,
            retry_scheduled: counter(
                &registry,
                "outbox_retry_scheduled_total",
                "Failed attempts rescheduled",
                &op_reason,
            )?,
            terminal_failed: counter(
                &registry,
                "outbox_terminal_failed_total",
                "Events moved to terminal failed",
                &op_reason,
            )?,
            idempotent_noop: counter(
                &registry,
                "outbox_idempotent_noop_total",
                "Attempts that were correct no-ops",
                &op_reason,
            )?,
            owner_mismatch_skips: {
                let c = IntCounter::new(
                    "outbox_owner_mismatch_skips_total",
                    "Finalizations skipped because the lease was lost",
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            reclaimed: {
                let c = IntCounter::new(
                    "outbox_reclaimed_total",
                    "Expired processing leases reclaimed",
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            lag: gauge(
                &registry,
                "outbox_lag_events",
                "Events not yet done or failed",
            )?,
            oldest_age: gauge(
                &registry,
                "outbox_oldest_age_seconds",
                "Age of the oldest unfinished event",
            )?,
            inflight: gauge(
                &registry,
                "outbox_inflight_events",
                "Events being processed",
            )?,
            stuck: gauge(
                &registry,
                "outbox_stuck_processing_events",
                "Processing events older than the processing limit",
            )?,
            last_success: gauge(
                &registry,
                "outbox_last_success_timestamp_seconds",
                "Unix time of the last success",
            )?,
            bulk_requests: counter(
                &registry,
                "outbox_es_bulk_requests_total",
                "Bulk requests by result",
                &["projection", "result"],
            )?,
            bulk_items: counter(
                &registry,
                "outbox_es_bulk_items_total",
                "Bulk items by result",
                &["projection", "op", "result"],
            )?,
            bulk_item_failures: counter(
                &registry,
                "outbox_es_bulk_item_failures_total",
                "Failed bulk items by class",
                &["projection", "op", "failure_class"],
            )?,
            bulk_duration: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "outbox_es_bulk_request_duration_seconds",
                        "Bulk request duration",
                    ),
                    &["projection"],
                )?;
                registry.register(Box::new(h.clone()))?;
                h
            },
            registry,
        };
        metrics.precreate();
        Ok(metrics)
    }

    /// Upstream pre-creates `reason="none"` children so dashboards see zeros at start.
    fn precreate(&self) {
        for op in OPS {
            self.processed.with_label_values(&[PROJECTION, op]);
            for vec in [&self.failed, &self.retry_scheduled, &self.terminal_failed] {
                vec.with_label_values(&[PROJECTION, op, "none"]);
            }
        }
        self.idempotent_noop
            .with_label_values(&[PROJECTION, "delete", "es_404"]);
        for result in ["success", "partial", "failed"] {
            self.bulk_requests.with_label_values(&[PROJECTION, result]);
        }
        for op in BULK_OPS {
            for result in ["success", "failed"] {
                self.bulk_items.with_label_values(&[PROJECTION, op, result]);
            }
            for class in ["429", "4xx", "5xx", "unknown", "other"] {
                self.bulk_item_failures
                    .with_label_values(&[PROJECTION, op, class]);
            }
        }
        self.bulk_duration.with_label_values(&[PROJECTION]);
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into memory cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8_lossy(&buffer).into_owned()
    }
}
