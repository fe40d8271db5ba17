//! What one freeze captures: every source asked in parallel within a budget, the files
//! that record what each answered (or why it did not), and the observations graded
//! from them.

use serde_json::{Value, json};

use super::*;

/// Traces found by one query: Jaeger's answer as it came, and its summaries.
type Found = Result<(Value, Vec<TraceSummary>), String>;

/// A file of a freeze: its path in the run, its content.
pub(super) type FrozenFile = (String, Vec<u8>);

/// Every source's answer at one freeze, before anything is written.
pub(super) struct Capture {
    /// The freeze's label (its files' timestamp).
    pub label: String,
    pub event: Option<Uuid>,
    /// The worker's log as graded: the whole log as written at the last freeze.
    log: Vec<String>,
    /// The freeze's `/metrics` page (both workers' in one for two-worker drills).
    metrics: Result<Scrape, String>,
    /// The PromQL queries and answers the page was made from (Prometheus source).
    promql: Option<Value>,
    services: Result<Value, String>,
    operations: Result<Value, String>,
    by_event: Option<Found>,
    by_batch: Option<(String, Found)>,
    /// The drilled entity's ES document (drills that check the version it ends at).
    document: Option<Value>,
    containers: Value,
    outbox: Value,
}

/// Why a source has no answer in this freeze: it did not answer within the budget.
fn timed_out(what: &str) -> String {
    format!(
        "{what} did not answer within {} ms",
        FREEZE_SOURCE_TIMEOUT.as_millis()
    )
}

/// The file that stands for a source that did not answer: what it said instead.
fn unavailable(source: &str, error: &str, label: &str) -> Vec<u8> {
    json!({"available": false, "source": source, "error": error, "at": label})
        .to_string()
        .into_bytes()
}

impl Session {
    /// Asks every source at once, each within the freeze budget.
    pub(super) async fn capture(&mut self, label: String, last: bool) -> Capture {
        let event = self.event_under_drill();
        // The last freeze grades the whole log as written (what `verify` reads), not
        // the live tail's newest key lines: one verdict, whoever grades the run.
        let log = match last {
            true => crate::evidence::read::run_logs(&self.run.dir, "")
                .unwrap_or_else(|| self.log_lines()),
            false => self.log_lines(),
        };
        // From Prometheus, the workers are not scraped here; the last freeze waits for
        // a scrape of each newer than now (its verdict is the run's).
        let prom = self.prom_counters.is_some();
        if prom && last {
            self.prom_wait_fresh().await;
        }
        // Only a port proven to be served by our worker is scraped.
        let first_url = (!prom && !self.worker_killed && !self.worker1_replaced)
            .then(|| self.proven_metrics_url(1));
        let second_url = (!prom && self.second.is_some()).then(|| self.proven_metrics_url(2));
        let replica_numbers: Vec<usize> = match prom {
            true => Vec::new(),
            false => self.fleet.iter().map(|r| r.number).collect(),
        };
        let replica_urls: Vec<_> = replica_numbers
            .iter()
            .map(|&n| Some(self.proven_metrics_url(n)))
            .collect();
        let prom_page = async {
            match prom {
                true => Some(self.prom_page().await),
                false => None,
            }
        };
        let http = self.http.clone();
        let scrape_at = |url: Option<Result<String, String>>| {
            let http = http.clone();
            async move {
                match url {
                    Some(Ok(url)) => Some(scrape(&http, &url).await.map_err(error_text)),
                    Some(Err(stranger)) => Some(Err(stranger)),
                    None => None,
                }
            }
        };
        let (first, second, replicas, promql, services, operations, findings, containers, outbox) = tokio::join!(
            within(scrape_at(first_url)),
            within(scrape_at(second_url)),
            within(futures::future::join_all(
                replica_urls.into_iter().map(scrape_at)
            )),
            within(prom_page),
            within(async { self.jaeger.services().await.map_err(error_text) }),
            within(async { self.jaeger.operations().await.map_err(error_text) }),
            within(self.find_traces_raw(&log)),
            within(self.containers_json()),
            within(self.outbox_json()),
        );
        let first = first.unwrap_or_else(|_| Some(Err(timed_out("/metrics"))));
        let second = second.unwrap_or_else(|_| Some(Err(timed_out("worker 2's /metrics"))));
        // A replica that did not answer in time keeps its last page in the fleet's sum.
        for (n, page) in replica_numbers.iter().zip(replicas.unwrap_or_default()) {
            if let (Some(Ok(page)), Some(replica)) =
                (page, self.fleet.iter_mut().find(|r| r.number == *n))
            {
                replica.latest = Some(page);
            }
        }
        let (metrics, promql) = match promql {
            Ok(None) => (self.freeze_pages(first, second), None),
            Ok(Some(Ok(page))) => {
                let record = page.record();
                (Ok(self.keep_prom_page(page)), Some(record))
            }
            Ok(Some(Err(error))) => (Err(error), None),
            Err(_) => (Err(timed_out("Prometheus")), None),
        };
        // The freeze's page is a scrape too: a change it shows is journaled like any
        // other (replay rebuilds the counters from the journal).
        if let Ok(page) = &metrics {
            self.journal_counters(&page.samples);
        }
        let (by_event, by_batch) = findings.unwrap_or((None, None));
        let document = within(self.entity_document())
            .await
            .ok()
            .and_then(Result::ok);
        Capture {
            label,
            event,
            log,
            metrics,
            promql,
            services: services.unwrap_or_else(|_| Err(timed_out("Jaeger"))),
            operations: operations.unwrap_or_else(|_| Err(timed_out("Jaeger"))),
            by_event: event.and(by_event),
            by_batch,
            document,
            containers: containers
                .unwrap_or_else(|_| json!({"available": false, "error": timed_out("Docker")})),
            outbox: outbox
                .unwrap_or_else(|_| json!({"available": false, "error": timed_out("Postgres")})),
        }
    }

