//! `drill-cockpit run fleet-contention [--replicas 8] [--events 2000]`: claim contention
//! at scale. A fleet of workers drains a burst of events through the fault gate, which
//! holds a seeded share of the writes longer than the lease, so leases are lost under
//! workers and reclaimed by others all through the run. Graded by
//! [`super::fleet_checks`]: every row finalized exactly once, no event lost, every
//! late finalize reported. Its figures (wall time, events/s, leases lost) go to
//! `_result.json` and stderr.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::fleet_checks::{FleetCheck, FleetEvidence, grade};
use crate::config::Profile;
use crate::db::outbox::{ENTITY_TYPE, NewEvent, Op, insert_events};
use crate::evidence::write::RunWriter;
use crate::faults::{Fault, FaultGate, Ops, Pick};
use crate::sources::metrics::{Scrape, metrics_url, scrape};
use crate::sources::worker_proc::{LogTail, WorkerProcess, WorkerState};

/// The drill's id: its folder under the snapshots.
pub const ID: &str = "fleet-contention";

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub replicas: usize,
    pub events: usize,
    /// How long each claim's lease lasts.
    pub lease: Duration,
    /// How long the gate holds a picked write (longer than the lease).
    pub hold: Duration,
    /// The share of writes the gate holds, from a seeded generator.
    pub ratio: f64,
    pub seed: u64,
    /// How long the fleet may take to finish every event.
    pub timeout: Duration,
}

