//! Everything a check may look at, each piece optional: absent means "not observed
//! (yet)", which the grading mode turns into pending, not recorded, or failed.

use serde_json::Value;

use crate::jaeger::TraceSummary;
use crate::prom::Samples;

#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub metrics_before: Option<Samples>,
    pub metrics_after: Option<Samples>,
    /// The worker's log lines (redacted).
    pub log: Option<Vec<String>>,
    /// The outbox event under drill.
    pub event_id: Option<String>,
    pub traces_by_event: Option<Vec<TraceSummary>>,
    pub traces_by_batch: Option<Vec<TraceSummary>>,
    /// The event's status after Elasticsearch was started again (`None`: not observed).
    pub status_after_recovery: Option<String>,
}

impl Observations {
    /// The claim batch of the drilled event: from its `outbox.process` span (tag or
    /// parent batch span), else from a log line that names both ids.
    pub fn claim_batch_id(&self) -> Option<String> {
        let event_id = self.event_id.as_deref()?;
        let from_traces = self.traces_by_event.iter().flatten().find_map(|trace| {
            let process = trace.spans.iter().find(|s| {
                s.operation == "outbox.process"
                    && s.tags.get("wordloom.outbox_event_id").map(String::as_str) == Some(event_id)
            })?;
            process
                .tags
                .get("wordloom.claim_batch_id")
                .cloned()
                .or_else(|| {
                    let parent = process.parent_span_id.as_deref()?;
                    trace
                        .spans
                        .iter()
                        .find(|s| s.span_id == parent)?
                        .tags
                        .get("wordloom.claim_batch_id")
                        .cloned()
                })
        });
        from_traces.or_else(|| {
            self.log_json().find_map(|line| {
                (line.get("outbox_event_id").and_then(Value::as_str) == Some(event_id))
                    .then(|| {
                        line.get("claim_batch_id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .flatten()
            })
        })
    }

    /// The log's JSON lines (plain lines skipped).
    pub fn log_json(&self) -> impl Iterator<Item = Value> + '_ {
        self.log
            .iter()
            .flatten()
            .filter(|line| line.trim_start().starts_with('{'))
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
    }
}