    /// The capture as the freeze's files, in a fixed order: metrics, Jaeger, traces,
    /// the document, the gates' records, containers, outbox.
    pub(super) fn capture_files(&self, capture: &Capture, last: bool) -> Vec<FrozenFile> {
        let mut files = self.metrics_files(capture, last);
        files.extend(jaeger_files(capture));
        files.extend(trace_files(capture));
        files.extend(document_file(capture));
        files.extend(self.gate_files(&capture.label));
        files.extend(state_files(capture));
        files
    }

    /// The observations the freeze's verdict is graded from (before the files are read
    /// back, for the last freeze).
    pub(super) fn capture_observations(&self, capture: Capture, last: bool) -> Observations {
        let event_row = capture.event.and_then(|id| {
            capture.outbox["rows"]
                .as_array()?
                .iter()
                .find(|r| r["id"] == id.to_string())
                .cloned()
        });
        let text_of = |key: &str| {
            event_row
                .as_ref()
                .and_then(|row| row[key].as_str().map(str::to_string))
        };
        let (status_after_recovery, event_reason) = if self.end_state_due() {
            (text_of("status"), text_of("error_reason"))
        } else {
            (None, None)
        };
        let traces_of =
            |found: Option<&Found>| found.and_then(|f| f.as_ref().ok()).map(|f| f.1.clone());
        Observations {
            metrics_before: self.metrics_before(),
            drill_rows: crate::drill::observations::rows_of_snapshot(&capture.outbox),
            worker2_log: match (last, &self.second) {
                (true, Some(_)) => self.others_logs_as_written(),
                _ => self.worker2_log_lines(),
            },
            metrics_after: capture.metrics.as_ref().ok().map(|s| s.samples.clone()),
            event_id: capture.event.map(|id| id.to_string()),
            traces_by_event: traces_of(capture.by_event.as_ref()),
            traces_by_batch: traces_of(capture.by_batch.as_ref().map(|(_, found)| found)),
            status_after_recovery,
            event_reason,
            document_version: capture.document.as_ref().and_then(document_version),
            collector_refusals: self.collector_refusals(),
            log: Some(capture.log),
        }
    }

    /// The freeze's `/metrics` page (or why there is none); the last freeze adds
    /// `metrics-after.txt` and each worker's own last page.
    fn metrics_files(&self, capture: &Capture, last: bool) -> Vec<FrozenFile> {
        let ts = &capture.label;
        let scraped = match &capture.metrics {
            Ok(scraped) => scraped,
            Err(error) => {
                return vec![(
                    format!("_metrics/unavailable-{ts}.json"),
                    unavailable("metrics", error, ts),
                )];
            }
        };
        let mut files = vec![(
            format!("_metrics/metrics-{ts}.txt"),
            scraped.raw.clone().into_bytes(),
        )];
        if let Some(record) = &capture.promql {
            files.push((
                format!("_metrics/promql-{ts}.json"),
                serde_json::to_vec_pretty(record).unwrap_or_default(),
            ));
        }
        if last {
            files.push((
                "_metrics/metrics-after.txt".into(),
                scraped.raw.clone().into_bytes(),
            ));
            files.extend(self.per_worker_after());
        }
        files
    }

