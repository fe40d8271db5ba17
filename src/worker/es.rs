//! The worker's Elasticsearch calls: one request per event, or one `_bulk` per chunk
//! with each item settled on its own. Both use external versioning, so replays and
//! out-of-order deliveries never move a document backwards.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::classify::{self, Outcome, Reason};
use super::metrics::{Metrics, PROJECTION};
use crate::db::outbox::Op;

#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    index: String,
}

/// What to send for one event.
#[derive(Debug, Clone)]
pub struct EsAction {
    pub op: Op,
    pub doc_id: String,
    pub version: i64,
    /// The document for an upsert.
    pub source: Option<Value>,
}

impl EsClient {
    pub fn new(
        base: &str,
        index: &str,
        timeout: Duration,
        pool: usize,
    ) -> reqwest::Result<EsClient> {
        let http = crate::tls::http_builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(EsClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            index: index.to_string(),
        })
    }

    pub async fn send_one(&self, action: &EsAction) -> Outcome {
        let url = format!(
            "{}/{}/_doc/{}?version={}&version_type=external",
            self.base, self.index, action.doc_id, action.version
        );
        let request = match action.op {
            Op::Upsert => self
                .http
                .put(url)
                .json(action.source.as_ref().unwrap_or(&Value::Null)),
            Op::Delete => self.http.delete(url),
        };
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Always read the body: a response dropped unread takes its keep-alive
                // connection with it, and every next request would open a new one.
                let body = response.text().await.unwrap_or_default();
                let detail = if (200..300).contains(&status) {
                    ""
                } else {
                    body.as_str()
                };
                classify::from_status(action.op, status, detail)
            }
            Err(error) => classify::from_transport(&error),
        }
    }

    /// One `_bulk` request for `actions`; one outcome per action, in order.
    pub async fn send_bulk(&self, actions: &[EsAction], metrics: &Metrics) -> Vec<Outcome> {
        let mut body = String::with_capacity(actions.len() * 200);
        for action in actions {
            let kind = match action.op {
                Op::Upsert => "index",
                Op::Delete => "delete",
            };
            body.push_str(
                &json!({ kind: {"_index": self.index, "_id": action.doc_id, "version": action.version, "version_type": "external"} })
                    .to_string(),
            );
            body.push('\n');
            if let Some(source) = action.source.as_ref().filter(|_| action.op == Op::Upsert) {
                body.push_str(&source.to_string());
                body.push('\n');
            }
        }
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/_bulk", self.base))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await;
        metrics
            .bulk_duration
            .with_label_values(&[PROJECTION])
            .observe(started.elapsed().as_secs_f64());
        let whole_failure = |outcome: Outcome| {
            metrics
                .bulk_requests
                .with_label_values(&[PROJECTION, "failed"])
                .inc();
            vec![outcome; actions.len()]
        };
        let response = match response {
            Ok(response) => response,
            Err(error) => return whole_failure(classify::from_transport(&error)),
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            // The request as a whole was refused (429, 5xx): every item shares its fate.
            let outcome = match classify::from_status(Op::Upsert, status, &text) {
                Outcome::Noop(_) | Outcome::Done => Outcome::Failed {
                    reason: Reason::Es4xx,
                    error: format!("HTTP {status}"),
                },
                failed => failed,
            };
            return whole_failure(outcome);
        }
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let items = parsed
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut outcomes = Vec::with_capacity(actions.len());
        let (mut ok, mut bad) = (0, 0);
        for (position, action) in actions.iter().enumerate() {
            let kind = if action.op == Op::Upsert {
                "index"
            } else {
                "delete"
            };
            let item = items.get(position).and_then(|i| i.get(kind));
            let outcome = match item {
                Some(item) => {
                    let item_status =
                        item.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
                    let error_text = item.get("error").map(Value::to_string).unwrap_or_default();
                    classify::from_status(action.op, item_status, &error_text)
                }
                None => Outcome::Failed {
                    reason: Reason::Es5xx,
                    error: "bulk response has no item for this action".to_string(),
                },
            };
            let item_failed = matches!(outcome, Outcome::Failed { .. });
            if item_failed {
                bad += 1;
                let class = match &outcome {
                    Outcome::Failed {
                        reason: Reason::Es429,
                        ..
                    } => "429",
                    Outcome::Failed {
                        reason: Reason::Es4xx,
                        ..
                    } => "4xx",
                    Outcome::Failed {
                        reason: Reason::Es5xx,
                        ..
                    } => "5xx",
                    _ => "other",
                };
                metrics
                    .bulk_item_failures
                    .with_label_values(&[PROJECTION, kind, class])
                    .inc();
            } else {
                ok += 1;
            }
            metrics
                .bulk_items
                .with_label_values(&[
                    PROJECTION,
                    kind,
                    if item_failed { "failed" } else { "success" },
                ])
                .inc();
            outcomes.push(outcome);
        }
        let result = match (ok, bad) {
            (_, 0) => "success",
            (0, _) => "failed",
            _ => "partial",
        };
        metrics
            .bulk_requests
            .with_label_values(&[PROJECTION, result])
            .inc();
        outcomes
    }
}
