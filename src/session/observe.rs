//! Observing the drill as the checks see it: metrics, log, traces, outbox state and
//! the drilled entity's document; grading it and journaling every change of a check.

use serde_json::{Value, json};

use super::*;

impl Session {
    /// Jaeger: the event's traces, then its claim batch's.
    pub async fn find_traces(&self, log: &[String]) -> TraceFindings {
        let Some(event) = self.event_under_drill() else {
            return TraceFindings::default();
        };
        let event_traces = self
            .jaeger
            .find(&event_query(&event.to_string(), TRACE_LOOKBACK))
            .await
            .map(|f| f.traces)
            .map_err(error_text);
        let partial = Observations {
            event_id: Some(event.to_string()),
            traces_by_event: event_traces.as_ref().ok().cloned(),
            log: Some(log.to_vec()),
            ..Observations::default()
        };
        let batch_id = partial.claim_batch_id();
        let batch_traces = match &batch_id {
            Some(id) => Some(
                self.jaeger
                    .find(&batch_query(id, TRACE_LOOKBACK))
                    .await
                    .map(|f| f.traces)
                    .map_err(error_text),
            ),
            None => None,
        };
        TraceFindings {
            event_traces: Some(event_traces),
            batch_id,
            batch_traces,
        }
    }

    pub fn log_lines(&self) -> Vec<String> {
        let mut lines = self
            .tail
            .lock()
            .map(|tail| tail.key_lines())
            .unwrap_or_default();
        // Worker 2's and the replicas' after worker 1's, as `verify` reads the log files.
        for tail in self.second.iter().chain(&self.fleet).map(|w| &w.tail) {
            if let Ok(tail) = tail.lock() {
                lines.extend(tail.key_lines());
            }
        }
        lines
    }

    /// Worker 2's key log lines, then the replicas' (`None` without a worker 2): in F
    /// the reclaim is any worker's but the killed one's.
    pub fn worker2_log_lines(&self) -> Option<Vec<String>> {
        let second = self.second.as_ref()?;
        let mut lines = Vec::new();
        for tail in std::iter::once(second).chain(&self.fleet).map(|w| &w.tail) {
            lines.extend(tail.lock().ok()?.key_lines());
        }
        Some(lines)
    }

    /// [`Self::worker2_log_lines`] as the log files have them whole (the last freeze).
    pub(super) fn others_logs_as_written(&self) -> Option<Vec<String>> {
        crate::evidence::read::other_workers_logs(&self.run.dir)
    }

    /// A replay drill's probe once event version `version` is done:
    /// `_probe_entry_v<version>.json` with the entity's document version then (upstream's
    /// `projection_version` key, so its rules read it too).
    pub async fn probe_document(&mut self, version: i64) -> Result<(), String> {
        let document = self.entity_document().await?;
        let found = document_version(&document);
        let probe = json!({
            "found": found.is_some(),
            "projection_version": found,
            "event_version": version,
            "entity_id": self.last_entity.map(|e| e.to_string()),
            "outbox_event_id": self.drill_events.last().map(|e| e.to_string()),
            "by": "drill-cockpit: the ES document of the entity, read once the event was done",
        });
        self.run
            .write_json(&format!("_probe_entry_v{version}.json"), &probe)
            .map_err(error_text)?;
        self.journal("probe", probe);
        Ok(())
    }

    /// Everything the checks look at, as of now.
    pub async fn observe(&mut self) -> Observations {
        let _ = self.scrape().await;
        let rows = row_states(&self.drill_rows().await);
        self.note_poisoned(&rows);
        let log = self.log_lines();
        let findings = self.find_traces(&log).await;
        let (status, reason) = if self.end_state_due() {
            self.event_state().await.unzip()
        } else {
            (None, None)
        };
        Observations {
            metrics_before: self.metrics_before(),
            metrics_after: self.metrics_after(),
            drill_rows: (!rows.is_empty()).then_some(rows),
            log: Some(log),
            worker2_log: self.worker2_log_lines(),
            event_id: self.event_under_drill().map(|id| id.to_string()),
            traces_by_event: findings.event_traces.and_then(Result::ok),
            traces_by_batch: findings.batch_traces.and_then(Result::ok),
            status_after_recovery: status,
            event_reason: reason.flatten(),
            document_version: self
                .entity_document()
                .await
                .ok()
                .as_ref()
                .and_then(document_version),
            collector_refusals: self.collector_refusals(),
        }
    }

    /// How many connections the collector's gate turned away so far (collector_down).
    pub fn collector_refusals(&self) -> Option<u64> {
        self.collector_gate.as_ref().map(|gate| gate.injected())
    }

    /// The ES document of the drilled entity, as ES answers it (drills that check the
    /// version a document ends at; `Err` for the others or when ES cannot be asked).
    pub async fn entity_document(&self) -> Result<Value, String> {
        let (Some(_), Some(entity)) = (self.drill.document_version, self.last_entity) else {
            return Err("this drill does not read documents".into());
        };
        // The id the worker wrote is not assumed: the one the gate saw it write first,
        // then upstream's `<entity_type>:<entity_id>` (CONTRACT §2), then the bare
        // entity id; the first one ES has wins.
        let written = self
            .gate
            .as_ref()
            .and_then(|gate| gate.written_doc_id(&entity.to_string()));
        let candidates = written.into_iter().chain([
            format!("{}:{entity}", crate::db::outbox::ENTITY_TYPE),
            entity.to_string(),
        ]);
        let mut last = None;
        for doc_id in candidates {
            let document = self.document_by_id(&doc_id).await?;
            if document.get("found").and_then(Value::as_bool) == Some(true) {
                return Ok(document);
            }
            last = Some(document);
        }
        last.ok_or_else(|| "no document id to look up".into())
    }

    async fn document_by_id(&self, doc_id: &str) -> Result<Value, String> {
        let url = format!(
            "{}/{}/_doc/{}",
            self.profile.elastic_url, self.profile.elastic_index, doc_id
        );
        let answer = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| crate::sources::metrics::error_chain(&e))?;
        answer
            .json()
            .await
            .map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// Grades and journals every check whose status changed.
    pub fn grade(&mut self, obs: &Observations, mode: Missing) -> Verdict {
        let verdict = grade(self.drill, obs, mode);
        for check in &verdict.checks {
            if self.last_statuses.get(check.id) != Some(&check.status) {
                self.last_statuses.insert(check.id, check.status);
                if matches!(check.status, CheckStatus::Passed | CheckStatus::Failed) {
                    self.journal("check", json!({"id": check.id, "status": check.status.label().to_lowercase(), "observed": check.observed}));
                }
            }
        }
        verdict
    }
}
