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
    /// The event's `error_reason` in the same outbox snapshot as its status.
    pub event_reason: Option<String>,
    /// The ES document of the drilled entity: its `_version` (`None` when not read or absent).
    pub document_version: Option<i64>,
    /// Worker 2's log lines, for a drill that runs two workers (`None`: no worker 2).
    pub worker2_log: Option<Vec<String>>,
    /// Every event the drill inserted, in the same outbox snapshot (oldest first).
    pub drill_rows: Option<Vec<RowState>>,
    /// How many of the worker's connections the collector's gate turned away
    /// (collector_down; `None`: no collector gate recorded).
    pub collector_refusals: Option<u64>,
}

/// The attempts a gate's export (`…gate-<ts>.jsonl`) records as hit by its fault: its
/// `injected_total` when it let records go (the faulted ones among them count too, as
/// they did live), else the kept records a fault hit.
pub fn refusals_in_export(jsonl: &str) -> u64 {
    let mut total = None;
    let mut kept = 0u64;
    for record in jsonl
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
    {
        if let Some(injected_total) = record.get("injected_total").and_then(Value::as_u64) {
            total = Some(injected_total);
        } else if record.get("injected").is_some_and(|i| !i.is_null()) {
            kept += 1;
        }
    }
    total.map_or(kept, |total| total.max(kept))
}

/// The entity version an ES document holds: its content's `event_version` (what the
/// worker wrote). `found: false`, or a document without one, has none: ES's own
/// `_version` proves nothing (a worker that writes plain PUTs bumps it on every write,
/// a stale one included), so it never stands in.
pub fn document_version(document: &Value) -> Option<i64> {
    let found = document.get("found").and_then(Value::as_bool) == Some(true);
    if !found {
        return None;
    }
    document
        .pointer("/_source/event_version")
        .and_then(Value::as_i64)
}

/// The drill's rows of an outbox snapshot (`_outbox-<ts>.json`: `rows` of objects with
/// `id`, `status`, `error_reason`, `event_version`; only those listed in `drill_events`
/// when the snapshot names them); `None` when it holds none.
pub fn rows_of_snapshot(snapshot: &Value) -> Option<Vec<RowState>> {
    let of_the_drill: Option<Vec<&str>> = snapshot
        .get("drill_events")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect());
    let rows: Vec<RowState> = snapshot
        .get("rows")?
        .as_array()?
        .iter()
        .filter_map(|row| {
            let text = |key: &str| row.get(key)?.as_str().map(str::to_string);
            Some(RowState {
                id: text("id")?,
                status: text("status")?,
                reason: text("error_reason"),
                version: row.get("event_version").and_then(Value::as_i64),
            })
        })
        .filter(|row| {
            of_the_drill
                .as_ref()
                .is_none_or(|ids| ids.contains(&row.id.as_str()))
        })
        .collect();
    (!rows.is_empty()).then_some(rows)
}

/// One of the drill's outbox rows as a snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    pub id: String,
    pub status: String,
    pub reason: Option<String>,
    /// Its `event_version`, when recorded.
    pub version: Option<i64>,
}

impl Observations {
    /// The claim batch of the drilled event: the batch of one of its failed attempts
    /// (the one under drill, whose batch span says `result=retry`) when the traces show
    /// one, else of any attempt; from its `outbox.process` span (tag or parent batch
    /// span), else from a log line that names both ids (an error line first).
    pub fn claim_batch_id(&self) -> Option<String> {
        let event_id = self.event_id.as_deref()?;
        // (batch id, whether that attempt failed), oldest attempt first.
        let mut attempts: Vec<(i64, String, bool)> = Vec::new();
        for trace in self.traces_by_event.iter().flatten() {
            for process in trace.spans.iter().filter(|s| {
                s.operation == "outbox.process"
                    && s.tags.get("wordloom.outbox_event_id").map(String::as_str) == Some(event_id)
            }) {
                let parent = process
                    .parent_span_id
                    .as_deref()
                    .and_then(|id| trace.spans.iter().find(|s| s.span_id == id));
                let Some(batch) = process
                    .tags
                    .get("wordloom.claim_batch_id")
                    .or_else(|| parent?.tags.get("wordloom.claim_batch_id"))
                    .cloned()
                else {
                    continue;
                };
                let failed = |span: Option<&crate::jaeger::SpanSummary>| {
                    span.and_then(|s| s.tags.get("result"))
                        .is_some_and(|r| r == "retry" || r == "failed")
                };
                let batch_span = trace.spans.iter().find(|s| {
                    s.operation == "projection.process_batch"
                        && s.tags.get("wordloom.claim_batch_id") == Some(&batch)
                });
                attempts.push((
                    process.start_us,
                    batch,
                    failed(Some(process)) || failed(parent) || failed(batch_span),
                ));
            }
        }
        attempts.sort_by_key(|(start, _, _)| *start);
        let from_traces = attempts
            .iter()
            .find(|(_, _, failed)| *failed)
            .or_else(|| attempts.first())
            .map(|(_, batch, _)| batch.clone());
        from_traces
            .or_else(|| self.batch_from_event_lines(event_id))
            .or_else(|| self.batch_from_claim_line())
    }

