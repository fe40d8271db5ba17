//! `drill-cockpit run fleet-contention [--replicas 8] [--events 2000]`: claim contention
//! at scale. A fleet of workers drains a burst of events through the fault gate, which
//! holds a seeded share of the writes longer than the lease, so leases are lost under
//! workers and reclaimed by others all through the run. Graded by
//! [`checks`]: every row finalized exactly once, no event lost, every
//! late finalize reported. Its figures (wall time, events/s, leases lost) go to
//! `_result.json` and stderr.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod checks;
mod members;
mod observe;
mod record;
pub mod verify;

use crate::config::Profile;
use crate::evidence::write::RunWriter;
use crate::faults::{Fault, FaultGate, Ops, Pick};
use crate::sources::metrics::Scrape;
use crate::sources::worker_proc::WorkerProcess;
use checks::{FleetCheck, grade};

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
        let held = self.gate.as_ref().map_or(0, |g| g.injected());
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
}