    /// What the fault gates did to every request so far: the ES gate's (drills through
    /// it) and the collector's (collector_down: every export attempt it turned away).
    fn gate_files(&self, ts: &str) -> Vec<FrozenFile> {
        let mut files = Vec::new();
        if let Some(gate) = &self.gate {
            files.push((
                format!("_exports/gate-{ts}.jsonl"),
                gate.export_jsonl().into_bytes(),
            ));
        }
        if let Some(gate) = &self.collector_gate {
            files.push((
                format!("_exports/collector-gate-{ts}.jsonl"),
                gate.export_jsonl().into_bytes(),
            ));
        }
        files
    }

    /// Keeps what each worker's page said and returns the freeze's page: worker 1's
    /// as it answered, or (two workers) every worker's latest page as one — a killed
    /// worker with its last page. `Err` when no worker answered now.
    fn freeze_pages(
        &mut self,
        first: Option<Result<Scrape, String>>,
        second: Option<Result<Scrape, String>>,
    ) -> Result<Scrape, String> {
        if let Some(Ok(page)) = &first {
            self.latest = Some(page.clone());
        }
        if let (Some(worker), Some(Ok(page))) = (self.second.as_mut(), &second) {
            worker.latest = Some(page.clone());
        }
        if self.second.is_none() && self.fleet.is_empty() {
            return first.unwrap_or_else(|| Err("worker 1 was killed".into()));
        }
        let answered = [&first, &second]
            .iter()
            .any(|page| matches!(page, Some(Ok(_))))
            || !self.replica_pages().is_empty();
        match (answered, self.metrics_after_scrape()) {
            (true, Some(page)) => Ok(page),
            _ => Err(first
                .and_then(Result::err)
                .or(second.and_then(Result::err))
                .unwrap_or_else(|| "no worker answered".into())),
        }
    }

    /// `metrics-after-1.txt` and `-2` of a two-worker drill (upstream's rules read them):
    /// each worker's last page, a killed worker's under a note that says so.
    fn per_worker_after(&self) -> Vec<FrozenFile> {
        if self.prom_counters.is_some() {
            return self.prom_per_worker_after();
        }
        let mut files: Vec<FrozenFile> = self
            .replica_pages()
            .into_iter()
            .map(|(n, page)| {
                (
                    format!("_metrics/metrics-after-{n}.txt"),
                    page.raw.clone().into_bytes(),
                )
            })
            .collect();
        let Some(second) = &self.second else {
            if let (false, Some(page)) = (files.is_empty(), &self.latest) {
                files.insert(
                    0,
                    (
                        "_metrics/metrics-after-1.txt".to_string(),
                        page.raw.clone().into_bytes(),
                    ),
                );
            }
            return files;
        };
        if let Some(page) = &self.latest {
            let note = if self.worker_killed {
                "# drill-cockpit: worker 1 was killed (SIGKILL) by the drill; its last page before the kill\n"
            } else if self.worker1_replaced {
                "# drill-cockpit: worker 1 was stopped (SIGTERM) to take its in-worker fault switches out; its last page before the stop\n"
            } else {
                ""
            };
            files.push((
                "_metrics/metrics-after-1.txt".to_string(),
                format!("{note}{}", page.raw).into_bytes(),
            ));
        }
        if let Some(page) = &second.latest {
            files.push((
                "_metrics/metrics-after-2.txt".to_string(),
                page.raw.clone().into_bytes(),
            ));
        }
        files
    }

    async fn find_traces_raw(&self, log: &[String]) -> (Option<Found>, Option<(String, Found)>) {
        let Some(event) = self.event_under_drill() else {
            return (None, None);
        };
        let by_event = self
            .jaeger
            .find(&event_query(&event.to_string(), TRACE_LOOKBACK))
            .await
            .map(|f| (f.raw, f.traces))
            .map_err(error_text);
        let partial = Observations {
            event_id: Some(event.to_string()),
            traces_by_event: by_event.as_ref().ok().map(|(_, t)| t.clone()),
            log: Some(log.to_vec()),
            ..Observations::default()
        };
        let batch = match partial.claim_batch_id() {
            Some(id) => Some((
                id.clone(),
                self.jaeger
                    .find(&batch_query(&id, TRACE_LOOKBACK))
                    .await
                    .map(|f| (f.raw, f.traces))
                    .map_err(error_text),
            )),
            None => None,
        };
        (Some(by_event), batch)
    }

