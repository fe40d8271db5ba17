//! The rest of the fleet (`--replicas N`, `worker.replicas`): the workers a drill runs
//! beside its own (worker 1, and worker 2 of E and F). Each replica has its own
//! `OUTBOX_WORKER_ID`, ports, log and baseline; the drill's counters are the fleet's
//! sums. Replicas are numbered after the drill's own workers (`worker_count() + 1 ..=
//! replicas`), so E and F keep their roles within the fleet: in E any worker may lose
//! the lease (the gate holds whichever write comes first); in F the replicas start with
//! worker 2, after worker 1 holds its claim, so worker 1 stays the one killed holding it.

use std::time::Duration;

use serde_json::json;

use super::workers::{SecondWorker, last_words};
use super::*;
use crate::drill::scenario::Workers;

/// How many times a replica is started on new ports after another process took one.
const PORT_RACE_ATTEMPTS: usize = 3;

/// `127.0.0.1:<port>`: a worker's `/metrics` as a scrape target.
fn target(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

impl Session {
    /// The numbers of the replicas this session runs beside the drill's own workers.
    pub fn replica_numbers(&self) -> std::ops::RangeInclusive<usize> {
        (self.drill.worker_count() + 1)..=self.profile.replicas.max(1)
    }

    /// How many workers the drill runs in all (its own and the replicas).
    pub fn fleet_size(&self) -> usize {
        self.profile.replicas.max(self.drill.worker_count())
    }

    /// Whether the replicas start with worker 2 (F: after worker 1 holds its claim)
    /// rather than with worker 1.
    pub(super) fn replicas_start_late(&self) -> bool {
        self.drill.workers == Workers::SecondAfterClaim
    }

    /// `host:port` of every worker's `/metrics` this session started (a killed or
    /// stopped worker too: a scraper says it is down), worker 1 first.
    pub fn metrics_targets(&self) -> Vec<String> {
        let mut targets = Vec::new();
        // A killed or replaced worker 1 is gone: Prometheus keeps its last value (the
        // ledger's vanished-replica rule) rather than scraping a port now free.
        if self.worker.is_some() && !self.worker_killed && !self.worker1_replaced {
            targets.push(target(self.profile.metrics_port));
        }
        if let Some(second) = &self.second {
            targets.push(target(second.metrics_port));
        }
        targets.extend(self.fleet.iter().map(|r| target(r.metrics_port)));
        targets
    }

    /// Every port a worker of this session was given (new replicas avoid them).
    fn ports_in_use(&self) -> Vec<u16> {
        let mut ports = vec![self.profile.metrics_port, self.profile.http_port];
        if let Some(second) = &self.second {
            ports.push(second.metrics_port);
        }
        for replica in &self.fleet {
            ports.push(replica.metrics_port);
            ports.push(replica.http_port);
        }
        ports
    }

    /// Starts every replica not yet started (none unless `worker.replicas` > the
    /// drill's own workers).
    pub async fn start_replicas(&mut self) {
        for n in self.replica_numbers() {
            if self.fleet.iter().any(|r| r.number == n) {
                continue;
            }
            if let Err(error) = self.start_replica(n).await {
                self.action_failed(&format!("start worker {n}"), error);
            }
        }
        self.sync_prometheus_targets();
    }

    /// Starts replica `n`: the drill's environment, its own id, ports and log.
    async fn start_replica(&mut self, n: usize) -> Result<(), String> {
        let no_port = |e: std::io::Error| format!("no free port on 127.0.0.1 for worker {n}: {e}");
        let avoid = self.ports_in_use();
        let metrics_port = drill_sim::ports::spare_port(&avoid).map_err(no_port)?;
        let http_port = drill_sim::ports::spare_port(&[&avoid[..], &[metrics_port]].concat())
            .map_err(no_port)?;
        let id = format!("{}-w{n}", self.profile.worker_id);
        let mut overrides = self.drill_env().await;
        overrides.extend(self.fault_switches(n));
        overrides.push(("OUTBOX_WORKER_ID", id.clone()));
        overrides.push(("OUTBOX_METRICS_PORT", metrics_port.to_string()));
        overrides.push(("OUTBOX_HTTP_PORT", http_port.to_string()));
        let tail: SharedTail = Arc::new(Mutex::new(LogTail::default()));
        let process = WorkerProcess::spawn(
            &self.profile,
            &overrides,
            &self.run.log_path_of(&format!("worker{n}")),
            run_redactor(&self.profile),
            tail.clone(),
        )
        .await;
        let state = process
            .state
            .lock()
            .map(|s| s.to_string())
            .unwrap_or_default();
        self.journal(
            "worker",
            json!({"action": "start", "worker": n, "id": id, "metrics_port": metrics_port, "replica": true, "state": state}),
        );
        self.record_worker(&process);
        if let Ok(mut tails) = self.fleet_tails.lock() {
            tails.retain(|(number, _)| *number != n);
            tails.push((n, tail.clone()));
        }
        self.fleet.push(SecondWorker {
            number: n,
            process,
            tail,
            id,
            metrics_port,
            http_port,
            baseline: None,
            latest: None,
        });
        Ok(())
    }

    fn replica_mut(&mut self, n: usize) -> Option<&mut SecondWorker> {
        self.fleet.iter_mut().find(|r| r.number == n)
    }

    /// Waits until every replica's `/metrics` answers (a replica whose port another
    /// process took first is started again on new ports), or `timeout` passes.
    pub async fn wait_for_replicas(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let numbers: Vec<usize> = self.fleet.iter().map(|r| r.number).collect();
        for n in numbers {
            let mut port_races = 0;
            loop {
                let error = match self.scrape_worker(n).await {
                    Ok(_) => break,
                    Err(error) if error.contains("not by the worker this drill started") => {
                        return Err(error);
                    }
                    Err(error) => error,
                };
                let log = self.run.log_path_of(&format!("worker{n}"));
                let Some(replica) = self.replica_mut(n) else {
                    return Err(format!("worker {n} did not start (see the failed actions)"));
                };
                match replica.process.poll() {
                    WorkerState::Exited { code, signal } => {
                        let words = last_words(&mut replica.process, &log).await;
                        if words.port_taken && port_races < PORT_RACE_ATTEMPTS {
                            port_races += 1;
                            self.journal(
                                "worker",
                                json!({"action": "restart", "worker": n, "why": "another process took its port before it bound it; new ports"}),
                            );
                            self.fleet.retain(|r| r.number != n);
                            self.start_replica(n).await?;
                            continue;
                        }
                        return Err(format!(
                            "worker {n} stopped ({}) before serving /metrics{}; see its log {}",
                            WorkerState::Exited { code, signal },
                            words
                                .line
                                .map(|s| format!(", saying: {s}"))
                                .unwrap_or_default(),
                            log.display()
                        ));
                    }
                    WorkerState::FailedToStart { message } => return Err(message),
                    WorkerState::Running { .. } => {}
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("worker {n}: {error}"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Each replica's baseline (`metrics-before-<n>.txt`), then every baseline of the
    /// fleet as one page, `metrics-before.txt` (the verdict's Δ are fleet sums).
    pub(super) async fn take_replica_baselines(&mut self) -> Result<(), String> {
        self.wait_for_replicas(Duration::from_secs(30)).await?;
        let numbers: Vec<usize> = self.fleet.iter().map(|r| r.number).collect();
        for n in numbers {
            let scraped = self
                .scrape_worker(n)
                .await
                .map_err(|e| format!("worker {n}'s /metrics: {e}"))?;
            let file = format!("_metrics/metrics-before-{n}.txt");
            self.run
                .write_new(&file, scraped.raw.as_bytes())
                .map_err(error_text)?;
            if let Some(replica) = self.replica_mut(n) {
                replica.baseline = Some(scraped.clone());
                replica.latest = Some(scraped);
            }
            self.journal("baseline", json!({"metrics": file, "worker": n}));
        }
        let mut parts: Vec<(usize, &Scrape)> = Vec::new();
        if let Some(first) = &self.baseline {
            parts.push((1, first));
        }
        if let Some(page) = self.second.as_ref().and_then(|s| s.baseline.as_ref()) {
            parts.push((2, page));
        }
        parts.extend(
            self.fleet
                .iter()
                .filter_map(|r| Some((r.number, r.baseline.as_ref()?))),
        );
        let sum = combined(&parts);
        self.run
            .write_new("_metrics/metrics-before.txt", sum.raw.as_bytes())
            .map_err(error_text)?;
        // Where every worker's /metrics is, as a scraper (Prometheus' file SD) takes it.
        let targets = self.metrics_targets();
        self.journal(
            "baseline",
            json!({"sum": "_metrics/metrics-before.txt", "workers": parts.len(), "metrics_targets": targets}),
        );
        Ok(())
    }

    /// Scrapes every replica, keeping each one's latest page; whether any answered.
    pub(super) async fn scrape_replicas(&mut self) -> bool {
        let numbers: Vec<usize> = self.fleet.iter().map(|r| r.number).collect();
        let mut any = false;
        for n in numbers {
            if let Ok(scraped) = self.scrape_worker(n).await
                && let Some(replica) = self.replica_mut(n)
            {
                replica.latest = Some(scraped);
                any = true;
            }
        }
        any
    }

    /// The replicas' latest pages, numbered (for the fleet's sum).
    pub(super) fn replica_pages(&self) -> Vec<(usize, &Scrape)> {
        self.fleet
            .iter()
            .filter_map(|r| Some((r.number, r.latest.as_ref()?)))
            .collect()
    }

    /// Each replica's process, as the Containers pane and `_containers` show it.
    pub(super) fn replicas_json(&self) -> Value {
        self.fleet
            .iter()
            .map(|r| {
                json!({
                    "worker": r.number,
                    "id": r.id,
                    "metrics_port": r.metrics_port,
                    "command": r.process.command.join(" "),
                    "status": r.process.state.lock().ok().map(|s| s.clone()),
                    "summary": r.process.state.lock().map(|s| s.to_string()).unwrap_or_default(),
                })
            })
            .collect::<Vec<_>>()
            .into()
    }

    /// Stops every replica (SIGTERM, then SIGKILL after `grace`).
    pub(super) async fn stop_replicas(&mut self, grace: Duration) {
        for i in 0..self.fleet.len() {
            let state = self.fleet[i].process.stop(grace).await;
            let n = self.fleet[i].number;
            self.journal(
                "worker",
                json!({"action": "stop", "worker": n, "state": state.to_string()}),
            );
        }
    }
}
