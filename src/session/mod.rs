//! One drill session: the run directory, the worker under drill, and the actions and
//! observations that both the cockpit and the headless `run` use. Every action is
//! journaled; every source that fails is reported with its error, never skipped.

mod capture;
mod connect;
mod events;
mod faults;
mod fleet;
mod freeze;
mod leftovers;
mod observe;
mod prometheus;
mod workers;

pub use prometheus::{PromCounters, PromPage};

pub use workers::{SecondWorker, combined};

/// The log tails of a fleet's replicas, by worker number.
pub type FleetTails = Arc<Mutex<Vec<(usize, SharedTail)>>>;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Profile;
use crate::config::redact::Redactor;
use crate::db::outbox::{NewEvent, Op, insert_events};
use crate::docker::ComposeDocker;
use crate::drill::scenario::{Inject, Scenario};
use crate::drill::{CheckStatus, Missing, Observations, Verdict, grade};
use crate::evidence::write::{RunWriter, WriteError, timestamp};
use crate::evidence::{manifest, report, svg};
use crate::faults::{Fault, FaultGate};
use crate::jaeger::TraceSummary;
use crate::jaeger::client::{JaegerClient, batch_query, event_query};
use crate::prom::Samples;
use crate::sources::metrics::{Scrape, metrics_url, scrape};
use crate::sources::worker_proc::{LogTail, SharedTail, WorkerProcess, WorkerState};

/// How far back Jaeger searches look.
const TRACE_LOOKBACK: Duration = Duration::from_secs(3600);
/// Per-source budget inside a freeze, so the whole freeze stays under a second.
const FREEZE_SOURCE_TIMEOUT: Duration = Duration::from_millis(700);

pub struct Session {
    pub profile: Profile,
    pub scenario: String,
    /// What this drill injects and checks.
    pub drill: &'static Scenario,
    pub run: RunWriter,
    pub http: reqwest::Client,
    pub jaeger: JaegerClient,
    pub pool: Option<PgPool>,
    pub docker: Option<ComposeDocker>,
    pub worker: Option<WorkerProcess>,
    pub tail: SharedTail,
    /// Worker 2's tail (two-worker drills), made up front so the UI can hold it.
    pub tail2: SharedTail,
    /// Where the drill's chain of events stands (the cockpit's "insert next" key).
    pub chain_next: usize,
    pub baseline: Option<Scrape>,
    pub latest: Option<Scrape>,
    /// Every event this session inserted (the Outbox pane shows them all).
    pub inserted: Vec<Uuid>,
    /// The drill's own events, the ones its checks follow: its trigger(s) and chain, in
    /// order. Events inserted after the chain is complete are shown and journaled, but
    /// never re-point a check that was already decided.
    pub drill_events: Vec<Uuid>,
    pub es_stopped: bool,
    /// The drill's fault was put in and later taken out again (recovery is now due).
    pub fault_restored: bool,
    /// The fault gate between the worker and ES, for drills that inject through it.
    pub gate: Option<FaultGate>,
    /// The gate's fault is in force.
    pub gate_faulted: bool,
    /// The gate in front of the trace collector (collector_down).
    pub collector_gate: Option<FaultGate>,
    /// The collector's gate refuses connections.
    pub collector_refused: bool,
    /// The drill's index refuses writes (`index.blocks.write=true`).
    pub index_blocked: bool,
    /// The entity of the last event inserted.
    pub last_entity: Option<Uuid>,
    /// When a fault that is lifted after a while (`… for 5s`) comes out.
    pub lift_at: Option<tokio::time::Instant>,
    /// That fault came out on its own time (nothing left to restore).
    pub lifted: bool,
    last_statuses: BTreeMap<&'static str, CheckStatus>,
    last_counters: Option<[f64; 4]>,
    /// How long the last freeze took from first capture to last file, in ms.
    pub last_freeze_ms: Option<u64>,
    /// Why the database cannot take the drill's writes (a missing table or column).
    pub schema_problem: Option<String>,
    /// Actions that failed, newest last (bounded): shown in the checklist and report.
    pub failed_actions: Vec<FailedAction>,
    /// Worker 2 of a two-worker drill.
    pub second: Option<SecondWorker>,
    /// The replicas beside the drill's own workers (`worker.replicas`), by number.
    pub fleet: Vec<SecondWorker>,
    /// The replicas' log tails by number, shared with the UI (which holds it before
    /// any replica starts, as it holds `tail2`).
    pub fleet_tails: FleetTails,
    /// Worker 1 was killed by the drill (its last scrape stands for it).
    pub worker_killed: bool,
    /// D's poison event, once the outbox shows which one it is.
    pub poisoned: Option<Uuid>,
    /// A control run: everything but the fault (and no set-up that only the fault needs).
    pub control: bool,
    /// The fault goes in through upstream's in-worker switches (`--inject worker`), not
    /// from outside.
    pub inject_in_worker: bool,
    /// An in-worker fault of a recovering drill is in force (worker 1 runs with it).
    pub worker_faulted: bool,
    /// Worker 1 was stopped and replaced without its switches (taking an in-worker fault
    /// out): its last page stands for it, like a killed worker's.
    pub worker1_replaced: bool,
    /// (port, pid) pairs proven: the process serving that port descends from the
    /// worker this session started with that pid (a stranger is never scraped).
    proven_ports: Vec<(u16, u32)>,
    /// Counter journal entries written with every series so far.
    rich_counter_entries: usize,
    /// The counters come from Prometheus (`metrics.source = "prometheus"`).
    prom_counters: Option<PromCounters>,
    /// The moments of the journal, fed line by line (the timeline strip reads it).
    story: Mutex<crate::evidence::moments::Story>,
    /// The leftovers of dead sessions were looked for (once per session).
    leftovers_swept: bool,
}

