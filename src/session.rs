//! One drill session: the run directory, the worker under drill, and the actions and
//! observations that both the cockpit and the headless `run` use. Every action is
//! journaled; every source that fails is reported with its error, never skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Profile;
use crate::config::redact::Redactor;
use crate::db::outbox::{NewEvent, Op, insert_event};
use crate::docker::ComposeDocker;
use crate::drill::scenario::{Inject, Scenario};
use crate::drill::{CheckStatus, Missing, Observations, Verdict, grade};
use crate::evidence::write::{RunWriter, WriteError, timestamp};
use crate::evidence::{manifest, report, svg};
use crate::faults::{Fault, FaultGate, Ops, Pick};
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
    pub baseline: Option<Scrape>,
    pub latest: Option<Scrape>,
    pub inserted: Vec<Uuid>,
    pub es_stopped: bool,
    /// The drill's fault was put in and later taken out again (recovery is now due).
    pub fault_restored: bool,
    /// The fault gate between the worker and ES, for drills that inject through it.
    pub gate: Option<FaultGate>,
    /// The gate's fault is in force.
    pub gate_faulted: bool,
    /// The gate in front of the trace collector (collector_down).
    pub collector_gate: Option<FaultGate>,
    /// The drill's index refuses writes (`index.blocks.write=true`).
    pub index_blocked: bool,
    /// The entity of the last event inserted.
    pub last_entity: Option<Uuid>,
    last_statuses: BTreeMap<&'static str, CheckStatus>,
    last_counters: Option<[f64; 4]>,
    /// How long the last freeze took from first capture to last file, in ms.
    pub last_freeze_ms: Option<u64>,
    /// Why the database cannot take the drill's writes (a missing table or column).
    pub schema_problem: Option<String>,
    /// Actions that failed, newest last (bounded): shown in the checklist and report.
    pub failed_actions: Vec<FailedAction>,
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

/// Every secret a run may meet: the database password, every `*PASSWORD*`/`*TOKEN*`/
/// `*SECRET*` variable, and the password of every URL setting, however it was set.
fn run_redactor(profile: &Profile) -> Redactor {
    Redactor::from_process(&profile.database_url).with_urls(&[
        &profile.elastic_url,
        &profile.jaeger_url,
        &profile.otlp_endpoint,
    ])
}

/// `_version` of an ES document answer (`found: false` has none).
pub fn document_version(document: &Value) -> Option<i64> {
    document
        .get("found")
        .and_then(Value::as_bool)
        .filter(|found| *found)
        .and(document.get("_version"))
        .and_then(Value::as_i64)
}

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

