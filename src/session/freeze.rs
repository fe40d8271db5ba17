//! The freeze: every source captured in parallel within a budget and written as one
//! all-or-nothing set of files (the last freeze adds the run's final files).

use serde_json::{Value, json};

use super::*;

impl Session {
    /// The freeze's timestamp label, suffixed (`-2`, `-3`, …) when a freeze already took
    /// this second: every freeze writes `_containers-<label>.json`, so that file says.
    fn freeze_label(&self) -> String {
        let base = timestamp();
        (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                }
            })
            .find(|label| {
                !self
                    .run
                    .dir
                    .join(format!("_containers-{label}.json"))
                    .exists()
            })
            .unwrap_or(base)
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
        if self.second.is_none() {
            return first.unwrap_or_else(|| Err("worker 1 was killed".into()));
        }
        let answered = [&first, &second]
            .iter()
            .any(|page| matches!(page, Some(Ok(_))));
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
    fn per_worker_after(&self) -> Vec<(String, Vec<u8>)> {
        let Some(second) = &self.second else {
            return Vec::new();
        };
        let mut files = Vec::new();
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

    /// Captures every source in parallel and writes it as one all-or-nothing freeze.
    /// `last` also writes the run's final files (`metrics-after.txt`, `_result.json`,
    /// `report.md`, `timeline.svg`, `manifest.json`, `_outbox_event_id.txt`).
    pub async fn freeze(&mut self, last: bool) -> Result<(PathBuf, Verdict), String> {
        match self.freeze_all(last).await {
            Ok(done) => Ok(done),
            Err(error) => Err(self.action_failed("freeze", error)),
        }
    }

    async fn freeze_all(&mut self, last: bool) -> Result<(PathBuf, Verdict), String> {
        let ts = self.freeze_label();
        let capture_started = std::time::Instant::now();
        let event = self.event_under_drill();
        // The last freeze grades the whole log as written (what `verify` reads), not
        // the live tail's newest key lines: one verdict, whoever grades the run.
        let log = match last {
            true => crate::evidence::read::run_logs(&self.run.dir, "")
                .unwrap_or_else(|| self.log_lines()),
            false => self.log_lines(),
        };
        // Only a port proven to be served by our worker is scraped.
        let first_url =
            (!self.worker_killed && !self.worker1_replaced).then(|| self.proven_metrics_url(1));
        let second_url = self.second.is_some().then(|| self.proven_metrics_url(2));
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

        let (first, second, services, operations, findings, containers, outbox) = tokio::join!(
            within(scrape_at(first_url)),
            within(scrape_at(second_url)),
            within(async { self.jaeger.services().await.map_err(error_text) }),
            within(async { self.jaeger.operations().await.map_err(error_text) }),
            within(self.find_traces_raw(&log)),
            within(self.containers_json()),
            within(self.outbox_json()),
        );
        let timeout = |what: &str| {
            format!(
                "{what} did not answer within {} ms",
                FREEZE_SOURCE_TIMEOUT.as_millis()
            )
        };
        let first = first.unwrap_or_else(|_| Some(Err(timeout("/metrics"))));
        let second = second.unwrap_or_else(|_| Some(Err(timeout("worker 2's /metrics"))));
        let metrics = self.freeze_pages(first, second);
        // The freeze's page is a scrape too: a change it shows is journaled like any
        // other (replay rebuilds the counters from the journal).
        if let Ok(page) = &metrics {
            self.journal_counters(&page.samples);
        }
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let unavailable = |source: &str, error: &str| {
            json!({"available": false, "source": source, "error": error, "at": ts})
                .to_string()
                .into_bytes()
        };

        match &metrics {
            Ok(scraped) => {
                files.push((
                    format!("_metrics/metrics-{ts}.txt"),
                    scraped.raw.clone().into_bytes(),
                ));
                if last {
                    files.push((
                        "_metrics/metrics-after.txt".into(),
                        scraped.raw.clone().into_bytes(),
                    ));
                    files.extend(self.per_worker_after());
                }
            }
            Err(error) => files.push((
                format!("_metrics/unavailable-{ts}.json"),
                unavailable("metrics", error),
            )),
        }
        for (name, result) in [("services", services), ("operations", operations)] {
            match result.unwrap_or_else(|_| Err(timeout("Jaeger"))) {
                Ok(body) => files.push((
                    format!("_exports/jaeger-{name}-{ts}.json"),
                    format!("{body:#}").into_bytes(),
                )),
                Err(error) => files.push((
                    format!("_exports/unavailable-jaeger-{name}-{ts}.json"),
                    unavailable("jaeger", &error),
                )),
            }
        }
        let (event_raw, batch) = findings.unwrap_or((None, None));
        let mut traces_by_event = None;
        let mut traces_by_batch = None;
        if let (Some(event), Some(result)) = (event, event_raw) {
            match result {
                Ok((raw, traces)) => {
                    files.push((
                        format!("_exports/jaeger-traces-outbox_event_id-{event}-{ts}.json"),
                        format!("{raw:#}").into_bytes(),
                    ));
                    traces_by_event = Some(traces);
                }
                Err(error) => files.push((
                    format!("_exports/unavailable-jaeger-traces-{ts}.json"),
                    unavailable("jaeger", &error),
                )),
            }
        }
        if let Some((batch_id, result)) = batch {
            match result {
                Ok((mut raw, traces)) => {
                    // The batch id comes from the worker's log or span tags: it names the
                    // file only when it is plainly an id (else a hash), and the original
                    // stays inside the export.
                    if let Some(object) = raw.as_object_mut() {
                        object.insert(
                            "drill_cockpit_query".into(),
                            json!({"operation": "projection.process_batch", "wordloom.claim_batch_id": batch_id}),
                        );
                    }
                    files.push((
                        format!(
                            "_exports/jaeger-projection-by-claim_batch_id-{}-{ts}.json",
                            crate::evidence::write::file_id(&batch_id)
                        ),
                        format!("{raw:#}").into_bytes(),
                    ));
                    traces_by_batch = Some(traces);
                }
                Err(error) => files.push((
                    format!("_exports/unavailable-jaeger-batch-{ts}.json"),
                    unavailable("jaeger", &error),
                )),
            }
        }
        // The drilled entity's ES document, for drills that check the version it ends at.
        let document = within(self.entity_document())
            .await
            .ok()
            .and_then(Result::ok);
        if let Some(document) = &document {
            files.push((
                format!("_es_document-{ts}.json"),
                format!("{document:#}").into_bytes(),
            ));
        }
        // What the fault gate did to every request so far (drills through the gate).
        if let Some(gate) = &self.gate {
            files.push((
                format!("_exports/gate-{ts}.jsonl"),
                gate.export_jsonl().into_bytes(),
            ));
        }
        // collector_down: every export attempt the collector's gate turned away.
        if let Some(gate) = &self.collector_gate {
            files.push((
                format!("_exports/collector-gate-{ts}.jsonl"),
                gate.export_jsonl().into_bytes(),
            ));
        }
        files.push((
            format!("_containers-{ts}.json"),
            format!(
                "{:#}",
                containers
                    .unwrap_or_else(|_| json!({"available": false, "error": timeout("Docker")}))
            )
            .into_bytes(),
        ));
        let outbox =
            outbox.unwrap_or_else(|_| json!({"available": false, "error": timeout("Postgres")}));
        let event_row = event.and_then(|id| {
            outbox["rows"]
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
        files.push((
            format!("_outbox-{ts}.json"),
            format!("{outbox:#}").into_bytes(),
        ));

        let observations = Observations {
            metrics_before: self.metrics_before(),
            drill_rows: crate::drill::observations::rows_of_snapshot(&outbox),
            worker2_log: match (last, &self.second) {
                (true, Some(_)) => crate::evidence::read::run_logs(&self.run.dir, "worker2"),
                _ => self.worker2_log_lines(),
            },
            metrics_after: metrics.as_ref().ok().map(|s| s.samples.clone()),
            log: Some(log),
            event_id: event.map(|id| id.to_string()),
            traces_by_event,
            traces_by_batch,
            status_after_recovery,
            event_reason,
            document_version: document.as_ref().and_then(document_version),
            collector_refusals: self.collector_refusals(),
        };
        let capture_ms = capture_started.elapsed().as_millis() as u64;
        // The report and the SVG show this freeze too, so its mark goes in first;
        // its total time is journaled once the files are in place.
        self.journal(
            "freeze",
            json!({"label": ts, "final": last, "files": files.len(), "capture_ms": capture_ms}),
        );
        if last && let Some(event) = event {
            files.push((
                "_outbox_event_id.txt".into(),
                format!("{event}\n").into_bytes(),
            ));
        }
        let verdict = if last {
            // The evidence first; the verdict is then graded from the files as written,
            // exactly as `verify` grades them: one verdict, whoever grades the run (a
            // source slow at this freeze cannot fail what an earlier export shows).
            self.write_freeze(&ts, files).await?;
            let (verdict, observations) = self.grade_written_run(&observations).await;
            let verdict_files = self.verdict_files(&verdict, &observations, "");
            self.write_freeze(&format!("{ts}-verdict"), verdict_files)
                .await?;
            verdict
        } else {
            let verdict = self.grade(&observations, Missing::Pending);
            files.extend(self.verdict_files(&verdict, &observations, &format!("-{ts}")));
            self.write_freeze(&ts, files).await?;
            verdict
        };
        // A point-in-time listing per freeze; the run's own `manifest.json` is written by
        // `close`, once nothing writes into the run any more.
        if !last {
            let listing = self.listing().await?;
            self.run
                .write_json(&format!("manifest-{ts}.json"), &listing)
                .map_err(error_text)?;
        }
        let total_ms = capture_started.elapsed().as_millis() as u64;
        self.last_freeze_ms = Some(total_ms);
        // `label`, not `ts`: the journal stamps its own `ts` on every line.
        self.journal(
            "frozen",
            json!({"label": ts, "capture_ms": capture_ms, "total_ms": total_ms}),
        );
        Ok((self.run.dir.clone(), verdict))
    }

    /// Writes one freeze's files, all or nothing; each file is synced to disk, off the
    /// async workers.
    async fn write_freeze(&self, label: &str, files: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        let run = self.run.clone();
        let label = label.to_string();
        tokio::task::spawn_blocking(move || run.freeze(&label, &files))
            .await
            .map_err(|e| format!("the freeze task failed: {e}"))?
            .map_err(error_text)?;
        Ok(())
    }

    /// The run graded from its files as `verify` reads them (falling back to what was
    /// observed live if the run directory cannot be read back).
    async fn grade_written_run(&mut self, live: &Observations) -> (Verdict, Observations) {
        // Reading the logs back is file IO of up to tens of MiB: off the async workers.
        let dir = self.run.dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            crate::evidence::read::read_run_dir(&dir).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the read-back task failed: {e}")));
        let observations = match read {
            Ok(run) => run.observations,
            Err(error) => {
                self.journal(
                    "note",
                    json!({"message": format!("the run could not be read back for its verdict ({error}); graded as observed")}),
                );
                live.clone()
            }
        };
        (self.grade(&observations, Missing::Failed), observations)
    }

    /// `_result.json`, `report.md` and `timeline.svg` of a verdict (`suffix`: `-<ts>` for
    /// a freeze before the last).
    fn verdict_files(
        &self,
        verdict: &Verdict,
        observations: &Observations,
        suffix: &str,
    ) -> Vec<(String, Vec<u8>)> {
        let timeline = self.timeline();
        let run_dir = self.run.dir.display().to_string();
        let banner = if self.profile.sandbox.is_some() {
            format!("> **{}**\n\n", crate::sandbox::BANNER)
        } else {
            String::new()
        };
        vec![
            (
                format!("_result{suffix}.json"),
                format!("{:#}", verdict.result_json(&run_dir)).into_bytes(),
            ),
            (
                format!("report{suffix}.md"),
                format!(
                    "{banner}{}",
                    report::render(
                        &self.run.run_id,
                        verdict,
                        observations,
                        self.jaeger.base(),
                        &timeline,
                    )
                )
                .into_bytes(),
            ),
            (
                format!("timeline{suffix}.svg"),
                svg::render(
                    &format!("{} — {}", self.scenario, self.run.run_id),
                    &timeline,
                )
                .into_bytes(),
            ),
        ]
    }

    /// Size and sha256 of every file of the run. Hashing reads every file (the log may
    /// be large): off the async workers.
    pub(super) async fn listing(&self) -> Result<Value, String> {
        let run_dir = self.run.dir.clone();
        tokio::task::spawn_blocking(move || manifest::manifest(&run_dir, &[]))
            .await
            .map_err(|e| format!("computing the manifest failed: {e}"))
    }

    #[allow(clippy::type_complexity)]
    async fn find_traces_raw(
        &self,
        log: &[String],
    ) -> (
        Option<Result<(Value, Vec<TraceSummary>), String>>,
        Option<(String, Result<(Value, Vec<TraceSummary>), String>)>,
    ) {
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
        if let Some(sandbox) = &self.profile.sandbox {
            return json!({"available": true, "sandbox": crate::sandbox::BANNER, "services": sandbox.services(), "worker": worker, "worker2": worker2});
        }
        match &self.docker {
            Some(docker) => match docker.services().await {
                Ok(services) => {
                    json!({"available": true, "project": docker.project(), "services": services, "worker": worker, "worker2": worker2})
                }
                Err(error) => {
                    json!({"available": false, "error": error.to_string(), "worker": worker, "worker2": worker2})
                }
            },
            None => {
                json!({"available": false, "error": "Docker is not connected", "worker": worker, "worker2": worker2})
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
