//! The workers under drill: starting, stopping and killing them, and scraping their
//! `/metrics` (the baselines first). Most drills run one worker; two-worker drills
//! (claim contention, stuck reclaim) run a second one with its own id, ports, log and
//! baseline, and their counters are summed over both. A fleet's further replicas are
//! `fleet.rs`'s; every sum here runs over them too.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::*;

/// The second worker of a two-worker drill, or a replica of the fleet.
pub struct SecondWorker {
    /// Which worker it is (2 for worker 2; a replica's number in the fleet).
    pub number: usize,
    pub process: WorkerProcess,
    pub tail: SharedTail,
    /// Its `OUTBOX_WORKER_ID`.
    pub id: String,
    pub metrics_port: u16,
    pub http_port: u16,
    pub baseline: Option<Scrape>,
    pub latest: Option<Scrape>,
}

/// Counter journal entries that carry every series (then totals only).
const RICH_COUNTER_ENTRIES: usize = 10_000;

/// The contract counters' series as `name{label="value",…}` → value.
fn counter_series(samples: &Samples) -> serde_json::Value {
    samples
        .samples
        .iter()
        .filter(|s| s.name.starts_with("outbox_") && s.name.ends_with("_total"))
        .map(|s| {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            (
                format!("{}{{{}}}", s.name, labels.join(",")),
                json!(s.value),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Two distinct ports that are free now and not in `avoid` (worker 1's, which it may
/// not have bound yet). The worker binds them a moment later, so another process can
/// still take one first: [`last_words`] tells, and worker 2 is started on new ones.
fn free_ports(avoid: &[u16]) -> Result<(u16, u16), String> {
    let no_port = |e: std::io::Error| format!("no free port on 127.0.0.1 for worker 2: {e}");
    let metrics = drill_sim::ports::spare_port(avoid).map_err(no_port)?;
    let health = drill_sim::ports::spare_port(&[avoid, &[metrics]].concat()).map_err(no_port)?;
    Ok((metrics, health))
}

/// How many times worker 2 is started on new ports after another process took one.
const PORT_RACE_ATTEMPTS: usize = 3;

/// What an exited worker's log ends with, read once after its pipes are drained.
pub(super) struct LastWords {
    /// Its last line (control characters removed, cut to a readable length), so an
    /// error can say why without opening the log.
    pub line: Option<String>,
    /// Whether it says it could not listen because the port was taken.
    pub port_taken: bool,
}

pub(crate) async fn last_words(process: &mut WorkerProcess, log_path: &Path) -> LastWords {
    process.drained(Duration::from_secs(2)).await;
    let text = log_tail(log_path).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| crate::sanitize::one_line(line.trim(), 240));
    let lower = text.to_ascii_lowercase();
    let port_taken = [
        "address already in use",
        "eaddrinuse",
        "errno 98",
        "os error 98",
    ]
    .iter()
    .any(|said| lower.contains(said));
    LastWords { line, port_taken }
}

/// The last 16 KiB of a worker's log (the file this session writes; lossy UTF-8).
fn log_tail(log_path: &Path) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(log_path)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(16 * 1024)))?;
    let mut bytes = Vec::new();
    file.take(16 * 1024).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Scrapes side by side, as one page: each worker's series under a comment naming it,
/// so sums over the page are sums over the workers.
pub fn combined(parts: &[(usize, &Scrape)]) -> Scrape {
    let mut raw = String::new();
    let mut samples = Samples::default();
    for (n, scrape) in parts {
        raw.push_str(&format!("# drill-cockpit: worker {n}\n"));
        raw.push_str(&scrape.raw);
        if !scrape.raw.ends_with('\n') {
            raw.push('\n');
        }
        samples
            .samples
            .extend(scrape.samples.samples.iter().cloned());
    }
    Scrape { raw, samples }
}

impl Session {
    /// The environment a worker of this drill gets after the profile's: the gates in
    /// place of the services they stand in front of, then the drill's own settings.
    pub(super) async fn drill_env(&mut self) -> Vec<(&'static str, String)> {
        let mut overrides = Vec::new();
        if self.drill.needs_gate() {
            // A failure is journaled by open_gate; the worker then talks to ES directly.
            let _ = self.open_gate(GateRole::Elastic).await;
            if let Some(gate) = &self.gate {
                overrides.push(("ELASTIC_URL", gate.url()));
            }
        }
        if let Some(gate) = &self.collector_gate {
            overrides.push(("OTEL_EXPORTER_OTLP_ENDPOINT", gate.url()));
        }
        for (key, value) in self.drill.worker_env {
            overrides.push((*key, value.to_string()));
        }
        overrides
    }

    /// Upstream's in-worker fault switches for worker `n` (`--inject worker`): both
    /// workers of a contention drill, else worker 1 only — the worker that replaces it
    /// or reclaims its work runs clean. None in a control run.
    pub(super) fn fault_switches(&self, n: usize) -> Vec<(&'static str, String)> {
        let both = self.drill.workers == crate::drill::scenario::Workers::TwoFromStart;
        if !self.inject_in_worker || self.control || (n >= 2 && !both) {
            return Vec::new();
        }
        self.drill
            .worker_switches
            .iter()
            .map(|(key, value)| (*key, value.to_string()))
            .collect()
    }

    pub async fn start_worker(&mut self) {
        let mut overrides = self.drill_env().await;
        overrides.extend(self.fault_switches(1));
        if !self.fault_switches(1).is_empty() {
            self.journal(
                "inject",
                json!({"action": "in-worker switches", "worker": 1, "by": "upstream's OUTBOX_EXPERIMENT_* switches in the worker's environment (--inject worker)", "switches": self.fault_switches(1).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()}),
            );
        }
        // F's hold comes from the worker's own sleep when its switches inject.
        if self.drill.inject == Inject::KillClaimingWorker
            && !self.control
            && !self.inject_in_worker
        {
            // Worker 1 must still hold its claim when it is killed: its first write waits
            // (not in a control run: nothing is killed, worker 1 finishes its work).
            let _ = self.hold_first_write().await;
        }
        // A port someone else holds would leave that process answering our scrapes.
        let process = match self.worker_ports_taken() {
            Some(why) => {
                self.action_failed("start the worker", why.clone());
                WorkerProcess::not_started(
                    &self.profile,
                    &self.run.log_path(),
                    self.tail.clone(),
                    why,
                )
            }
            None => {
                WorkerProcess::spawn(
                    &self.profile,
                    &overrides,
                    &self.run.log_path(),
                    self.run_redactor(),
                    self.tail.clone(),
                )
                .await
            }
        };
        let state = process
            .state
            .lock()
            .map(|s| s.to_string())
            .unwrap_or_default();
        self.journal(
            "worker",
            json!({"action": "start", "command": process.command.join(" "), "state": state}),
        );
        self.record_worker(&process);
        self.worker = Some(process);
        self.sync_prometheus_targets();
        if self.drill.workers == crate::drill::scenario::Workers::TwoFromStart {
            self.start_second_worker().await;
        }
        if !self.replicas_start_late() {
            self.start_replicas().await;
        }
    }

    /// Starts worker 2: the drill's environment, its own id, ports and log.
    pub async fn start_second_worker(&mut self) {
        if self.second.is_some() {
            return;
        }
        let avoid = [self.profile.metrics_port, self.profile.http_port];
        let (metrics_port, http_port) = match free_ports(&avoid) {
            Ok(ports) => ports,
            Err(error) => {
                self.action_failed("start worker 2", error);
                return;
            }
        };
        let id = format!("{}-w2", self.profile.worker_id);
        let mut overrides = self.drill_env().await;
        overrides.extend(self.fault_switches(2));
        overrides.push(("OUTBOX_WORKER_ID", id.clone()));
        overrides.push(("OUTBOX_METRICS_PORT", metrics_port.to_string()));
        overrides.push(("OUTBOX_HTTP_PORT", http_port.to_string()));
        let tail = self.tail2.clone();
        let process = WorkerProcess::spawn(
            &self.profile,
            &overrides,
            &self.run.log_path_of("worker2"),
            self.run_redactor(),
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
            json!({"action": "start", "worker": 2, "id": id, "metrics_port": metrics_port, "command": process.command.join(" "), "state": state}),
        );
        self.record_worker(&process);
        self.second = Some(SecondWorker {
            number: 2,
            process,
            tail,
            id,
            metrics_port,
            http_port,
            baseline: None,
            latest: None,
        });
        if self.replicas_start_late() {
            self.start_replicas().await;
        }
        self.sync_prometheus_targets();
    }

    /// Why worker 1's metrics or health port cannot be given to it (held by another
    /// process), if one cannot.
    fn worker_ports_taken(&self) -> Option<String> {
        let (metrics, health) = (self.profile.metrics_port, self.profile.http_port);
        crate::sources::port_owner::taken(metrics, "worker.metrics_port").or_else(|| {
            (health != metrics)
                .then(|| crate::sources::port_owner::taken(health, "worker.http_port"))
                .flatten()
        })
    }

    /// The metrics URL of worker `n` (1 or 2) once the process serving it is proven to
    /// be that worker (or a descendant of it): a stranger on the port is never scraped.
    pub(super) fn proven_metrics_url(&mut self, n: usize) -> Result<String, String> {
        // The state is polled now: a worker that exited since must not keep its proof
        // (another process may have taken its port since).
        let running = |state: WorkerState| match state {
            WorkerState::Running { pid } => Some(pid),
            _ => None,
        };
        let replica = self.fleet.iter_mut().find(|r| r.number == n);
        let (port, pid) = match (n, replica) {
            (1, _) => (
                self.profile.metrics_port,
                self.worker.as_mut().and_then(|w| running(w.poll())),
            ),
            (_, Some(replica)) => (replica.metrics_port, running(replica.process.poll())),
            (_, None) => match self.second.as_mut() {
                Some(second) if n == 2 => (second.metrics_port, running(second.process.poll())),
                _ => return Err(format!("worker {n} is not running")),
            },
        };
        let Some(pid) = pid else {
            return Err(format!(
                "cannot reach the worker's metrics at {}: worker {n} is not running, so nothing on port {port} is graded",
                metrics_url(port)
            ));
        };
        if self.proven_ports.contains(&(port, pid)) {
            return Ok(metrics_url(port));
        }
        match crate::sources::port_owner::served_by(port, pid) {
            Ok(true) => {
                self.proven_ports.push((port, pid));
                Ok(metrics_url(port))
            }
            // Nothing listens yet (the scrape will say so), or /proc cannot tell.
            Ok(false) => Ok(metrics_url(port)),
            Err(stranger) => Err(stranger),
        }
    }

    /// Scrapes worker `n` after proving the port is its own.
    pub(super) async fn scrape_worker(&mut self, n: usize) -> Result<Scrape, String> {
        let url = self.proven_metrics_url(n)?;
        scrape(&self.http, &url).await.map_err(error_text)
    }

    fn run_redactor(&self) -> Redactor {
        run_redactor(&self.profile)
    }

    pub fn worker_state(&mut self) -> Option<WorkerState> {
        self.worker.as_mut().map(|w| w.poll())
    }

    pub fn second_worker_state(&mut self) -> Option<WorkerState> {
        self.second.as_mut().map(|w| w.process.poll())
    }

    /// Stops every worker (SIGTERM, then SIGKILL after the grace).
    pub async fn stop_worker(&mut self) {
        let grace = self.profile.tuning.shutdown_grace + Duration::from_secs(1);
        if let Some(worker) = self.worker.as_mut() {
            let state = worker.stop(grace).await;
            self.journal(
                "worker",
                json!({"action": "stop", "state": state.to_string()}),
            );
        }
        if let Some(second) = self.second.as_mut() {
            let state = second.process.stop(grace).await;
            self.journal(
                "worker",
                json!({"action": "stop", "worker": 2, "state": state.to_string()}),
            );
        }
        self.stop_replicas(grace).await;
    }

    /// Waits for every stopped worker's last lines to reach its log.
    pub async fn drain_workers(&mut self) {
        let workers = self
            .worker
            .iter_mut()
            .chain(self.second.as_mut().map(|s| &mut s.process))
            .chain(self.fleet.iter_mut().map(|r| &mut r.process));
        for worker in workers {
            if !matches!(worker.poll(), WorkerState::Running { .. }) {
                worker.drained(Duration::from_secs(10)).await;
            }
        }
    }

    pub async fn kill_worker(&mut self) {
        if let Some(worker) = self.worker.as_mut() {
            let state = worker.kill().await;
            self.journal(
                "worker",
                json!({"action": "kill -9", "worker": 1, "state": state.to_string()}),
            );
        }
    }

    /// F's fault: once worker 1 holds a claim on one of the drill's events, worker 2 is
    /// started (its baseline taken) and worker 1 is killed with SIGKILL, claim held.
    pub async fn kill_claiming_worker(&mut self) -> Result<(), String> {
        const ACTION: &str = "kill -9 worker 1 holding a claim";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let claimed = loop {
            if let Some(row) = self
                .drill_rows()
                .await
                .into_iter()
                .find(|r| r.status == "processing")
            {
                break row;
            }
            if tokio::time::Instant::now() >= deadline {
                let error = if self.inserted.is_empty() {
                    "no event of the drill yet: insert one first".to_string()
                } else {
                    "worker 1 claimed none of the drill's events within 15 s".to_string()
                };
                return Err(self.action_failed(ACTION, error));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.journal(
            "claim",
            json!({"outbox_event_id": claimed.id, "owner": claimed.owner, "lease_until": claimed.lease_until, "by": "worker 1"}),
        );
        self.start_second_worker().await;
        if let Err(error) = self.wait_for_second_metrics(Duration::from_secs(30)).await {
            return Err(self.action_failed("start worker 2", error));
        }
        self.take_second_baseline().await?;
        self.kill_worker().await;
        self.worker_killed = true;
        self.sync_prometheus_targets();
        Ok(())
    }

    /// Where the counters are read (the Counters pane's title).
    pub fn metrics_url(&self) -> String {
        if let Some(prom) = &self.prom_counters {
            return prom.describe();
        }
        metrics_url(self.profile.metrics_port)
    }

    /// Scrapes every live worker; returns their pages as one (a killed worker counts
    /// with its last page). An error only when no worker answered now.
    pub async fn scrape(&mut self) -> Result<Scrape, String> {
        if self.prom_counters.is_some() {
            return self.scrape_prometheus().await;
        }
        let first = if self.worker_killed || self.worker1_replaced {
            Err("worker 1 is gone (its last page stands for it)".to_string())
        } else {
            self.scrape_worker(1).await
        };
        if let Ok(scraped) = &first {
            self.latest = Some(scraped.clone());
        }
        let mut others_ok = self.scrape_replicas().await;
        if self.second.is_some()
            && let Ok(scraped) = self.scrape_worker(2).await
            && let Some(second) = self.second.as_mut()
        {
            second.latest = Some(scraped);
            others_ok = true;
        }
        let Some(now) = self.metrics_after_scrape() else {
            return first;
        };
        if first.is_err() && !others_ok {
            return first;
        }
        self.journal_counters(&now.samples);
        Ok(now)
    }

    /// The latest page of every worker, as one.
    pub fn metrics_after_scrape(&self) -> Option<Scrape> {
        if self.prom_counters.is_some() || (self.second.is_none() && self.fleet.is_empty()) {
            return self.latest.clone();
        }
        let second = self.second.as_ref().and_then(|s| s.latest.as_ref());
        let mut parts: Vec<(usize, &Scrape)> = [(1, self.latest.as_ref()), (2, second)]
            .into_iter()
            .filter_map(|(n, s)| Some((n, s?)))
            .collect();
        parts.extend(self.replica_pages());
        (!parts.is_empty()).then(|| combined(&parts))
    }

    /// The drill's baseline over every worker whose baseline is taken.
    pub fn metrics_before(&self) -> Option<Samples> {
        let mut samples = self.baseline.as_ref()?.samples.clone();
        if let Some(before) = self.second.as_ref().and_then(|s| s.baseline.as_ref()) {
            samples
                .samples
                .extend(before.samples.samples.iter().cloned());
        }
        for before in self.fleet.iter().filter_map(|r| r.baseline.as_ref()) {
            samples
                .samples
                .extend(before.samples.samples.iter().cloned());
        }
        Some(samples)
    }

    /// The latest counters over every worker (a killed one with its last page).
    pub fn metrics_after(&self) -> Option<Samples> {
        self.metrics_after_scrape().map(|s| s.samples)
    }

    pub(super) fn journal_counters(&mut self, samples: &Samples) {
        let values = [
            samples.sum("outbox_retry_scheduled_total", &[]),
            samples.sum("outbox_failed_total", &[]),
            samples.sum("outbox_terminal_failed_total", &[]),
            samples.sum("outbox_processed_total", &[]),
        ];
        if self.last_counters != Some(values) {
            self.last_counters = Some(values);
            let mut entry = json!({"retry_scheduled": values[0], "failed": values[1], "terminal_failed": values[2], "processed": values[3]});
            // Every contract counter's series too, so `replay` shows the Counters pane
            // as it was; bounded: a very long session keeps the totals only after that.
            if self.rich_counter_entries < RICH_COUNTER_ENTRIES {
                self.rich_counter_entries += 1;
                entry["series"] = counter_series(samples);
            }
            self.journal("counters", entry);
        }
    }

    /// Waits until every worker's `/metrics` answers, or one exits, or `timeout` passes.
    pub async fn wait_for_metrics(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.scrape_worker(1).await {
                Ok(_) => break,
                // A stranger on the worker's port: waiting longer changes nothing.
                Err(error) if error.contains("not by the worker this drill started") => {
                    return Err(error);
                }
                Err(error) => {
                    match self.worker_state() {
                        Some(WorkerState::Exited { code, signal }) => {
                            let log = self.run.log_path();
                            let said = match self.worker.as_mut() {
                                Some(worker) => last_words(worker, &log).await.line,
                                None => None,
                            };
                            return Err(format!(
                                "the worker stopped ({}) before serving /metrics{}; see its log {}",
                                WorkerState::Exited { code, signal },
                                said.map(|s| format!(", saying: {s}")).unwrap_or_default(),
                                log.display()
                            ));
                        }
                        Some(WorkerState::FailedToStart { message }) => return Err(message),
                        _ => {}
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(error.to_string());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if self.second.is_some() {
            self.wait_for_second_metrics(deadline - tokio::time::Instant::now())
                .await?;
        }
        if !self.fleet.is_empty() {
            self.wait_for_replicas(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await?;
        }
        Ok(())
    }

    pub(super) async fn wait_for_second_metrics(
        &mut self,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut port_races = 0;
        loop {
            let Some(second) = self.second.as_mut() else {
                return Err("worker 2 did not start (see the failed actions)".into());
            };
            let url = metrics_url(second.metrics_port);
            match self.scrape_worker(2).await {
                Ok(_) => return Ok(()),
                Err(error) if error.contains("not by the worker this drill started") => {
                    return Err(error);
                }
                Err(error) => {
                    let Some(second) = self.second.as_mut() else {
                        return Err("worker 2 did not start".into());
                    };
                    match second.process.poll() {
                        WorkerState::Exited { code, signal } => {
                            let log = self.run.log_path_of("worker2");
                            let words = last_words(&mut second.process, &log).await;
                            // Its ports were free when picked; another process took one
                            // before it bound them: new ports, not a failed drill.
                            if words.port_taken && port_races < PORT_RACE_ATTEMPTS {
                                port_races += 1;
                                self.journal(
                                    "worker",
                                    json!({"action": "restart", "worker": 2, "why": "another process took its port before it bound it; new ports"}),
                                );
                                self.second = None;
                                self.start_second_worker().await;
                                continue;
                            }
                            return Err(format!(
                                "worker 2 stopped ({}) before serving /metrics{}; see its log {}",
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
                        return Err(format!("worker 2 at {url}: {error}"));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Takes the drill's baseline: `metrics-before.txt` (one worker), or one page per
    /// worker (`metrics-before-1.txt`, `-2`) and their sum once both are in.
    pub async fn take_baseline(&mut self) -> Result<(), String> {
        // The replicas that start with worker 1 answer first: no file is written for a
        // baseline that cannot be whole (a retry would find it taken).
        if !self.fleet.is_empty() && !self.replicas_start_late() {
            self.wait_for_replicas(Duration::from_secs(30)).await?;
        }
        if self.prom_counters.is_some() {
            return self.take_prom_baseline().await;
        }
        let scraped = self.scrape_worker(1).await?;
        self.latest = Some(scraped.clone());
        if self.drill.worker_count() == 1 && self.fleet.is_empty() {
            self.run
                .write_new("_metrics/metrics-before.txt", scraped.raw.as_bytes())
                .map_err(error_text)?;
            self.journal(
                "baseline",
                json!({"metrics": "_metrics/metrics-before.txt"}),
            );
            self.baseline = Some(scraped);
            self.journal_baseline_counters();
            return Ok(());
        }
        self.run
            .write_new("_metrics/metrics-before-1.txt", scraped.raw.as_bytes())
            .map_err(error_text)?;
        self.journal(
            "baseline",
            json!({"metrics": "_metrics/metrics-before-1.txt", "worker": 1}),
        );
        self.baseline = Some(scraped);
        if self.second.is_some() {
            self.take_second_baseline().await?;
        } else if !self.replicas_start_late() && !self.fleet.is_empty() {
            self.take_replica_baselines().await?;
        }
        self.journal_baseline_counters();
        Ok(())
    }

    /// The counters at the baseline, journaled: a headless run scrapes nothing before
    /// it, so without this its journal's first counters come after the fault, its story
    /// has no first retry and `timeline.svg` draws no line before the fault.
    fn journal_baseline_counters(&mut self) {
        if let Some(now) = self.metrics_after_scrape() {
            self.journal_counters(&now.samples);
        }
    }

    /// Worker 2's baseline (`metrics-before-2.txt`), then both as `metrics-before.txt`.
    pub async fn take_second_baseline(&mut self) -> Result<(), String> {
        if self.second.is_none() {
            return Err("worker 2 is not running".into());
        }
        if self.prom_counters.is_some() {
            return self.take_prom_second_baseline().await;
        }
        let scraped = self
            .scrape_worker(2)
            .await
            .map_err(|e| format!("worker 2's /metrics: {e}"))?;
        self.run
            .write_new("_metrics/metrics-before-2.txt", scraped.raw.as_bytes())
            .map_err(error_text)?;
        let first = self.baseline.clone();
        if let Some(second) = self.second.as_mut() {
            second.baseline = Some(scraped.clone());
            second.latest = Some(scraped.clone());
        }
        let mut parts = vec![(2, &scraped)];
        if let Some(first) = &first {
            parts.insert(0, (1, first));
        }
        // A one-worker drill whose worker was replaced keeps worker 1's baseline as
        // metrics-before.txt (the new worker is a fresh process: its counters start at 0).
        if self.drill.worker_count() == 2 && !self.fleet.is_empty() {
            // The replicas' baselines, then the fleet's sum as metrics-before.txt.
            self.take_replica_baselines().await?;
        } else if self.drill.worker_count() == 2 {
            self.run
                .write_new(
                    "_metrics/metrics-before.txt",
                    combined(&parts).raw.as_bytes(),
                )
                .map_err(error_text)?;
        }
        self.journal(
            "baseline",
            json!({"metrics": "_metrics/metrics-before-2.txt", "worker": 2, "sum": "_metrics/metrics-before.txt"}),
        );
        Ok(())
    }
}