    /// The batch named by a log line that also names the event (an error line first).
    fn batch_from_event_lines(&self, event_id: &str) -> Option<String> {
        {
            let batch_of = |line: &Value| {
                (line.get("outbox_event_id").and_then(Value::as_str) == Some(event_id))
                    .then(|| {
                        line.get("claim_batch_id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .flatten()
            };
            self.log_json()
                .filter(|line| line.get("reason").is_some())
                .find_map(|line| batch_of(&line))
                .or_else(|| self.log_json().find_map(|line| batch_of(&line)))
        }
    }

    /// A worker that names no event in its lines (upstream's, in bulk mode) still logs
    /// each claim with its batch id and size (`claimed: N`): the first claim that took
    /// the drill's events — as many rows as the drill inserted together, else any rows.
    fn batch_from_claim_line(&self) -> Option<String> {
        let together = self.drill_rows.as_ref().map_or(1, Vec::len) as u64;
        let claims: Vec<(u64, String)> = self
            .log_json()
            .filter_map(|line| {
                let claimed = line.get("claimed")?.as_u64()?;
                let batch = line.get("claim_batch_id")?;
                let batch = batch
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| batch.to_string());
                (claimed >= 1).then_some((claimed, batch))
            })
            .collect();
        claims
            .iter()
            .find(|(claimed, _)| *claimed == together)
            .or_else(|| claims.first())
            .map(|(_, batch)| batch.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> RowState {
        RowState {
            id: id.into(),
            status: "done".into(),
            reason: None,
            version: None,
        }
    }

    #[test]
    fn a_worker_without_event_ids_in_bulk_is_tied_to_its_batch_by_the_claim_line() {
        let obs = Observations {
            event_id: Some("e2".into()),
            drill_rows: Some(vec![row("e1"), row("e2")]),
            log: Some(vec![
                r#"{"message": "outbox.claim_batch claimed: 0", "claimed": 0, "claim_batch_id": "b0"}"#.into(),
                r#"{"message": "outbox.claim_batch claimed: 1", "claimed": 1, "claim_batch_id": "b1"}"#.into(),
                r#"{"message": "outbox.claim_batch claimed: 2", "claimed": 2, "claim_batch_id": "b2"}"#.into(),
            ]),
            ..Observations::default()
        };
        // The claim that took as many rows as the drill inserted together.
        assert_eq!(obs.claim_batch_id().as_deref(), Some("b2"));
        let one = Observations {
            drill_rows: Some(vec![row("e1"), row("e2"), row("e3")]),
            ..obs
        };
        assert_eq!(
            one.claim_batch_id().as_deref(),
            Some("b1"),
            "else the first that took rows"
        );
    }

    #[test]
    fn only_records_a_fault_hit_count_as_refusals() {
        let export = "{\"dropped_records\":3}\n\
            {\"ts\":\"t\",\"method\":\"-\",\"path\":\"(connection)\",\"injected\":\"hang up\"}\n\
            {\"ts\":\"t\",\"method\":\"POST\",\"path\":\"/v1/traces\",\"injected\":null}\n\
            not json\n";
        assert_eq!(refusals_in_export(export), 1);
        assert_eq!(refusals_in_export(""), 0);
        // A gate that let records go says how many were hit in all.
        let let_go = "{\"dropped_records\":10000,\"injected_total\":4}\n\
            {\"ts\":\"t\",\"method\":\"POST\",\"path\":\"/v1/traces\",\"injected\":null}\n";
        assert_eq!(refusals_in_export(let_go), 4);
    }

    #[test]
    fn a_document_version_is_its_content_not_es_counter() {
        let doc =
            serde_json::json!({"found": true, "_version": 5, "_source": {"event_version": 2}});
        assert_eq!(document_version(&doc), Some(2));
        // A stale PUT makes _version 2 as surely as a kept v2 does: it never stands in.
        let bare = serde_json::json!({"found": true, "_version": 2, "_source": {"text": "v1"}});
        assert_eq!(document_version(&bare), None);
        assert_eq!(document_version(&serde_json::json!({"found": false})), None);
    }
}
