//! The cockpit's engine: one task that owns the drill session, runs the sources on
//! their intervals (Docker by its event stream), carries out the keys' actions, and
//! publishes a fresh [`Snapshot`] after every change. The UI only reads snapshots.

mod commands;
mod refresh;
mod setup;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::counters::CounterBoard;
use crate::config::Profile;
use crate::db::outbox::{Op, OutboxRow, QueueSummary};
use crate::docker::ServiceState;
use crate::drill::{Missing, Observations, Verdict};
use crate::jaeger::TraceSummary;
use crate::session::Session;
use crate::sources::worker_proc::{SharedTail, WorkerState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    StopEs,
    StartEs,
    Insert(Op),
    Freeze,
    ToggleWorker,
    KillWorker,
    ComposeUp,
    /// Put the drill's fault in (its own switch: the gate, the write block, a kill …).
    FaultIn,
    /// Take the drill's fault out again.
    FaultOut,
    /// Insert the drill's next event (its trigger, then its chain).
    InsertNext,
    /// End this drill (its fault taken out, the last freeze) and start another.
    SwitchScenario(&'static str),
    /// Drop a note on the timeline.
    Marker(String),
    Quit {
        start_es: bool,
    },
}

impl Command {
    /// What the status bar and the journal call it.
    pub fn describe(&self) -> String {
        match self {
            Command::StopEs => "stopping Elasticsearch".into(),
            Command::StartEs => "starting Elasticsearch".into(),
            Command::Insert(op) => format!("inserting a {} event", op.as_str()),
            Command::Freeze => "freezing evidence".into(),
            Command::ToggleWorker => "starting/stopping the worker".into(),
            Command::KillWorker => "killing the worker".into(),
            Command::ComposeUp => "docker compose up -d".into(),
            Command::FaultIn => "putting the drill's fault in".into(),
            Command::FaultOut => "taking the drill's fault out".into(),
            Command::InsertNext => "inserting the drill's next event".into(),
            Command::SwitchScenario(id) => format!("switching to the drill {id}"),
            Command::Marker(_) => "dropping a marker".into(),
            Command::Quit { .. } => "quitting".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    Running,
    Done(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SetupStep {
    pub name: &'static str,
    pub state: StepState,
}

/// Everything the panes show, as of one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub run_dir: String,
    pub scenario: String,
    pub project: String,
    /// The Docker engine and what chose it (`tcp://… (DOCKER_HOST)`); empty in the
    /// sandbox and in replays of runs that did not record it.
    pub engine: String,
    pub es_service: String,
    pub setup: Vec<SetupStep>,
    pub containers: Option<Result<Vec<ServiceState>, String>>,
    pub worker: Option<WorkerState>,
    pub worker_command: String,
    /// The claim size the cockpit passed (OUTBOX_BATCH_SIZE = OUTBOX_BULK_SIZE).
    pub batch_sent: u32,
    /// The claim size the worker says it uses, once it has logged it.
    pub batch_reported: Option<u64>,
    pub metrics_url: String,
    pub metrics_error: Option<String>,
    pub counters: CounterBoard,
    pub event_id: Option<String>,
    pub event_traces: Option<Result<Vec<TraceSummary>, String>>,
    pub batch_id: Option<String>,
    pub batch_traces: Option<Result<Vec<TraceSummary>, String>>,
    pub jaeger_url: String,
    pub outbox: Option<Result<(QueueSummary, Vec<OutboxRow>), String>>,
    pub checklist: Option<Verdict>,
    /// The last action's outcome: (text, is_error).
    pub status: Option<(String, bool)>,
    pub busy: Option<String>,
    pub es_stopped: bool,
    /// Elasticsearch over HTTP (probed every second): what it answered, or why not.
    pub elastic: Option<Result<String, String>>,
    /// Jaeger's own health before any event is under drill (the traces pane says why).
    pub jaeger_error: Option<String>,
    pub finished: bool,
    /// The verdict of the final freeze (written to `_result.json`), once the cockpit quit.
    pub final_verdict: Option<Verdict>,
    /// Why the final freeze did not happen or failed, when it did not write its verdict.
    pub final_error: Option<String>,
    /// Actions that failed this session (bounded), for the checklist.
    pub failed_actions: Vec<crate::session::FailedAction>,
    /// The drill's fault is in force.
    pub fault_in: bool,
    /// What the "insert next" key inserts now.
    pub next_event: String,
    /// The fault gates (Elasticsearch's, the collector's) and what they did lately.
    pub gates: Vec<GateView>,
    /// Worker 2 of a two-worker drill: its id, metrics port and state.
    pub worker2: Option<(String, u16, WorkerState)>,
    /// The fleet's replicas beside the drill's own workers: number, id, metrics port
    /// and state (`--replicas N`).
    pub replicas: Vec<(usize, String, u16, WorkerState)>,
    /// The sandbox's banner, when the services are simulated.
    pub sandbox: Option<&'static str>,
    /// Each worker's counters since its baseline: (worker, processed, failed, retried).
    pub per_worker: Vec<(usize, f64, f64, f64)>,
    /// The drill's story so far (from its journal), for the timeline strip.
    pub moments: Vec<crate::evidence::moments::Moment>,
    /// Seconds since the drill's journal began.
    pub elapsed: f64,
    /// Where a replay stands on the timeline (drill seconds); `None` live.
    pub cursor: Option<f64>,
}

/// One fault gate as the Faults pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateView {
    /// What it stands in front of ("Elasticsearch", "trace collector").
    pub role: &'static str,
    pub url: String,
    pub upstream: String,
    pub fault: String,
    /// Requests seen, and how many of them a fault hit.
    pub total: usize,
    pub injected: usize,
    pub recent: Vec<crate::faults::GateRecord>,
}

pub struct EngineHandle {
    pub commands: mpsc::Sender<Command>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub tail: SharedTail,
    /// Worker 2's log (two-worker drills); the same handle across drills.
    pub tail2: SharedTail,
    /// The fleet's replicas' logs by number (`--replicas N`); the same across drills.
    pub fleet_tails: crate::session::FleetTails,
}

impl EngineHandle {
    /// The log of worker `n`: 1, 2, or a replica of the fleet (worker 1's when there
    /// is no such worker).
    pub fn tail_of(&self, n: u8) -> SharedTail {
        let replica = self.fleet_tails.lock().ok().and_then(|tails| {
            tails
                .iter()
                .find(|(number, _)| *number == usize::from(n))
                .map(|(_, tail)| tail.clone())
        });
        match (n, replica) {
            (_, Some(tail)) => tail,
            (2, None) => self.tail2.clone(),
            _ => self.tail.clone(),
        }
    }
}

pub struct StartOptions {
    /// Run `docker compose up -d` without asking when the project has no containers.
    pub up: bool,
}

/// Starts the engine; the run directory is created before this returns.
pub fn start(profile: Profile, options: StartOptions) -> Result<EngineHandle, String> {
    let drill = crate::drill::scenario::find(&profile.scenario)?;
    let session = Session::create(profile, drill).map_err(|e| e.to_string())?;
    let tail = session.tail.clone();
    let tail2 = session.tail2.clone();
    let fleet_tails = session.fleet_tails.clone();
    let snapshot = fresh_snapshot(&session);
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(snapshot.clone()));
    let (command_tx, command_rx) = mpsc::channel(32);
    let engine = Engine {
        session,
        snapshot,
        publish: snapshot_tx,
        options,
        health: Default::default(),
    };
    tokio::spawn(engine.run(command_rx));
    Ok(EngineHandle {
        commands: command_tx,
        snapshots: snapshot_rx,
        tail,
        tail2,
        fleet_tails,
    })
}

/// The snapshot of a session that has just begun.
fn fresh_snapshot(session: &Session) -> Snapshot {
    Snapshot {
        run_dir: session.run.dir.display().to_string(),
        scenario: session.drill.id.to_string(),
        project: session.profile.compose_project.clone(),
        engine: match (&session.profile.sandbox, &session.profile.docker_engine) {
            (None, Ok(engine)) => engine.to_string(),
            _ => String::new(),
        },
        es_service: session.profile.es_service.clone(),
        metrics_url: session.metrics_url(),
        jaeger_url: session.profile.jaeger_url.clone(),
        worker_command: crate::sources::worker_proc::worker_command(&session.profile).join(" "),
        batch_sent: session.profile.tuning.batch_size,
        next_event: session.next_event_words(),
        sandbox: session
            .profile
            .sandbox
            .is_some()
            .then_some(crate::sandbox::BANNER),
        ..Snapshot::default()
    }
}

struct Engine {
    session: Session,
    snapshot: Snapshot,
    publish: watch::Sender<Arc<Snapshot>>,
    options: StartOptions,
    /// What the diagnostics log was last told about each source.
    health: super::source_health::SourceHealth,
}

impl Engine {
    fn publish(&mut self) {
        self.health.observe(&self.snapshot);
        let _ = self.publish.send(Arc::new(self.snapshot.clone()));
    }

    fn step(&mut self, name: &'static str, state: StepState) {
        match self.snapshot.setup.iter_mut().find(|s| s.name == name) {
            Some(step) => step.state = state,
            None => self.snapshot.setup.push(SetupStep { name, state }),
        }
        self.publish();
    }

    fn status(&mut self, text: impl Into<String>, error: bool) {
        self.snapshot.status = Some((text.into(), error));
        self.snapshot.busy = None;
        self.publish();
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        self.setup().await;
        let profile = self.session.profile.clone();
        let mut scrape_tick = tokio::time::interval(profile.scrape_interval);
        let mut outbox_tick = tokio::time::interval(profile.outbox_interval);
        let mut jaeger_tick = tokio::time::interval(profile.jaeger_interval);
        let mut worker_tick = tokio::time::interval(Duration::from_millis(250));
        // Sources that are down are retried, and reachability is probed, every second:
        // a source that returns is seen again within that.
        let mut probe_tick = tokio::time::interval(PROBE_INTERVAL);
        for tick in [
            &mut scrape_tick,
            &mut outbox_tick,
            &mut jaeger_tick,
            &mut worker_tick,
            &mut probe_tick,
        ] {
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut events = self.docker_events();
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Quit { start_es }) => {
                        self.quit(start_es).await;
                        return;
                    }
                    // The UI is gone (it panicked or was killed): finish cleanly anyway.
                    None => {
                        self.quit(false).await;
                        return;
                    }
                    Some(command) => self.handle(command).await,
                },
                _ = scrape_tick.tick() => self.scrape().await,
                _ = outbox_tick.tick() => self.refresh_outbox().await,
                _ = jaeger_tick.tick() => self.refresh_traces().await,
                _ = probe_tick.tick() => {
                    if self.probe(events.is_some()).await {
                        events = self.docker_events();
                    }
                }
                _ = worker_tick.tick() => {
                    self.lift_if_due().await;
                    let state = self.session.worker_state();
                    let reported = self.session.tail.lock().ok().and_then(|t| t.reported_batch_size);
                    let worker2 = self.worker2();
                    let replicas = self.replicas();
                    let gates = self.gates();
                    if state != self.snapshot.worker
                        || reported != self.snapshot.batch_reported
                        || worker2 != self.snapshot.worker2
                        || replicas != self.snapshot.replicas
                        || gates != self.snapshot.gates
                    {
                        self.snapshot.worker = state;
                        self.snapshot.batch_reported = reported;
                        self.snapshot.worker2 = worker2;
                        self.snapshot.replicas = replicas;
                        self.snapshot.gates = gates;
                        self.publish();
                    }
                }
                event = next_event(&mut events) => {
                    match event {
                        Some(Ok(event)) => {
                            if matches!(event.action.as_str(), "start" | "stop" | "die" | "kill" | "restart" | "pause" | "unpause") || event.action.starts_with("health_status") {
                                self.session.journal("container", serde_json::json!({"service": event.service, "action": event.action, "by": "docker"}));
                            }
                            self.refresh_containers().await;
                        }
                        Some(Err(error)) => {
                            self.snapshot.containers = Some(Err(error.to_string()));
                            self.publish();
                            events = None;
                        }
                        None => events = None,
                    }
                }
            }
        }
    }
}

/// Requests of each gate the Faults pane shows.
const GATE_RECENT: usize = 8;

/// How often sources that are down are retried and reachability is probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

async fn next_event(
    events: &mut Option<crate::platform::Changes>,
) -> Option<Result<crate::docker::ContainerEvent, String>> {
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}