    async fn containers_json(&self) -> Value {
        // Structured: {"state": "running", "pid": …} / {"state": "exited", "code": …}.
        let describe = |w: &WorkerProcess| {
            json!({
                "command": w.command.join(" "),
                "status": w.state.lock().ok().map(|s| s.clone()),
                "summary": w.state.lock().map(|s| s.to_string()).unwrap_or_default(),
            })
        };
        let worker = self.worker.as_ref().map(describe);
        let worker2 = self.second.as_ref().map(|s| {
            let mut about = describe(&s.process);
            about["id"] = json!(s.id);
            about["metrics_port"] = json!(s.metrics_port);
            about
        });
        let replicas = self.replicas_json();
        if let Some(sandbox) = &self.profile.sandbox {
            return json!({"available": true, "sandbox": crate::sandbox::BANNER, "services": sandbox.services(), "worker": worker, "worker2": worker2, "replicas": replicas});
        }
        match &self.docker {
            Some(docker) => match docker.services().await {
                Ok(services) => {
                    json!({"available": true, "project": docker.project(), "services": services, "worker": worker, "worker2": worker2, "replicas": replicas})
                }
                Err(error) => {
                    json!({"available": false, "error": error.to_string(), "worker": worker, "worker2": worker2, "replicas": replicas})
                }
            },
            None => {
                json!({"available": false, "error": "Docker is not connected", "worker": worker, "worker2": worker2, "replicas": replicas})
            }
        }
    }

    async fn outbox_json(&self) -> Value {
        let Some(pool) = &self.pool else {
            return json!({"available": false, "error": "the database is not connected"});
        };
        let summary = crate::db::outbox::queue_summary(pool).await;
        let rows = crate::db::outbox::rows_by_id(pool, &self.inserted).await;
        match (summary, rows) {
            (Ok(summary), Ok(rows)) => {
                json!({"available": true, "fault_restored": self.fault_restored, "summary": summary, "rows": rows, "drill_events": self.drill_events})
            }
            (Err(error), _) | (_, Err(error)) => {
                json!({"available": false, "error": error.to_string()})
            }
        }
    }
}

/// Jaeger's services and operations as it listed them (or why it did not).
fn jaeger_files(capture: &Capture) -> Vec<FrozenFile> {
    let ts = &capture.label;
    [
        ("services", &capture.services),
        ("operations", &capture.operations),
    ]
    .into_iter()
    .map(|(name, answer)| match answer {
        Ok(body) => (
            format!("_exports/jaeger-{name}-{ts}.json"),
            format!("{body:#}").into_bytes(),
        ),
        Err(error) => (
            format!("_exports/unavailable-jaeger-{name}-{ts}.json"),
            unavailable("jaeger", error, ts),
        ),
    })
    .collect()
}

/// The event's traces and its claim batch's, as Jaeger answered (or why it did not).
fn trace_files(capture: &Capture) -> Vec<FrozenFile> {
    let ts = &capture.label;
    let mut files = Vec::new();
    if let (Some(event), Some(found)) = (capture.event, &capture.by_event) {
        files.push(match found {
            Ok((raw, _)) => (
                format!("_exports/jaeger-traces-outbox_event_id-{event}-{ts}.json"),
                format!("{raw:#}").into_bytes(),
            ),
            Err(error) => (
                format!("_exports/unavailable-jaeger-traces-{ts}.json"),
                unavailable("jaeger", error, ts),
            ),
        });
    }
    if let Some((batch_id, found)) = &capture.by_batch {
        files.push(match found {
            Ok((raw, _)) => {
                // The batch id comes from the worker's log or span tags: it names the
                // file only when it is plainly an id (else a hash), and the original
                // stays inside the export.
                let mut raw = raw.clone();
                if let Some(object) = raw.as_object_mut() {
                    object.insert(
                        "drill_cockpit_query".into(),
                        json!({"operation": "projection.process_batch", "wordloom.claim_batch_id": batch_id}),
                    );
                }
                (
                    format!(
                        "_exports/jaeger-projection-by-claim_batch_id-{}-{ts}.json",
                        crate::evidence::write::file_id(batch_id)
                    ),
                    format!("{raw:#}").into_bytes(),
                )
            }
            Err(error) => (
                format!("_exports/unavailable-jaeger-batch-{ts}.json"),
                unavailable("jaeger", error, ts),
            ),
        });
    }
    files
}

/// The drilled entity's ES document, when the drill reads one and ES answered.
fn document_file(capture: &Capture) -> Option<FrozenFile> {
    let document = capture.document.as_ref()?;
    Some((
        format!("_es_document-{}.json", capture.label),
        format!("{document:#}").into_bytes(),
    ))
}

/// The services' state and the outbox's, as they answered (or why they did not).
fn state_files(capture: &Capture) -> [FrozenFile; 2] {
    let ts = &capture.label;
    [
        (
            format!("_containers-{ts}.json"),
            format!("{:#}", capture.containers).into_bytes(),
        ),
        (
            format!("_outbox-{ts}.json"),
            format!("{:#}", capture.outbox).into_bytes(),
        ),
    ]
}
