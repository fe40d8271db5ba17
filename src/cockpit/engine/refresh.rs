//! The sources on their intervals: reachability probes, containers, the worker's
//! metrics and the live grade, the outbox, the traces, the gates and the story.

use super::*;

impl Engine {
    /// Retries what is down and probes what the panes cannot otherwise see. Returns
    /// whether Docker is (again) reachable with no event stream: the caller subscribes.
    pub(super) async fn probe(&mut self, streaming: bool) -> bool {
        let mut resubscribe = false;
        if self.session.profile.sandbox.is_some() {
            // No Docker to reach: the simulated services are read directly.
            self.refresh_containers().await;
        } else if self.session.docker.is_none() {
            if let Ok(Ok(())) =
                tokio::time::timeout(PROBE_INTERVAL, self.session.connect_docker()).await
            {
                self.step(
                    "docker",
                    StepState::Done(format!("project {}", self.session.profile.compose_project)),
                );
                self.refresh_containers().await;
                resubscribe = true;
            }
        } else if !streaming {
            // The event stream broke (Docker went away): listing again tells whether it is back.
            self.refresh_containers().await;
            resubscribe = matches!(self.snapshot.containers, Some(Ok(_)));
        }
        if self.session.pool.is_none()
            && let Ok(Ok(())) =
                tokio::time::timeout(PROBE_INTERVAL, self.session.connect_db()).await
        {
            self.step(
                "database",
                StepState::Done(self.session.profile.redacted_database_url()),
            );
            self.refresh_outbox().await;
        }
        let url = self.session.profile.elastic_url.clone();
        self.snapshot.elastic = Some(
            match self
                .session
                .http
                .get(&url)
                .timeout(PROBE_INTERVAL)
                .send()
                .await
            {
                Ok(answer) => Ok(format!("HTTP {}", answer.status().as_u16())),
                Err(error) => Err(format!(
                    "cannot reach Elasticsearch at {url}: {}. Start it (S) or check ELASTIC_URL",
                    crate::sources::metrics::error_chain(&error)
                )),
            },
        );
        if self.session.event_under_drill().is_none() {
            self.snapshot.jaeger_error =
                match tokio::time::timeout(PROBE_INTERVAL, self.session.jaeger.services()).await {
                    Ok(Ok(_)) => None,
                    Ok(Err(error)) => Some(error.to_string()),
                    Err(_) => Some(format!(
                        "Jaeger at {} did not answer within {} ms",
                        self.session.profile.jaeger_url,
                        PROBE_INTERVAL.as_millis()
                    )),
                };
        }
        self.publish();
        resubscribe
    }

    /// The story so far, as the session kept it while journaling (no file is read).
    pub(super) fn refresh_moments(&mut self) {
        let story = self.session.story();
        if let Some(start) = story.start() {
            self.snapshot.elapsed =
                (chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - start).max(0.0);
        }
        self.snapshot.moments = story.moments;
    }

    /// Worker 2's id, port and state, when the drill runs one.
    pub(super) fn worker2(&mut self) -> Option<(String, u16, WorkerState)> {
        let state = self.session.second_worker_state()?;
        let second = self.session.second.as_ref()?;
        Some((second.id.clone(), second.metrics_port, state))
    }

    /// The fleet's replicas: number, id, metrics port and state.
    pub(super) fn replicas(&mut self) -> Vec<(usize, String, u16, WorkerState)> {
        self.session
            .fleet
            .iter_mut()
            .map(|r| (r.number, r.id.clone(), r.metrics_port, r.process.poll()))
            .collect()
    }

    /// The gates' state and their newest requests.
    pub(super) fn gates(&self) -> Vec<GateView> {
        [
            ("Elasticsearch", &self.session.gate),
            ("trace collector", &self.session.collector_gate),
        ]
        .into_iter()
        .filter_map(|(role, gate)| {
            let gate = gate.as_ref()?;
            let (recent, total, injected) = gate.recent(GATE_RECENT);
            Some(GateView {
                role,
                url: gate.url(),
                upstream: gate.upstream().to_string(),
                fault: gate.fault().describe(),
                total,
                injected,
                recent,
            })
        })
        .collect()
    }

    /// Each worker's Δ since its own baseline (two-worker drills, and a fleet).
    pub(super) fn per_worker(&self) -> Vec<(usize, f64, f64, f64)> {
        if self.session.second.is_none() && self.session.fleet.is_empty() {
            return Vec::new();
        }
        // From Prometheus, each worker's series are told apart by their instance.
        if let Some(rows) = self.session.prom_worker_deltas() {
            return rows;
        }
        let delta = |before: Option<&crate::sources::metrics::Scrape>,
                     after: Option<&crate::sources::metrics::Scrape>,
                     metric: &str| {
            let value = |s: Option<&crate::sources::metrics::Scrape>| {
                s.map(|s| s.samples.sum(metric, &[])).unwrap_or(0.0)
            };
            crate::prom::delta(value(before), value(after))
        };
        let first = (
            1,
            self.session.baseline.as_ref(),
            self.session.latest.as_ref(),
        );
        std::iter::once(first)
            .chain(
                self.session
                    .second
                    .iter()
                    .chain(&self.session.fleet)
                    .map(|w| (w.number, w.baseline.as_ref(), w.latest.as_ref())),
            )
            .map(|(n, before, after)| {
                (
                    n,
                    delta(before, after, "outbox_processed_total"),
                    delta(before, after, "outbox_failed_total"),
                    delta(before, after, "outbox_retry_scheduled_total"),
                )
            })
            .collect()
    }