/// An action of the drill that did not happen, and why (it is evidence too).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedAction {
    pub at: String,
    pub action: String,
    pub error: String,
}

/// Failed actions kept in memory; the journal keeps every one.
const FAILED_ACTIONS_KEPT: usize = 50;

/// The newest event and what was found for it.
#[derive(Debug, Clone, Default)]
pub struct TraceFindings {
    pub event_traces: Option<Result<Vec<TraceSummary>, String>>,
    pub batch_id: Option<String>,
    pub batch_traces: Option<Result<Vec<TraceSummary>, String>>,
}

/// A source's answer within the freeze budget (`Err` = it did not answer in time).
async fn within<F: std::future::Future>(
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::time::timeout(FREEZE_SOURCE_TIMEOUT, future).await
}

/// Every secret a run may meet ([`Profile::redactor`]).
fn run_redactor(profile: &Profile) -> Redactor {
    profile.redactor()
}

/// The drill's rows as the checks see them.
pub fn row_states(rows: &[crate::db::outbox::OutboxRow]) -> Vec<crate::drill::RowState> {
    rows.iter()
        .map(|row| crate::drill::RowState {
            id: row.id.to_string(),
            status: row.status.clone(),
            reason: row.error_reason.clone(),
            version: Some(row.event_version),
        })
        .collect()
}

pub use crate::drill::observations::document_version;

/// Which service a fault gate stands in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateRole {
    Elastic,
    Collector,
}

impl GateRole {
    fn name(self) -> &'static str {
        match self {
            GateRole::Elastic => "Elasticsearch",
            GateRole::Collector => "trace collector",
        }
    }
}

const NO_DOCKER: &str = "Docker is not connected: see the Containers pane for why";

fn error_text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

impl Session {
    pub fn create(profile: Profile, drill: &'static Scenario) -> Result<Session, WriteError> {
        let scenario = drill.id;
        let redactor = run_redactor(&profile);
        let run = RunWriter::create(&profile.snapshots_dir, scenario, redactor)?;
        let http = crate::sources::metrics::client();
        let jaeger = JaegerClient::new(&profile.jaeger_url, &profile.service_name);
        let session = Session {
            scenario: scenario.to_string(),
            drill,
            run,
            http,
            jaeger,
            pool: None,
            docker: None,
            worker: None,
            tail: Arc::new(Mutex::new(LogTail::default())),
            tail2: Arc::new(Mutex::new(LogTail::default())),
            chain_next: 0,
            baseline: None,
            latest: None,
            inserted: Vec::new(),
            es_stopped: false,
            fault_restored: false,
            gate: None,
            gate_faulted: false,
            collector_gate: None,
            collector_refused: false,
            index_blocked: false,
            last_entity: None,
            lift_at: None,
            lifted: false,
            last_statuses: BTreeMap::new(),
            last_counters: None,
            last_freeze_ms: None,
            schema_problem: None,
            failed_actions: Vec::new(),
            second: None,
            fleet: Vec::new(),
            fleet_tails: Default::default(),
            worker_killed: false,
            poisoned: None,
            proven_ports: Vec::new(),
            control: false,
            inject_in_worker: false,
            worker1_replaced: false,
            worker_faulted: false,
            drill_events: Vec::new(),
            rich_counter_entries: 0,
            prom_counters: profile.prometheus.as_ref().map(PromCounters::new),
            story: Mutex::new(Default::default()),
            leftovers_swept: false,
            profile,
        };
        session.write_recipe()?;
        Ok(session)
    }