impl FleetOptions {
    /// The drill as designed: 8 replicas, 2 000 events, a 1 s lease and 1.5 s holds on
    /// 2 % of the writes (claims of 10 events: about one claim in six loses its lease).
    pub fn new(replicas: usize, events: usize) -> FleetOptions {
        FleetOptions {
            replicas,
            events,
            lease: Duration::from_secs(1),
            hold: Duration::from_millis(1500),
            ratio: 0.02,
            seed: 22,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Events in one insert transaction.
const INSERT_CHUNK: usize = 250;
/// Events per claim: small, so a held write delays few others.
const CLAIM: &str = "10";

fn say(message: &str) {
    tracing::info!("{message}");
    eprintln!("[{}] {message}", chrono::Local::now().format("%H:%M:%S"));
}

/// One worker of the fleet.
struct Member {
    number: usize,
    id: String,
    metrics_port: u16,
    process: WorkerProcess,
    log: PathBuf,
    baseline: Option<Scrape>,
    last: Option<Scrape>,
}

/// What the run holds, so that whatever stops it (an error, a signal) stops the fleet.
struct Drill {
    profile: Profile,
    options: FleetOptions,
    run: RunWriter,
    http: reqwest::Client,
    fleet: Vec<Member>,
    gate: Option<FaultGate>,
    figures: Value,
}

/// Runs the drill; returns the exit code (0 passed, 1 failed, 3 could not run, 130/143
/// interrupted).
pub async fn run(profile: Profile, options: FleetOptions) -> anyhow::Result<u8> {
    let run = RunWriter::create(&profile.snapshots_dir, ID, profile.redactor())?;
    say(&format!("run directory {}", run.dir.display()));
    let mut drill = Drill {
        http: crate::sources::metrics::client(),
        profile,
        options,
        run,
        fleet: Vec::new(),
        gate: None,
        figures: json!({}),
    };
    drill.write_recipe()?;
    let outcome = tokio::select! {
        result = drill.drive() => Ok(result),
        signal = stop_signal() => Err(signal),
    };
    let code = match outcome {
        Ok(Ok(checks)) => {
            let passed = checks.iter().all(|c| c.passed);
            for c in &checks {
                eprintln!(
                    "{:<8} {:<90} {}",
                    if c.passed { "passed" } else { "FAILED" },
                    c.title,
                    c.observed
                );
            }
            eprintln!("verdict: {}", if passed { "PASSED" } else { "FAILED" });
            drill.write_result(&checks, passed)?;
            if passed { 0 } else { 1 }
        }
        Ok(Err(error)) => {
            say(&format!("the drill could not run: {error}"));
            let _ = drill
                .run
                .journal("error", json!({"message": error, "could_not_run": true}));
            crate::exit::COULD_NOT_RUN
        }
        Err((name, code)) => {
            say(&format!("interrupted by {name}: stopping the fleet"));
            drill.journal("note", json!({"message": format!("interrupted by {name}")}));
            code
        }
    };
    drill.stop_fleet().await;
    drill.close().await;
    say(&format!("evidence: {}", drill.run.dir.display()));
    drill.run.release();
    Ok(code)
}

/// The first of Ctrl-C and SIGTERM: its name and the exit code it means.
async fn stop_signal() -> (&'static str, u8) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return ("Ctrl-C", 130);
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => ("Ctrl-C", 130),
        _ = term.recv() => ("SIGTERM", 143),
    }
}

impl Drill {
    fn journal(&self, kind: &str, detail: Value) {
        // The journal is evidence, but a full disk must not stop the drill itself.
        let _ = self.run.journal(kind, detail);
    }

    fn write_recipe(&self) -> anyhow::Result<()> {
        let o = &self.options;
        let mut recipe = json!({
            "tool": "drill-cockpit",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": ID,
            "run_id": self.run.run_id,
            "created_at": chrono::Utc::now().to_rfc3339(),
            "inject": {"kind": "fleet_contention", "by": "drill-cockpit fault gate", "fault": self.hold_fault().describe(), "lease_seconds": o.lease.as_secs_f64()},
            "worker": {"command": crate::sources::worker_proc::worker_command(&self.profile), "replicas": o.replicas, "claim": CLAIM},
            "events": o.events,
            "profile": self.profile.redacted_json(),
        });
        if let Some(sandbox) = &self.profile.sandbox {
            recipe["sandbox"] = sandbox.describe();
        }
        self.run.write_json("_recipe.json", &recipe)?;
        Ok(())
    }

    /// A seeded share of the writes held longer than the lease.
    fn hold_fault(&self) -> Fault {
        Fault::Latency {
            min: self.options.hold,
            max: self.options.hold,
            ops: Ops::WRITES,
            pick: Pick::Ratio {
                ratio: self.options.ratio,
                seed: self.options.seed,
            },
        }
    }

    async fn drive(&mut self) -> Result<Vec<FleetCheck>, String> {
        say("connecting to Postgres");
        let pool = self.connect_db().await?;
        self.ensure_index().await?;
        let gate = FaultGate::start(([127, 0, 0, 1], 0).into(), &self.profile.elastic_url)
            .await
            .map_err(|e| format!("cannot start the fault gate on 127.0.0.1: {e}"))?;
        self.journal(
            "gate",
            json!({"action": "listen", "url": gate.url(), "upstream": gate.upstream()}),
        );
        let gate_url = gate.url();
        self.gate = Some(gate);
        say(&format!(
            "starting {} workers: {}",
            self.options.replicas,
            crate::sources::worker_proc::worker_command(&self.profile).join(" ")
        ));
        for n in 1..=self.options.replicas {
            self.start_member(n, &gate_url).await?;
        }
        self.wait_for_fleet(Duration::from_secs(60)).await?;
        self.take_baselines()?;
        say("baselines taken (_metrics/metrics-before*.txt)");

        let fault = self.hold_fault();
        if let Some(gate) = &self.gate {
            gate.set_fault(fault.clone())
                .await
                .map_err(|e| format!("cannot set the gate's fault: {e}"))?;
        }
        self.journal(
            "inject",
            json!({"action": "fault in", "fault": fault.describe()}),
        );
        say(&format!("the gate holds writes: {}", fault.describe()));

        let started = Instant::now();
        let (ids, entities) = self.insert(&pool).await?;
        let inserted_in = started.elapsed();
        say(&format!(
            "inserted {} upsert events in {:.1} s",
            ids.len(),
            inserted_in.as_secs_f64()
        ));
        let statuses = self.wait_until_settled(&pool, &ids).await?;
        let wall = started.elapsed();
        // The losers' held writes may still be out: their late finalizes come after.
        self.wait_until_quiet().await;
        if let Some(gate) = &self.gate {
            let _ = gate.set_fault(Fault::Pass).await;
        }
        self.journal("restore", json!({"action": "the gate passes again"}));
        let events_per_second = ids.len() as f64 / wall.as_secs_f64().max(0.001);
        say(&format!(
            "the fleet settled {} events in {:.1} s ({events_per_second:.0} events/s)",
            ids.len(),
            wall.as_secs_f64()
        ));

        self.write_after()?;
        self.stop_fleet().await;
        let evidence = self.evidence(&statuses, &entities).await;
        let held = self
            .gate
            .as_ref()
            .map(|g| g.records().iter().filter(|r| r.injected.is_some()).count())
            .unwrap_or(0);
        self.figures = json!({
            "replicas": self.options.replicas,
            "events": ids.len(),
            "insert_seconds": inserted_in.as_secs_f64(),
            "wall_seconds": wall.as_secs_f64(),
            // After the last insert: how long the fleet took to settle the rest.
            "drain_seconds": (wall - inserted_in).as_secs_f64(),
            "events_per_second": events_per_second,
            "writes_held": held,
            "leases_lost": evidence.owner_mismatch,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        });
        say(&format!("figures: {}", self.figures));
        if let Some(gate) = &self.gate {
            let _ = self
                .run
                .write_new("_exports/gate.jsonl", gate.export_jsonl().as_bytes());
        }
        if let Ok(value) = serde_json::to_value(&evidence) {
            let _ = self.run.write_json("_fleet-evidence.json", &value);
        }
        Ok(grade(&evidence))
    }

    async fn connect_db(&self) -> Result<sqlx::PgPool, String> {
        let pool = crate::db::connect(&self.profile, 4)
            .await
            .map_err(|e| e.to_string())?;
        if self.profile.database_is_ours {
            crate::db::migrate::apply(&pool).await.map_err(|e| {
                format!(
                    "migrating {} failed: {e}",
                    self.profile.redacted_database_url()
                )
            })?;
        }
        crate::db::schema::check(&pool)
            .await
            .map_err(|e| format!("{}: {e}", self.profile.redacted_database_url()))?;
        Ok(pool)
    }

    /// The index, created when missing (a fresh stack or sandbox).
    async fn ensure_index(&self) -> Result<(), String> {
        let url = format!(
            "{}/{}",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let reach = |e: reqwest::Error| {
            format!(
                "cannot reach Elasticsearch at {}: {}",
                self.profile.elastic_url,
                crate::sources::metrics::error_chain(&e)
            )
        };
        if self
            .http
            .head(&url)
            .send()
            .await
            .map_err(reach)?
            .status()
            .is_success()
        {
            return Ok(());
        }
        let created = self
            .http
            .put(&url)
            .json(&json!({}))
            .send()
            .await
            .map_err(reach)?;
        match created.status().as_u16() {
            200..=299 | 400 => Ok(()),
            other => Err(format!("creating index {url} answered HTTP {other}")),
        }
    }

    async fn start_member(&mut self, n: usize, gate_url: &str) -> Result<(), String> {
        let avoid: Vec<u16> = self.fleet.iter().map(|m| m.metrics_port).collect();
        let no_port = |e: std::io::Error| format!("no free port on 127.0.0.1 for worker {n}: {e}");
        let metrics_port = drill_sim::ports::spare_port(&avoid).map_err(no_port)?;
        let http_port = drill_sim::ports::spare_port(&[&avoid[..], &[metrics_port]].concat())
            .map_err(no_port)?;
        let id = match n {
            1 => self.profile.worker_id.clone(),
            _ => format!("{}-w{n}", self.profile.worker_id),
        };
        let lease = self.options.lease.as_secs_f64();
        let overrides: Vec<(&'static str, String)> = vec![
            ("ELASTIC_URL", gate_url.to_string()),
            ("OUTBOX_WORKER_ID", id.clone()),
            ("OUTBOX_METRICS_PORT", metrics_port.to_string()),
            ("OUTBOX_HTTP_PORT", http_port.to_string()),
            ("OUTBOX_LEASE_SECONDS", format!("{lease}")),
            ("OUTBOX_RECLAIM_INTERVAL_SECONDS", "0.25".into()),
            // A held write must outlast the lease, not the request's timeout.
            ("OUTBOX_ES_TIMEOUT_SECONDS", "30".into()),
            ("OUTBOX_BATCH_SIZE", CLAIM.into()),
            ("OUTBOX_BULK_SIZE", CLAIM.into()),
            ("OUTBOX_POLL_INTERVAL_MS", "50".into()),
            // A reclaimed row counts an attempt: none may be given up on for contention.
            ("OUTBOX_MAX_ATTEMPTS", "1000".into()),
        ];
        let log = self.run.log_path_of(&match n {
            1 => "worker".to_string(),
            _ => format!("worker{n}"),
        });
        let tail = std::sync::Arc::new(std::sync::Mutex::new(LogTail::default()));
        let process = WorkerProcess::spawn(
            &self.profile,
            &overrides,
            &log,
            self.profile.redactor(),
            tail,
        )
        .await;
        if let WorkerState::FailedToStart { message } = process
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(WorkerState::FailedToStart {
                message: "unknown".into(),
            })
        {
            return Err(format!("worker {n} did not start: {message}"));
        }
        self.journal(
            "worker",
            json!({"action": "start", "worker": n, "id": id, "metrics_port": metrics_port, "command": process.command.join(" ")}),
        );
        self.record_worker(&process);
        self.fleet.push(Member {
            number: n,
            id,
            metrics_port,
            process,
            log,
            baseline: None,
            last: None,
        });
        Ok(())
    }

    /// Every worker's `/metrics` answers (its baseline), or one exits, or time is up.
    async fn wait_for_fleet(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        for member in self.fleet.iter_mut() {
            let url = metrics_url(member.metrics_port);
            loop {
                match scrape(&self.http, &url).await {
                    Ok(page) => {
                        member.baseline = Some(page);
                        break;
                    }
                    Err(error) => {
                        if let state @ (WorkerState::Exited { .. }
                        | WorkerState::FailedToStart { .. }) = member.process.poll()
                        {
                            return Err(format!(
                                "worker {} ({}) stopped ({state}) before serving /metrics; see its log {}",
                                member.number,
                                member.id,
                                member.log.display()
                            ));
                        }
                        if tokio::time::Instant::now() >= deadline {
                            return Err(format!("worker {} at {url}: {error}", member.number));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    fn take_baselines(&self) -> Result<(), String> {
        let mut parts = Vec::new();
        for member in &self.fleet {
            if let Some(page) = &member.baseline {
                self.run
                    .write_new(
                        &format!("_metrics/metrics-before-{}.txt", member.number),
                        page.raw.as_bytes(),
                    )
                    .map_err(|e| e.to_string())?;
                parts.push((member.number, page));
            }
        }
        self.run
            .write_new(
                "_metrics/metrics-before.txt",
                crate::session::combined(&parts).raw.as_bytes(),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The burst: fresh entities, one upsert each, in a few transactions.
    async fn insert(&self, pool: &sqlx::PgPool) -> Result<(Vec<Uuid>, Vec<Uuid>), String> {
        let entities: Vec<Uuid> = (0..self.options.events).map(|_| Uuid::new_v4()).collect();
        let mut ids = Vec::with_capacity(entities.len());
        for chunk in entities.chunks(INSERT_CHUNK) {
            let events: Vec<NewEvent> = chunk
                .iter()
                .map(|&entity_id| NewEvent {
                    op: Op::Upsert,
                    entity_id,
                    version: None,
                    traceparent: None,
                })
                .collect();
            let inserted = insert_events(pool, &events).await.map_err(|e| {
                format!(
                    "inserting events into {} failed: {e}",
                    self.profile.redacted_database_url()
                )
            })?;
            ids.extend(inserted);
        }
        self.journal(
            "insert",
            json!({"events": ids.len(), "op": "upsert", "first": ids.first(), "last": ids.last()}),
        );
        Ok((ids, entities))
    }

    /// The drill's rows by status.
    async fn statuses(pool: &sqlx::PgPool, ids: &[Uuid]) -> Result<Vec<(String, i64)>, String> {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT status, count(*) FROM search_outbox_events WHERE id = ANY($1) GROUP BY status ORDER BY status",
        )
        .bind(ids)
        .fetch_all(pool)
        .await
        .map_err(|e| format!("reading the drill's rows: {e}"))
    }

    /// Waits until no row of the drill is pending or processing (or the timeout).
    async fn wait_until_settled(
        &self,
        pool: &sqlx::PgPool,
        ids: &[Uuid],
    ) -> Result<Vec<(String, i64)>, String> {
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let mut said = Instant::now();
        loop {
            let statuses = Self::statuses(pool, ids).await?;
            let open: i64 = statuses
                .iter()
                .filter(|(s, _)| s == "pending" || s == "processing")
                .map(|(_, n)| n)
                .sum();
            if open == 0 {
                return Ok(statuses);
            }
            if tokio::time::Instant::now() >= deadline {
                say(&format!(
                    "{open} event(s) still open after {} s",
                    self.options.timeout.as_secs()
                ));
                return Ok(statuses);
            }
            if said.elapsed() >= Duration::from_secs(5) {
                said = Instant::now();
                say(&format!("{open} of {} event(s) still open", ids.len()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the gate holds no write and the fleet's counters stop moving (two
    /// scrapes alike), so every late finalize is counted and logged; bounded by a
    /// held write's time and the request timeout.
    async fn wait_until_quiet(&mut self) {
        let deadline = tokio::time::Instant::now() + self.options.hold + Duration::from_secs(30);
        let mut last: Option<Vec<f64>> = None;
        loop {
            let in_flight = self.gate.as_ref().map_or(0, |g| g.in_flight());
            if in_flight == 0 {
                self.scrape_after().await;
                let now: Vec<f64> = self
                    .fleet
                    .iter()
                    .flat_map(|m| {
                        let value =
                            |metric| m.last.as_ref().map_or(-1.0, |s| s.samples.sum(metric, &[]));
                        [
                            value("outbox_processed_total"),
                            value("outbox_owner_mismatch_skips_total"),
                            value("outbox_failed_total"),
                        ]
                    })
                    .collect();
                if last.as_ref() == Some(&now) {
                    return;
                }
                last = Some(now);
            }
            if tokio::time::Instant::now() >= deadline {
                say(&format!(
                    "the fleet did not go quiet ({in_flight} write(s) still at the gate)"
                ));
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Each worker's last page (the workers still run: their counters are final once
    /// every row settled).
    async fn scrape_after(&mut self) {
        for member in self.fleet.iter_mut() {
            if let Ok(page) = scrape(&self.http, &metrics_url(member.metrics_port)).await {
                member.last = Some(page);
            }
        }
    }

    fn write_after(&self) -> Result<(), String> {
        let mut parts = Vec::new();
        for member in &self.fleet {
            if let Some(page) = &member.last {
                self.run
                    .write_new(
                        &format!("_metrics/metrics-after-{}.txt", member.number),
                        page.raw.as_bytes(),
                    )
                    .map_err(|e| e.to_string())?;
                parts.push((member.number, page));
            }
        }
        self.run
            .write_new(
                "_metrics/metrics-after.txt",
                crate::session::combined(&parts).raw.as_bytes(),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The journal's last line, then `manifest.json` last: `verify` checks every file
    /// against it.
    async fn close(&self) {
        self.journal("closed", json!({"run_id": self.run.run_id}));
        let run_dir = self.run.dir.clone();
        let listing =
            tokio::task::spawn_blocking(move || crate::evidence::manifest::manifest(&run_dir, &[]))
                .await;
        let written = match listing {
            Ok(mut listing) => {
                listing["tool"] = json!("drill-cockpit");
                listing["run_id"] = json!(self.run.run_id);
                listing["scenario"] = json!(ID);
                self.run
                    .write_json("manifest.json", &listing)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = written {
            say(&format!("writing manifest.json failed: {error}"));
            self.journal(
                "action_failed",
                json!({"action": "write manifest.json", "error": error}),
            );
        }
    }

    /// Each worker in the fault state file, so that a cockpit killed with SIGKILL does
    /// not leave the fleet running: the next session stops them (as its own workers).
    fn record_worker(&self, process: &WorkerProcess) {
        use crate::leftovers::{Entry, Leftover, Owner, StateFile, procs};
        let Some(pid) = process.pid() else {
            return;
        };
        let leftover = Leftover::Worker {
            pid,
            started: procs::start_ticks(pid),
            cmdline: procs::cmdline(pid).unwrap_or_else(|| process.command.clone()),
        };
        let state = StateFile::beside(&self.profile.snapshots_dir);
        if let Err(error) = state.add(Entry::new(Owner::session(&self.run.dir), leftover)) {
            say(&format!(
                "warning: the worker could not be recorded in the state file: {error}"
            ));
        }
    }

    /// The stopped fleet out of the state file again.
    fn clear_workers(&self) {
        let state = crate::leftovers::StateFile::beside(&self.profile.snapshots_dir);
        let run_dir = self.run.dir.clone();
        let _ = state.remove(|e| {
            e.owner.run_dir.as_ref() == Some(&run_dir)
                && matches!(e.leftover, crate::leftovers::Leftover::Worker { .. })
        });
    }

    async fn stop_fleet(&mut self) {
        let grace = self.profile.tuning.shutdown_grace + Duration::from_secs(1);
        for i in 0..self.fleet.len() {
            if !matches!(self.fleet[i].process.poll(), WorkerState::Running { .. }) {
                continue;
            }
            let state = self.fleet[i].process.stop(grace).await;
            self.fleet[i].process.drained(Duration::from_secs(5)).await;
            let n = self.fleet[i].number;
            self.journal(
                "worker",
                json!({"action": "stop", "worker": n, "state": state.to_string()}),
            );
        }
        self.clear_workers();
    }

    /// The evidence the checks grade: rows, documents, the fleet's Δ, the logs.
    async fn evidence(&self, statuses: &[(String, i64)], entities: &[Uuid]) -> FleetEvidence {
        let delta = |member: &Member, metric: &str| {
            let value = |s: Option<&Scrape>| s.map(|s| s.samples.sum(metric, &[])).unwrap_or(0.0);
            crate::prom::delta(value(member.baseline.as_ref()), value(member.last.as_ref()))
        };
        let sum = |metric: &str| self.fleet.iter().map(|m| delta(m, metric)).sum::<f64>();
        let mismatch_log_lines = self
            .fleet
            .iter()
            .map(|m| {
                std::fs::read_to_string(&m.log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("outbox.owner_mismatch"))
                    .count()
            })
            .sum();
        let count = |status: &str| {
            statuses
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n as usize)
        };
        FleetEvidence {
            events: entities.len(),
            rows_done: count("done"),
            rows_not_done: statuses
                .iter()
                .filter(|(s, _)| s != "done")
                .map(|(s, n)| (s.clone(), *n as usize))
                .collect(),
            documents_found: self.documents_found(entities).await,
            processed: sum("outbox_processed_total"),
            owner_mismatch: sum("outbox_owner_mismatch_skips_total"),
            terminal_failed: sum("outbox_terminal_failed_total"),
            mismatch_log_lines,
            per_worker_processed: self
                .fleet
                .iter()
                .map(|m| (m.number, delta(m, "outbox_processed_total")))
                .collect(),
        }
    }

    /// How many entities ES has a document for at version 1 (read from ES itself, not
    /// through the gate): under upstream's id `<entity_type>:<id>`, else the bare id.
    async fn documents_found(&self, entities: &[Uuid]) -> usize {
        let base = format!(
            "{}/{}/_doc",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let http = &self.http;
        let found = |entity: Uuid| {
            let base = base.clone();
            async move {
                for id in [format!("{ENTITY_TYPE}:{entity}"), entity.to_string()] {
                    let document = match http.get(format!("{base}/{id}")).send().await {
                        Ok(answer) => answer.json::<Value>().await.ok(),
                        Err(_) => None,
                    };
                    if let Some(document) = document
                        && crate::drill::observations::document_version(&document) == Some(1)
                    {
                        return true;
                    }
                }
                false
            }
        };
        futures::stream::iter(entities.iter().copied())
            .map(found)
            .buffer_unordered(16)
            .filter(|found| std::future::ready(*found))
            .count()
            .await
    }

    fn write_result(&self, checks: &[FleetCheck], passed: bool) -> anyhow::Result<()> {
        let result = json!({
            "scenario": ID,
            "run_id": self.run.run_id,
            "verdict": if passed { "PASSED" } else { "FAILED" },
            "ok": passed,
            "checks": checks,
            "figures": self.figures,
        });
        self.run.write_json("_result.json", &result)?;
        let mut report = format!(
            "# {ID} · {}\n\n**verdict: {}** · {} replicas · {} events\n\n| check | status | observed |\n|---|---|---|\n",
            self.run.run_id,
            if passed { "PASSED" } else { "FAILED" },
            self.options.replicas,
            self.options.events
        );
        for c in checks {
            report.push_str(&format!(
                "| {} | {} | {} |\n",
                crate::evidence::markdown::cell(c.title, 200),
                if c.passed { "passed" } else { "FAILED" },
                crate::evidence::markdown::cell(&c.observed, 400)
            ));
        }
        report.push_str(&format!("\nFigures: `{}`\n", self.figures));
        self.run.write_new("report.md", report.as_bytes())?;
        Ok(())
    }
}
