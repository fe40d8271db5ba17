//! The cockpit's engine: one task that owns the drill session, runs the sources on
//! their intervals (Docker by its event stream), carries out the keys' actions, and
//! publishes a fresh [`Snapshot`] after every change. The UI only reads snapshots.

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
                    let state = self.session.worker_state();
                    let reported = self.session.tail.lock().ok().and_then(|t| t.reported_batch_size);
                    let worker2 = self.worker2();
                    let gates = self.gates();
                    if state != self.snapshot.worker
                        || reported != self.snapshot.batch_reported
                        || worker2 != self.snapshot.worker2
                        || gates != self.snapshot.gates
                    {
                        self.snapshot.worker = state;
                        self.snapshot.batch_reported = reported;
                        self.snapshot.worker2 = worker2;
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

    /// Retries what is down and probes what the panes cannot otherwise see. Returns
    /// whether Docker is (again) reachable with no event stream: the caller subscribes.
    async fn probe(&mut self, streaming: bool) -> bool {
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
    fn refresh_moments(&mut self) {
        let story = self.session.story();
        if let Some(start) = story.start() {
            self.snapshot.elapsed =
                (chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - start).max(0.0);
        }
        self.snapshot.moments = story.moments;
    }

    /// Worker 2's id, port and state, when the drill runs one.
    fn worker2(&mut self) -> Option<(String, u16, WorkerState)> {
        let state = self.session.second_worker_state()?;
        let second = self.session.second.as_ref()?;
        Some((second.id.clone(), second.metrics_port, state))
    }

    /// The gates' state and their newest requests.
    fn gates(&self) -> Vec<GateView> {
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

    /// Each worker's Δ since its own baseline (two-worker drills).
    fn per_worker(&self) -> Vec<(usize, f64, f64, f64)> {
        let Some(second) = &self.session.second else {
            return Vec::new();
        };
        let delta = |before: Option<&crate::sources::metrics::Scrape>,
                     after: Option<&crate::sources::metrics::Scrape>,
                     metric: &str| {
            let value = |s: Option<&crate::sources::metrics::Scrape>| {
                s.map(|s| s.samples.sum(metric, &[])).unwrap_or(0.0)
            };
            crate::prom::delta(value(before), value(after))
        };
        [
            (
                1,
                self.session.baseline.as_ref(),
                self.session.latest.as_ref(),
            ),
            (2, second.baseline.as_ref(), second.latest.as_ref()),
        ]
        .into_iter()
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

    fn docker_events(
        &self,
    ) -> Option<
        futures::stream::BoxStream<
            'static,
            Result<crate::docker::ContainerEvent, crate::docker::DockerError>,
        >,
    > {
        self.session
            .docker
            .as_ref()
            .map(|docker| docker.events(Some(chrono::Utc::now().timestamp())).boxed())
    }

    async fn setup(&mut self) {
        if self.session.profile.sandbox.is_some() {
            self.refresh_containers().await;
            self.step("docker", StepState::Done(crate::sandbox::BANNER.into()));
            return self.setup_after_docker().await;
        }
        self.step("docker", StepState::Running);
        match self.session.connect_docker().await {
            Ok(()) => {
                self.refresh_containers().await;
                let absent = matches!(&self.snapshot.containers, Some(Ok(list)) if list.is_empty());
                if absent && self.options.up {
                    self.compose_up().await;
                } else if absent {
                    self.step("docker", StepState::Failed(format!(
                        "compose project `{}` has no containers: press U to run `docker compose -f {} up -d`",
                        self.session.profile.compose_project,
                        self.session.profile.compose_file.display()
                    )));
                } else {
                    self.step(
                        "docker",
                        StepState::Done(format!(
                            "project {}",
                            self.session.profile.compose_project
                        )),
                    );
                }
            }
            Err(error) => {
                self.snapshot.containers = Some(Err(error.clone()));
                self.step("docker", StepState::Failed(error));
            }
        }
        self.setup_after_docker().await;
    }

    /// Database, index, the fault that precedes the worker, the worker.
    async fn setup_after_docker(&mut self) {
        self.step("database", StepState::Running);
        if let Some(sandbox) = self.session.profile.sandbox.clone() {
            let ready = sandbox.ready().await;
            self.refresh_containers().await;
            if let Err(error) = ready {
                self.snapshot.outbox = Some(Err(error.clone()));
                self.step("database", StepState::Failed(error));
            }
        }
        match self.session.connect_db().await {
            Ok(()) => {
                let migrated = if self.session.profile.database_is_ours {
                    "migrated"
                } else {
                    "not ours: not migrated"
                };
                self.step(
                    "database",
                    StepState::Done(format!(
                        "{} ({migrated})",
                        self.session.profile.redacted_database_url()
                    )),
                );
            }
            Err(error) => {
                // The outbox pane is the database's view: the failure and its fix show there.
                self.snapshot.outbox = Some(Err(error.clone()));
                self.step("database", StepState::Failed(error));
            }
        }
        self.step("index", StepState::Running);
        match self.session.ensure_index().await {
            Ok(()) => self.step(
                "index",
                StepState::Done(self.session.profile.elastic_index.clone()),
            ),
            Err(error) => self.step("index", StepState::Failed(error)),
        }
        if self.session.drill.injects_before_worker() {
            // The worker may look at its collector once, at start: the fault comes first.
            self.step("fault", StepState::Running);
            match self.session.inject().await {
                Ok(()) => self.step(
                    "fault",
                    StepState::Done(self.session.drill.inject_words.to_string()),
                ),
                Err(error) => self.step("fault", StepState::Failed(error)),
            }
        }
        self.step("worker", StepState::Running);
        self.session.start_worker().await;
        self.snapshot.worker = self.session.worker_state();
        match &self.snapshot.worker {
            Some(WorkerState::FailedToStart { message }) => {
                let message = message.clone();
                self.step("worker", StepState::Failed(message));
            }
            _ => self.step(
                "worker",
                StepState::Done(self.snapshot.worker_command.clone()),
            ),
        }
    }

    async fn compose_up(&mut self) {
        self.step("docker", StepState::Running);
        self.snapshot.busy = Some("docker compose up -d …".into());
        self.publish();
        let profile = &self.session.profile;
        let up = match &profile.docker_engine {
            Ok(engine) => {
                crate::docker::compose::up(engine, &profile.compose_file, &profile.compose_project)
                    .await
            }
            Err(error) => Err(error.to_string()),
        };
        match up {
            Ok(tool) => {
                // `docker-compose` (v1) cannot `--wait`: wait for health here, for both.
                self.snapshot.busy = Some("waiting for the services to be healthy …".into());
                self.publish();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
                loop {
                    self.refresh_containers().await;
                    let ready = matches!(&self.snapshot.containers, Some(Ok(list)) if !list.is_empty()
                        && list.iter().all(|s| s.state == "running" && s.health.as_deref().is_none_or(|h| h == "healthy")));
                    if ready || tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                self.step(
                    "docker",
                    StepState::Done(format!(
                        "{tool} up -d: project {}",
                        self.session.profile.compose_project
                    )),
                );
                self.status(format!("{tool} up -d done"), false);
            }
            Err(error) => {
                self.step("docker", StepState::Failed(error.clone()));
                self.status(error, true);
            }
        }
    }

    async fn refresh_containers(&mut self) {
        if let Some(sandbox) = &self.session.profile.sandbox {
            let services = sandbox.services();
            if self.snapshot.containers.as_ref() != Some(&Ok(services.clone())) {
                self.snapshot.containers = Some(Ok(services));
            }
            self.snapshot.es_stopped = self.session.es_stopped;
            self.publish();
        } else if let Some(docker) = &self.session.docker {
            self.snapshot.containers = Some(docker.services().await.map_err(|e| e.to_string()));
            self.snapshot.es_stopped = self.session.es_stopped;
            self.publish();
        }
    }

    async fn scrape(&mut self) {
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
                    self.snapshot.counters.set_baseline(scraped.samples.clone());
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

    async fn regrade(&mut self) {
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

    fn event_state(&self) -> Option<(String, Option<String>)> {
        let id = self.snapshot.event_id.as_deref()?;
        match &self.snapshot.outbox {
            Some(Ok((_, rows))) => rows
                .iter()
                .find(|r| r.id.to_string() == id)
                .map(|r| (r.status.clone(), r.error_reason.clone())),
            _ => None,
        }
    }

    async fn refresh_outbox(&mut self) {
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

    async fn refresh_traces(&mut self) {
        if self.session.event_under_drill().is_none() {
            return;
        }
        let findings = self.session.find_traces(&self.session.log_lines()).await;
        self.snapshot.event_traces = findings.event_traces;
        self.snapshot.batch_id = findings.batch_id;
        self.snapshot.batch_traces = findings.batch_traces;
        self.publish();
    }

    async fn handle(&mut self, command: Command) {
        tracing::info!(scenario = %self.snapshot.scenario, "key action: {}", command.describe());
        self.session
            .journal("key", serde_json::json!({"command": command.describe()}));
        self.snapshot.busy = Some(format!("{} …", command.describe()));
        self.publish();
        // The drill's baseline must predate its first fault or event.
        if matches!(
            command,
            Command::StopEs | Command::Insert(_) | Command::FaultIn | Command::InsertNext
        ) && !self.snapshot.counters.has_baseline()
        {
            self.scrape().await;
        }
        match command {
            Command::StopEs => match self.session.stop_es().await {
                Ok(()) => self.status(
                    format!("stopped `{}`", self.session.profile.es_service),
                    false,
                ),
                Err(error) => self.status(error, true),
            },
            Command::StartEs => match self.session.start_es().await {
                Ok(()) => self.status(
                    format!("started `{}`", self.session.profile.es_service),
                    false,
                ),
                Err(error) => self.status(error, true),
            },
            Command::Insert(op) => match self.session.insert(op).await {
                Ok(id) => {
                    self.snapshot.event_id = Some(id.to_string());
                    self.snapshot.event_traces = None;
                    self.snapshot.batch_id = None;
                    self.snapshot.batch_traces = None;
                    self.status(format!("inserted {} event {id}", op.as_str()), false);
                    self.refresh_outbox().await;
                }
                Err(error) => self.status(error, true),
            },
            Command::Freeze => match self.session.freeze(false).await {
                Ok((dir, verdict)) => {
                    let text = format!(
                        "froze evidence in {} in {} ms ({})",
                        dir.display(),
                        self.session.last_freeze_ms.unwrap_or(0),
                        super::tally::Tally::of(&verdict).words()
                    );
                    // The freeze graded the freshest evidence: the checklist shows that
                    // verdict, so its title and this line give the same count.
                    self.snapshot.checklist = Some(verdict);
                    self.status(text, false);
                }
                Err(error) => self.status(format!("freeze failed: {error}"), true),
            },
            Command::ToggleWorker => {
                if matches!(
                    self.session.worker_state(),
                    Some(WorkerState::Running { .. })
                ) {
                    self.session.stop_worker().await;
                    self.status("worker stopped (SIGTERM)", false);
                } else {
                    self.session.start_worker().await;
                    self.status("worker started", false);
                }
                self.snapshot.worker = self.session.worker_state();
            }
            Command::KillWorker => {
                self.session.kill_worker().await;
                self.snapshot.worker = self.session.worker_state();
                self.status("worker killed (SIGKILL)", false);
            }
            Command::ComposeUp => self.compose_up().await,
            Command::FaultIn => match self.session.inject().await {
                Ok(()) => self.status(
                    format!("fault in: {}", self.session.drill.inject_words),
                    false,
                ),
                Err(error) => self.status(error, true),
            },
            Command::FaultOut => match self.session.restore().await {
                Ok(()) => self.status(format!("fault out: {}", self.session.drill.restore), false),
                Err(error) => self.status(error, true),
            },
            Command::InsertNext => match self.session.insert_next().await {
                Ok((id, op)) => {
                    self.snapshot.event_id = Some(id.to_string());
                    self.snapshot.event_traces = None;
                    self.snapshot.batch_id = None;
                    self.snapshot.batch_traces = None;
                    self.status(format!("inserted {} event {id}", op.as_str()), false);
                    self.refresh_outbox().await;
                }
                Err(error) => self.status(error, true),
            },
            Command::SwitchScenario(id) => {
                self.switch_scenario(id).await;
                return;
            }
            Command::Marker(note) => {
                let note = crate::sanitize::one_line(&note, 200);
                self.session
                    .journal("marker", serde_json::json!({"note": note}));
                self.status(format!("marker: {note}"), false);
            }
            Command::Quit { .. } => {}
        }
        self.refresh_moments();
        self.snapshot.next_event = self.session.next_event_words();
        self.snapshot.fault_in = self.session.fault_active() || self.session.collector_refused;
        self.snapshot.worker2 = self.worker2();
        self.snapshot.gates = self.gates();
        self.snapshot.es_stopped = self.session.es_stopped;
        self.snapshot.failed_actions = self.session.failed_actions.clone();
        self.refresh_containers().await;
    }

    /// Ends this drill as `q` would (its fault taken out first, so the next drill starts
    /// on a healthy stack) and starts `id` in a new run directory, on the same screen.
    async fn switch_scenario(&mut self, id: &'static str) {
        let drill = match crate::drill::scenario::find(id) {
            Ok(drill) => drill,
            Err(error) => return self.status(error, true),
        };
        if self.session.fault_active()
            && let Err(error) = self.session.restore().await
        {
            return self.status(
                format!(
                    "not switching: could not {}: {error}",
                    self.session.drill.restore
                ),
                true,
            );
        }
        self.snapshot.busy = Some(format!("closing {} …", self.session.drill.id));
        self.publish();
        if self.session.baseline.is_some() {
            let _ = self.session.freeze(true).await;
        }
        let closed = self.session.close().await;
        let session = match Session::create(self.session.profile.clone(), drill) {
            Ok(session) => session,
            Err(error) => return self.status(format!("cannot start {id}: {error}"), true),
        };
        let previous = std::mem::replace(&mut self.session, session);
        // The UI holds the log tails: the new session writes into the same ones, emptied.
        for tail in [&previous.tail, &previous.tail2] {
            if let Ok(mut tail) = tail.lock() {
                *tail = crate::sources::worker_proc::LogTail::default();
            }
        }
        self.session.tail = previous.tail.clone();
        self.session.tail2 = previous.tail2.clone();
        let containers = self.snapshot.containers.take();
        let elastic = self.snapshot.elastic.take();
        self.snapshot = fresh_snapshot(&self.session);
        self.snapshot.containers = containers;
        self.snapshot.elastic = elastic;
        self.publish();
        self.setup().await;
        let note = match closed {
            Ok(()) => format!("now drilling {id}; {} closed", previous.run.dir.display()),
            Err(error) => format!("now drilling {id}; closing the last drill: {error}"),
        };
        self.status(note, false);
    }

    /// The last freeze: its verdict is the drill's (`_result.json`, `report.md`), kept
    /// in the snapshot for the words printed after the terminal is given back.
    async fn final_freeze(&mut self) {
        if self.session.baseline.is_none() {
            self.snapshot.final_error = Some(
                "no final freeze: the worker's /metrics was never read, so the drill has no baseline"
                    .into(),
            );
            return;
        }
        match self.session.freeze(true).await {
            Ok((_, verdict)) => {
                self.snapshot.checklist = Some(verdict.clone());
                self.snapshot.final_verdict = Some(verdict);
            }
            Err(error) => {
                self.snapshot.final_error = Some(format!("the final freeze failed: {error}"))
            }
        }
    }

    async fn quit(&mut self, start_es: bool) {
        self.snapshot.busy = Some("finishing: final freeze, stopping the worker …".into());
        self.publish();
        if start_es && self.session.es_stopped {
            let _ = self.session.start_es().await;
        }
        self.final_freeze().await;
        if let Err(error) = self.session.close().await {
            self.snapshot.status = Some((error, true));
        }
        self.snapshot.finished = true;
        self.snapshot.busy = None;
        self.publish();
    }
}

/// Requests of each gate the Faults pane shows.
const GATE_RECENT: usize = 8;

/// How often sources that are down are retried and reachability is probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

async fn next_event(
    events: &mut Option<
        futures::stream::BoxStream<
            'static,
            Result<crate::docker::ContainerEvent, crate::docker::DockerError>,
        >,
    >,
) -> Option<Result<crate::docker::ContainerEvent, crate::docker::DockerError>> {
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}