/// Drill B's fault: every write answered 429 by the gate (as upstream's `EVERY_N=1`).
fn gate_429() -> Fault {
    Fault::Abort {
        status: 429,
        ops: Ops::WRITES,
        pick: Pick::All,
        retry_after_seconds: None,
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
            baseline: None,
            latest: None,
            inserted: Vec::new(),
            es_stopped: false,
            fault_restored: false,
            gate: None,
            gate_faulted: false,
            collector_gate: None,
            index_blocked: false,
            last_entity: None,
            last_statuses: BTreeMap::new(),
            last_counters: None,
            last_freeze_ms: None,
            schema_problem: None,
            failed_actions: Vec::new(),
            profile,
        };
        session.write_recipe()?;
        Ok(session)
    }

    fn write_recipe(&self) -> Result<(), WriteError> {
        let recipe = json!({
            "tool": "drill-cockpit",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": self.scenario,
            "run_id": self.run.run_id,
            "created_at": chrono::Utc::now().to_rfc3339(),
            "service": self.profile.service_name,
            "inject": match self.drill.inject {
                Inject::StopEs => json!({"kind": "es_down", "compose": {"file": self.profile.compose_file, "project": self.profile.compose_project, "service": self.profile.es_service, "action": "stop"}}),
                Inject::Gate429 => json!({"kind": "es_429", "by": "drill-cockpit fault gate", "fault": gate_429().describe(), "upstream": self.profile.elastic_url}),
                Inject::WriteBlock => json!({"kind": "es_write_block", "index": self.profile.elastic_index, "settings": {"index": {"blocks": {"write": true}}}}),
                Inject::CollectorRefused => json!({"kind": "collector_down", "by": "drill-cockpit fault gate in front of the OTLP endpoint", "fault": "refuse connections", "upstream": self.profile.otlp_endpoint}),
                Inject::Nothing => json!({"kind": "none", "events": std::iter::once(self.drill.trigger).chain(self.drill.then.iter().copied()).map(|op| op.as_str()).collect::<Vec<_>>()}),
            },
            "worker": {"command": crate::sources::worker_proc::worker_command(&self.profile), "metrics_port": self.profile.metrics_port},
            "trigger": {"op": self.drill.trigger.as_str()},
            "profile": self.profile.redacted_json(),
        });
        self.run.write_json("_recipe.json", &recipe).map(|_| ())
    }

    pub fn journal(&self, kind: &str, detail: Value) {
        // The journal is evidence, but a full disk must not stop the drill itself.
        let _ = self.run.journal(kind, detail);
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

    /// Connects to Postgres; migrates it when the profile marks it as ours.
    pub async fn connect_db(&mut self) -> Result<(), String> {
        // A short acquire timeout: a database that went away is reported within a
        // second, not after the default wait, and the cockpit keeps drawing.
        let pool = crate::db::connect_with_timeout(
            &self.profile.sqlx_database_url(),
            &self.profile.redacted_database_url(),
            4,
            Duration::from_millis(750),
        )
        .await
        .map_err(error_text)?;
        if self.profile.database_is_ours {
            crate::db::migrate::apply(&pool).await.map_err(|e| {
                format!(
                    "migrating {} failed: {e}",
                    self.profile.redacted_database_url()
                )
            })?;
        }
        // Reads still work on a database that lacks a column; writes are refused, naming it.
        let checked = crate::db::schema::check(&pool).await;
        self.pool = Some(pool);
        match checked {
            Ok(()) => Ok(()),
            Err(error) => {
                let text = format!("{}: {error}", self.profile.redacted_database_url());
                self.schema_problem = Some(text.clone());
                Err(text)
            }
        }
    }

    pub async fn connect_docker(&mut self) -> Result<(), String> {
        let docker = ComposeDocker::connect(&self.profile.compose_project)
            .await
            .map_err(error_text)?;
        self.docker = Some(docker);
        Ok(())
    }

    /// Creates the index when it is missing (a drill on a fresh stack).
    pub async fn ensure_index(&self) -> Result<(), String> {
        let url = format!(
            "{}/{}",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let exists = self.http.head(&url).send().await.map_err(|e| {
            format!(
                "cannot reach Elasticsearch at {}: {e}",
                self.profile.elastic_url
            )
        })?;
        if exists.status().is_success() {
            return Ok(());
        }
        let created = self
            .http
            .put(&url)
            .json(&json!({}))
            .send()
            .await
            .map_err(|e| format!("creating index {url}: {e}"))?;
        if created.status().is_success() || created.status().as_u16() == 400 {
            Ok(())
        } else {
            Err(format!(
                "creating index {url} answered HTTP {}",
                created.status()
            ))
        }
    }

    pub async fn start_worker(&mut self) {
        // A drill through the gate: the worker's Elasticsearch is the gate.
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
        let process = WorkerProcess::spawn(
            &self.profile,
            &overrides,
            &self.run.log_path(),
            self.run_redactor(),
            self.tail.clone(),
        )
        .await;
        let state = process
            .state
            .lock()
            .map(|s| s.to_string())
            .unwrap_or_default();
        self.journal(
            "worker",
            json!({"action": "start", "command": process.command.join(" "), "state": state}),
        );
        self.worker = Some(process);
    }

    fn run_redactor(&self) -> Redactor {
        run_redactor(&self.profile)
    }

    pub fn worker_state(&mut self) -> Option<WorkerState> {
        self.worker.as_mut().map(|w| w.poll())
    }

    pub async fn stop_worker(&mut self) {
        let grace = self.profile.tuning.shutdown_grace + Duration::from_secs(1);
        if let Some(worker) = self.worker.as_mut() {
            let state = worker.stop(grace).await;
            self.journal(
                "worker",
                json!({"action": "stop", "state": format!("{state:?}")}),
            );
        }
    }

    pub async fn kill_worker(&mut self) {
        if let Some(worker) = self.worker.as_mut() {
            let state = worker.kill().await;
            self.journal(
                "worker",
                json!({"action": "kill -9", "state": format!("{state:?}")}),
            );
        }
    }

    pub fn metrics_url(&self) -> String {
        metrics_url(self.profile.metrics_port)
    }

    pub async fn scrape(&mut self) -> Result<Scrape, String> {
        let scraped = scrape(&self.http, &self.metrics_url())
            .await
            .map_err(error_text)?;
        self.latest = Some(scraped.clone());
        self.journal_counters(&scraped.samples);
        Ok(scraped)
    }

    fn journal_counters(&mut self, samples: &Samples) {
        let values = [
            samples.sum("outbox_retry_scheduled_total", &[]),
            samples.sum("outbox_failed_total", &[]),
            samples.sum("outbox_terminal_failed_total", &[]),
            samples.sum("outbox_processed_total", &[]),
        ];
        if self.last_counters != Some(values) {
            self.last_counters = Some(values);
            self.journal("counters", json!({"retry_scheduled": values[0], "failed": values[1], "terminal_failed": values[2], "processed": values[3]}));
        }
    }

    /// Waits until `/metrics` answers, or the worker exits, or `timeout` passes.
    pub async fn wait_for_metrics(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.scrape().await {
                Ok(_) => return Ok(()),
                Err(error) => {
                    match self.worker_state() {
                        Some(WorkerState::Exited { code, signal }) => {
                            return Err(format!(
                                "the worker exited (code {code:?}, signal {signal:?}) before serving /metrics; see its log {}",
                                self.run.log_path().display()
                            ));
                        }
                        Some(WorkerState::FailedToStart { message }) => return Err(message),
                        _ => {}
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(error);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Takes `metrics-before.txt`: the drill's baseline.
    pub async fn take_baseline(&mut self) -> Result<(), String> {
        let scraped = self.scrape().await?;
        self.run
            .write_new("_metrics/metrics-before.txt", scraped.raw.as_bytes())
            .map_err(error_text)?;
        self.journal(
            "baseline",
            json!({"metrics": "_metrics/metrics-before.txt"}),
        );
        self.baseline = Some(scraped);
        Ok(())
    }

    /// Whether the drill's fault is in force (and must be taken out before leaving).
    pub fn fault_active(&self) -> bool {
        self.es_stopped || self.gate_faulted || self.index_blocked
    }

    /// Puts the drill's fault in, from outside the worker.
    pub async fn inject(&mut self) -> Result<(), String> {
        match self.drill.inject {
            Inject::StopEs => self.stop_es().await,
            Inject::Gate429 => self.set_gate(GateRole::Elastic, gate_429(), true).await,
            Inject::WriteBlock => self.set_write_block(true).await,
            Inject::Nothing => Ok(()),
            Inject::CollectorRefused => {
                self.set_gate(GateRole::Collector, Fault::Refuse, true)
                    .await
            }
        }
    }

    /// Takes the drill's fault out again.
    pub async fn restore(&mut self) -> Result<(), String> {
        match self.drill.inject {
            Inject::StopEs => self.start_es().await,
            Inject::Gate429 => self.set_gate(GateRole::Elastic, Fault::Pass, false).await,
            Inject::WriteBlock => self.set_write_block(false).await,
            Inject::Nothing => Ok(()),
            Inject::CollectorRefused => {
                self.set_gate(GateRole::Collector, Fault::Pass, false).await
            }
        }
    }

    /// `index.blocks.write` on the drill's index, through the ES API (drill C).
    async fn set_write_block(&mut self, blocked: bool) -> Result<(), String> {
        let url = format!(
            "{}/{}/_settings",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let answer = self
            .http
            .put(&url)
            .json(&json!({"index": {"blocks": {"write": blocked}}}))
            .send()
            .await;
        let result = match answer {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => Err(format!("{url} answered HTTP {}", answer.status().as_u16())),
            Err(error) => Err(format!(
                "cannot reach Elasticsearch at {url}: {}",
                crate::sources::metrics::error_chain(&error)
            )),
        };
        let action = format!("set index.blocks.write={blocked}");
        if let Err(error) = result {
            return Err(self.action_failed(&action, error));
        }
        if self.index_blocked && !blocked {
            self.fault_restored = true;
        }
        self.index_blocked = blocked;
        self.journal(
            "index",
            json!({"action": action, "index": self.profile.elastic_index, "by": "drill"}),
        );
        Ok(())
    }

    /// The gate in front of `role`'s service, started on first use (the worker is then
    /// pointed at it when it starts).
    async fn open_gate(&mut self, role: GateRole) -> Result<(), String> {
        if self.gate_of(role).is_some() {
            return Ok(());
        }
        let upstream = match role {
            GateRole::Elastic => self.profile.elastic_url.clone(),
            GateRole::Collector => self.profile.otlp_endpoint.clone(),
        };
        match FaultGate::start(([127, 0, 0, 1], 0).into(), &upstream).await {
            Ok(gate) => {
                self.journal(
                    "gate",
                    json!({"action": "listen", "url": gate.url(), "upstream": gate.upstream(), "for": role.name()}),
                );
                *self.gate_of(role) = Some(gate);
                Ok(())
            }
            Err(error) => Err(self.action_failed(
                &format!("start the fault gate for the {}", role.name()),
                format!("cannot listen on 127.0.0.1: {error}"),
            )),
        }
    }

    fn gate_of(&mut self, role: GateRole) -> &mut Option<FaultGate> {
        match role {
            GateRole::Elastic => &mut self.gate,
            GateRole::Collector => &mut self.collector_gate,
        }
    }

    /// Puts `fault` in force on `role`'s gate; `faulted` says whether that is the drill's
    /// fault (taking it out makes recovery due).
    async fn set_gate(
        &mut self,
        role: GateRole,
        fault: Fault,
        faulted: bool,
    ) -> Result<(), String> {
        let description = fault.describe();
        self.open_gate(role).await?;
        let switched = match self.gate_of(role) {
            Some(gate) => gate
                .set_fault(fault)
                .await
                .map_err(|e| format!("the fault gate could not switch to `{description}`: {e}")),
            None => Err("the fault gate is not running (see the failed actions)".to_string()),
        };
        if let Err(error) = switched {
            return Err(self.action_failed(&format!("gate: {description}"), error));
        }
        if self.gate_faulted && !faulted {
            self.fault_restored = true;
        }
        self.gate_faulted = faulted;
        self.journal(
            "gate",
            json!({"action": "fault", "fault": description, "for": role.name(), "by": "drill"}),
        );
        Ok(())
    }

    pub async fn stop_es(&mut self) -> Result<(), String> {
        let stopped = match self.docker.as_ref() {
            Some(docker) => docker
                .stop_service(&self.profile.es_service, 10)
                .await
                .map_err(error_text),
            None => Err(NO_DOCKER.to_string()),
        };
        if let Err(error) = stopped {
            let action = format!("stop {}", self.profile.es_service);
            return Err(self.action_failed(&action, error));
        }
        self.es_stopped = true;
        self.journal(
            "container",
            json!({"service": self.profile.es_service, "action": "stop", "by": "drill"}),
        );
        Ok(())
    }

    pub async fn start_es(&mut self) -> Result<(), String> {
        let started = match self.docker.as_ref() {
            Some(docker) => docker
                .start_service(&self.profile.es_service)
                .await
                .map_err(error_text),
            None => Err(NO_DOCKER.to_string()),
        };
        if let Err(error) = started {
            let action = format!("start {}", self.profile.es_service);
            return Err(self.action_failed(&action, error));
        }
        if self.es_stopped {
            self.fault_restored = true;
        }
        self.es_stopped = false;
        self.journal(
            "container",
            json!({"service": self.profile.es_service, "action": "start", "by": "drill"}),
        );
        Ok(())
    }

    /// Waits until Elasticsearch answers HTTP again after a start.
    pub async fn wait_for_es(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self
                .http
                .get(&self.profile.elastic_url)
                .send()
                .await
                .is_ok()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub async fn insert(&mut self, op: Op) -> Result<Uuid, String> {
        self.insert_for(op, Uuid::new_v4(), None).await
    }

    /// The drill's `n`th event (0 = its trigger): of the entity of the previous one after
    /// the first, at the scenario's version when it names one.
    pub async fn insert_nth(&mut self, n: usize, op: Op) -> Result<Uuid, String> {
        let entity = match (n, self.last_entity) {
            (0, _) | (_, None) => Uuid::new_v4(),
            (_, Some(entity)) => entity,
        };
        let version = self.drill.versions.get(n).copied();
        self.insert_for(op, entity, version).await
    }

    async fn insert_for(
        &mut self,
        op: Op,
        entity_id: Uuid,
        version: Option<i64>,
    ) -> Result<Uuid, String> {
        let event = NewEvent {
            op,
            entity_id,
            version,
            traceparent: None,
        };
        let inserted = match (&self.pool, &self.schema_problem) {
            (None, _) => {
                Err("the database is not connected: see the Outbox pane for why".to_string())
            }
            (Some(_), Some(problem)) => Err(format!("the insert was not tried: {problem}")),
            (Some(pool), None) => insert_event(pool, &event)
                .await
                .map_err(|e| crate::db::schema::explain("the insert", &e)),
        };
        let id = match inserted {
            Ok(id) => id,
            Err(error) => {
                let action = format!("insert {} event", op.as_str());
                return Err(self.action_failed(&action, error));
            }
        };
        self.inserted.push(id);
        self.last_entity = Some(entity_id);
        self.journal("insert", json!({"op": op.as_str(), "outbox_event_id": id.to_string(), "entity_id": event.entity_id.to_string()}));
        Ok(id)
    }

    pub fn event_under_drill(&self) -> Option<Uuid> {
        self.inserted.last().copied()
    }

    /// Jaeger: the event's traces, then its claim batch's.
    pub async fn find_traces(&self, log: &[String]) -> TraceFindings {
        let Some(event) = self.event_under_drill() else {
            return TraceFindings::default();
        };
        let event_traces = self
            .jaeger
            .find(&event_query(&event.to_string(), TRACE_LOOKBACK))
            .await
            .map(|f| f.traces)
            .map_err(error_text);
        let partial = Observations {
            event_id: Some(event.to_string()),
            traces_by_event: event_traces.as_ref().ok().cloned(),
            log: Some(log.to_vec()),
            ..Observations::default()
        };
        let batch_id = partial.claim_batch_id();
        let batch_traces = match &batch_id {
            Some(id) => Some(
                self.jaeger
                    .find(&batch_query(id, TRACE_LOOKBACK))
                    .await
                    .map(|f| f.traces)
                    .map_err(error_text),
            ),
            None => None,
        };
        TraceFindings {
            event_traces: Some(event_traces),
            batch_id,
            batch_traces,
        }
    }

    pub async fn event_status(&self) -> Option<String> {
        self.event_state().await.map(|(status, _)| status)
    }

    /// The drilled event's status and `error_reason`.
    pub async fn event_state(&self) -> Option<(String, Option<String>)> {
        let pool = self.pool.as_ref()?;
        let id = self.event_under_drill()?;
        crate::db::outbox::rows_by_id(pool, &[id])
            .await
            .ok()?
            .into_iter()
            .next()
            .map(|row| (row.status, row.error_reason))
    }

    /// Whether the event's state decides the final check now: after the fault was taken
    /// out for a transient drill, at any time for one whose event must end failed.
    pub fn end_state_due(&self) -> bool {
        self.fault_restored || !self.drill.recovers()
    }

    /// The worker's log lines the checks and the report use (redacted): kept as the
    /// output is captured, so grading never re-reads the whole log file (`verify`
    /// grades a finished run from the file itself).
    pub fn log_lines(&self) -> Vec<String> {
        self.tail
            .lock()
            .map(|tail| tail.key_lines())
            .unwrap_or_default()
    }

    /// Everything the checks look at, as of now.
    pub async fn observe(&mut self) -> Observations {
        let _ = self.scrape().await;
        let log = self.log_lines();
        let findings = self.find_traces(&log).await;
        let (status, reason) = if self.end_state_due() {
            self.event_state().await.unzip()
        } else {
            (None, None)
        };
        Observations {
            metrics_before: self.baseline.as_ref().map(|s| s.samples.clone()),
            metrics_after: self.latest.as_ref().map(|s| s.samples.clone()),
            log: Some(log),
            event_id: self.event_under_drill().map(|id| id.to_string()),
            traces_by_event: findings.event_traces.and_then(Result::ok),
            traces_by_batch: findings.batch_traces.and_then(Result::ok),
            status_after_recovery: status,
            event_reason: reason.flatten(),
            document_version: self
                .entity_document()
                .await
                .ok()
                .as_ref()
                .and_then(document_version),
        }
    }

    /// The ES document of the drilled entity, as ES answers it (drills that check the
    /// version a document ends at; `Err` for the others or when ES cannot be asked).
    async fn entity_document(&self) -> Result<Value, String> {
        let (Some(_), Some(entity)) = (self.drill.document_version, self.last_entity) else {
            return Err("this drill does not read documents".into());
        };
        let url = format!(
            "{}/{}/_doc/{entity}",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let answer = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| crate::sources::metrics::error_chain(&e))?;
        answer
            .json()
            .await
            .map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// Grades and journals every check whose status changed.
    pub fn grade(&mut self, obs: &Observations, mode: Missing) -> Verdict {
        let verdict = grade(self.drill, obs, mode);
        for check in &verdict.checks {
            if self.last_statuses.get(check.id) != Some(&check.status) {
                self.last_statuses.insert(check.id, check.status);
                if matches!(check.status, CheckStatus::Passed | CheckStatus::Failed) {
                    self.journal("check", json!({"id": check.id, "status": check.status.label().to_lowercase(), "observed": check.observed}));
                }
            }
        }
        verdict
    }

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
        let log = self.log_lines();
        let metrics_url = self.metrics_url();
        let http = self.http.clone();

        let (metrics, services, operations, findings, containers, outbox) = tokio::join!(
            within(async { scrape(&http, &metrics_url).await.map_err(error_text) }),
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
        let metrics = metrics.unwrap_or_else(|_| Err(timeout("/metrics")));
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

        if let Ok(scraped) = &metrics {
            self.latest = Some(scraped.clone());
        }
        let observations = Observations {
            metrics_before: self.baseline.as_ref().map(|s| s.samples.clone()),
            metrics_after: metrics.as_ref().ok().map(|s| s.samples.clone()),
            log: Some(log),
            event_id: event.map(|id| id.to_string()),
            traces_by_event,
            traces_by_batch,
            status_after_recovery,
            event_reason,
            document_version: document.as_ref().and_then(document_version),
        };
        let verdict = self.grade(
            &observations,
            if last {
                Missing::Failed
            } else {
                Missing::Pending
            },
        );
        let capture_ms = capture_started.elapsed().as_millis() as u64;
        // The report and the SVG show this freeze too, so its mark goes in first;
        // its total time is journaled once the files are in place.
        self.journal(
            "freeze",
            json!({"label": ts, "final": last, "files": files.len(), "capture_ms": capture_ms}),
        );
        let timeline = self.timeline();
        let run_dir = self.run.dir.display().to_string();
        let suffix = if last {
            String::new()
        } else {
            format!("-{ts}")
        };
        files.push((
            format!("_result{suffix}.json"),
            format!("{:#}", verdict.result_json(&run_dir)).into_bytes(),
        ));
        files.push((
            format!("report{suffix}.md"),
            report::render(
                &self.run.run_id,
                &verdict,
                &observations,
                self.jaeger.base(),
                &timeline,
            )
            .into_bytes(),
        ));
        files.push((
            format!("timeline{suffix}.svg"),
            svg::render(
                &format!("{} — {}", self.scenario, self.run.run_id),
                &timeline,
            )
            .into_bytes(),
        ));
        if last && let Some(event) = event {
            files.push((
                "_outbox_event_id.txt".into(),
                format!("{event}\n").into_bytes(),
            ));
        }
        // Each file is synced to disk: do it off the async workers.
        let run = self.run.clone();
        let label = ts.clone();
        tokio::task::spawn_blocking(move || run.freeze(&label, &files))
            .await
            .map_err(|e| format!("the freeze task failed: {e}"))?
            .map_err(error_text)?;
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

    /// Size and sha256 of every file of the run. Hashing reads every file (the log may
    /// be large): off the async workers.
    async fn listing(&self) -> Result<Value, String> {
        let run_dir = self.run.dir.clone();
        tokio::task::spawn_blocking(move || manifest::manifest(&run_dir, &[]))
            .await
            .map_err(|e| format!("computing the manifest failed: {e}"))
    }

    /// Ends the session: the worker stopped (its last lines are in the log), the journal's
    /// last line written, then `manifest.json` — the last word on every file's content,
    /// which `verify` checks — and the run's lock released.
    pub async fn close(&mut self) -> Result<(), String> {
        self.stop_worker().await;
        if let Some(worker) = self.worker.as_mut()
            && !matches!(worker.poll(), WorkerState::Running { .. })
        {
            // Its last lines may still be in the pipes: the log is complete first.
            worker.drained(Duration::from_secs(10)).await;
        }
        self.journal("closed", json!({"run_id": self.run.run_id}));
        let written = match self.listing().await {
            Ok(mut listing) => {
                listing["tool"] = json!("drill-cockpit");
                listing["run_id"] = json!(self.run.run_id);
                listing["scenario"] = json!(self.scenario);
                self.run
                    .write_json("manifest.json", &listing)
                    .map(|_| ())
                    .map_err(|e| format!("writing manifest.json failed: {e}"))
            }
            Err(error) => Err(error),
        };
        self.run.release();
        written
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
        let worker = self.worker.as_ref().map(|w| {
            json!({
                "command": w.command.join(" "),
                "status": w.state.lock().ok().map(|s| s.clone()),
                "summary": w.state.lock().map(|s| s.to_string()).unwrap_or_default(),
            })
        });
        match &self.docker {
            Some(docker) => match docker.services().await {
                Ok(services) => {
                    json!({"available": true, "project": docker.project(), "services": services, "worker": worker})
                }
                Err(error) => {
                    json!({"available": false, "error": error.to_string(), "worker": worker})
                }
            },
            None => {
                json!({"available": false, "error": "Docker is not connected", "worker": worker})
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
                json!({"available": true, "fault_restored": self.fault_restored, "summary": summary, "rows": rows})
            }
            (Err(error), _) | (_, Err(error)) => {
                json!({"available": false, "error": error.to_string()})
            }
        }
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