    /// How the drill's fault goes in, for `_recipe.json`.
    fn inject_recipe(&self) -> Value {
        let drill = self.drill;
        let fault = drill.gate_fault.as_ref().map(|f| f.describe());
        let line = drill
            .gate_fault
            .as_ref()
            .map(|f| crate::faults::line::to_lifted_line(f, drill.lift_after));
        match drill.inject {
            Inject::StopEs => {
                json!({"kind": "es_down", "compose": {"file": self.profile.compose_file, "project": self.profile.compose_project, "service": self.profile.es_service, "action": "stop"}})
            }
            Inject::Gate => {
                json!({"kind": "gate", "by": "drill-cockpit fault gate", "fault": fault, "line": line, "upstream": self.profile.elastic_url, "events_in_one_claim": drill.together, "workers": drill.worker_count()})
            }
            Inject::WriteBlock => {
                json!({"kind": "es_write_block", "index": self.profile.elastic_index, "settings": {"index": {"blocks": {"write": true}}}})
            }
            Inject::CollectorGate => {
                json!({"kind": "collector_down", "by": "drill-cockpit fault gate in front of the OTLP endpoint", "fault": fault, "line": line, "upstream": self.profile.otlp_endpoint})
            }
            Inject::KillClaimingWorker => {
                json!({"kind": "stuck_reclaim", "by": "SIGKILL of worker 1 once it holds a claim; worker 2 started then", "hold": "the gate holds worker 1's first write", "workers": 2})
            }
            Inject::Nothing => {
                json!({"kind": "none", "events": std::iter::once(drill.trigger).chain(drill.then.iter().copied()).map(|op| op.as_str()).collect::<Vec<_>>()})
            }
        }
    }

    fn write_recipe(&self) -> Result<(), WriteError> {
        // The drill as it ran: `verify` grades the run by it, whatever files say later.
        self.run
            .write_new("_drill.toml", self.drill.file.as_bytes())?;
        let recipe = json!({
            "tool": "drill-cockpit",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": self.scenario,
            "run_id": self.run.run_id,
            "created_at": chrono::Utc::now().to_rfc3339(),
            "service": self.profile.service_name,
            "inject": self.inject_recipe(),
            "worker": {"command": crate::sources::worker_proc::worker_command(&self.profile), "metrics_port": self.profile.metrics_port, "count": self.fleet_size(), "replicas": self.profile.replicas, "env": self.drill.worker_env.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()},
            "trigger_together": self.drill.together,
            "trigger": {"op": self.drill.trigger.as_str()},
            "profile": self.profile.redacted_json(),
        });
        let mut recipe = recipe;
        if let Some(sandbox) = &self.profile.sandbox {
            recipe["sandbox"] = sandbox.describe();
        } else {
            // Which engine the drill's containers were on, and what chose it.
            recipe["docker"] = match &self.profile.docker_engine {
                Ok(engine) => engine.to_json(),
                Err(error) => json!({"error": error.to_string()}),
            };
        }
        self.run.write_json("_recipe.json", &recipe).map(|_| ())
    }

    pub fn journal(&self, kind: &str, detail: Value) {
        // The journal is evidence, but a full disk must not stop the drill itself.
        if let Ok(entry) = self.run.journal(kind, detail)
            && let Ok(mut story) = self.story.lock()
        {
            story.push(&entry);
        }
    }

    /// The drill's story so far, as the journal has told it (kept as it is written).
    pub fn story(&self) -> crate::evidence::moments::Story {
        self.story.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Records an action that failed (journal, report, checklist) and hands the error back.
    pub fn action_failed(&mut self, action: &str, error: String) -> String {
        self.journal("action_failed", json!({"action": action, "error": error}));
        if self.failed_actions.len() == FAILED_ACTIONS_KEPT {
            self.failed_actions.remove(0);
        }
        self.failed_actions.push(FailedAction {
            at: chrono::Utc::now().to_rfc3339(),
            action: action.to_string(),
            error: error.clone(),
        });
        error
    }

    /// Ends the session: the worker stopped (its last lines are in the log), the journal's
    /// last line written, then `manifest.json` — the last word on every file's content,
    /// which `verify` checks — and the run's lock released.
    pub async fn close(&mut self) -> Result<(), String> {
        self.stop_worker().await;
        self.clear_workers();
        // Their last lines may still be in the pipes: the logs are complete first.
        self.drain_workers().await;
        self.journal("closed", json!({"run_id": self.run.run_id}));
        let written = match self.listing().await {
            Ok(mut listing) => {
                listing["tool"] = json!("drill-cockpit");
                listing["run_id"] = json!(self.run.run_id);
                listing["scenario"] = json!(self.scenario);
                // Whole or absent (never a cut-off manifest): `verify` reads either.
                self.run
                    .write_json("manifest.json", &listing)
                    .map(|_| ())
                    .map_err(|e| format!("writing manifest.json failed: {e}"))
            }
            Err(error) => Err(error),
        };
        // Journaled, so that `verify` can say why the run has no manifest.
        let written = written.map_err(|error| self.action_failed("write manifest.json", error));
        self.run.release();
        written
    }

    /// The journal so far.
    pub fn timeline(&self) -> Vec<Value> {
        std::fs::read_to_string(self.run.dir.join("_timeline.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}