    pub(super) async fn refresh_containers(&mut self) {
        if let Some(platform) = self.session.platform() {
            let services = platform.list().await;
            if self.snapshot.containers.as_ref() != Some(&services) {
                self.snapshot.containers = Some(services);
            }
            self.snapshot.es_stopped = self.session.es_stopped;
            self.publish();
        }
    }

    pub(super) async fn scrape(&mut self) {
        match self.session.scrape().await {
            Ok(scraped) => {
                self.snapshot.metrics_error = None;
                if !self.snapshot.counters.has_baseline() {
                    if self.session.take_baseline().await.is_ok() {
                        self.session.journal(
                            "note",
                            serde_json::json!({"message": "drill started: baseline taken"}),
                        );
                    }
                    // The fleet's baselines as taken (a replica's may come after the scrape).
                    self.snapshot.counters.set_baseline(
                        self.session
                            .metrics_before()
                            .unwrap_or_else(|| scraped.samples.clone()),
                    );
                }
                // Worker 2 of a two-worker drill may answer later than worker 1.
                if self.session.baseline.is_some()
                    && self
                        .session
                        .second
                        .as_ref()
                        .is_some_and(|s| s.baseline.is_none() && s.latest.is_some())
                    && self.session.take_second_baseline().await.is_ok()
                    && let Some(before) = self.session.metrics_before()
                {
                    self.snapshot.counters.set_baseline(before);
                }
                self.snapshot.counters.update(&scraped.samples);
                self.snapshot.per_worker = self.per_worker();
                self.refresh_moments();
            }
            Err(error) => self.snapshot.metrics_error = Some(error),
        }
        self.regrade().await;
        self.publish();
    }

    pub(super) async fn regrade(&mut self) {
        if let Some(Ok((_, rows))) = &self.snapshot.outbox {
            self.session
                .note_poisoned(&crate::session::row_states(rows));
            self.snapshot.event_id = self.session.event_under_drill().map(|id| id.to_string());
        }
        let mut observations = Observations {
            metrics_before: self.session.metrics_before(),
            metrics_after: self.session.metrics_after(),
            log: Some(self.session.log_lines()),
            worker2_log: self.session.worker2_log_lines(),
            event_id: self.snapshot.event_id.clone(),
            traces_by_event: self.snapshot.event_traces.clone().and_then(Result::ok),
            traces_by_batch: self.snapshot.batch_traces.clone().and_then(Result::ok),
            status_after_recovery: None,
            event_reason: None,
            // A replay drill's document, read as `run` and the freeze read it.
            document_version: match self.session.drill.document_version {
                Some(_) => self
                    .session
                    .entity_document()
                    .await
                    .ok()
                    .as_ref()
                    .and_then(crate::drill::observations::document_version),
                None => None,
            },
            // The drill's own events only: a later insert never re-points a check.
            drill_rows: match &self.snapshot.outbox {
                Some(Ok((_, rows))) => Some(crate::session::row_states(
                    &rows
                        .iter()
                        .filter(|r| self.session.drill_events.contains(&r.id))
                        .cloned()
                        .collect::<Vec<_>>(),
                )),
                _ => None,
            },
            collector_refusals: self.session.collector_refusals(),
        };
        if self.session.end_state_due()
            && let Some((status, reason)) = self.event_state()
        {
            observations.status_after_recovery = Some(status);
            observations.event_reason = reason;
        }
        self.snapshot.checklist = Some(self.session.grade(&observations, Missing::Pending));
    }

    pub(super) fn event_state(&self) -> Option<(String, Option<String>)> {
        let id = self.snapshot.event_id.as_deref()?;
        match &self.snapshot.outbox {
            Some(Ok((_, rows))) => rows
                .iter()
                .find(|r| r.id.to_string() == id)
                .map(|r| (r.status.clone(), r.error_reason.clone())),
            _ => None,
        }
    }

    pub(super) async fn refresh_outbox(&mut self) {
        let Some(pool) = &self.session.pool else {
            return;
        };
        // One failed read is enough to tell: the second would wait out its own timeout.
        let read = async {
            let summary = crate::db::outbox::queue_summary(pool).await?;
            let rows = crate::db::outbox::rows_by_id(pool, &self.session.inserted).await?;
            Ok::<_, sqlx::Error>((summary, rows))
        };
        self.snapshot.outbox = Some(match read.await {
            Ok(data) => Ok(data),
            Err(error) => Err(format!(
                "cannot read search_outbox_events at {}: {error}. Is Postgres running? The cockpit retries every second",
                self.session.profile.redacted_database_url()
            )),
        });
        self.publish();
    }

    pub(super) async fn refresh_traces(&mut self) {
        if self.session.event_under_drill().is_none() {
            return;
        }
        let findings = self.session.find_traces(&self.session.log_lines()).await;
        self.snapshot.event_traces = findings.event_traces;
        self.snapshot.batch_id = findings.batch_id;
        self.snapshot.batch_traces = findings.batch_traces;
        self.publish();
    }
}
