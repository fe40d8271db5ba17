//! The keys' actions: one command at a time, its outcome in the status bar; switching
//! drills; the last freeze and the quit.

use super::*;

impl Engine {
    pub(super) async fn handle(&mut self, command: Command) {
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
                        crate::cockpit::tally::Tally::of(&verdict).words()
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
        self.after_action().await;
    }

    /// A fault that is lifted after a while (`… for 5s`) taken out on time, and the
    /// screen brought up to date as after `X`.
    pub(super) async fn lift_if_due(&mut self) {
        match self.session.lift_if_due().await {
            Ok(true) => {
                self.status(
                    format!("fault out on time: {}", self.session.drill.restore),
                    false,
                );
                self.after_action().await;
            }
            Ok(false) => {}
            Err(error) => self.status(error, true),
        }
    }

    /// What every action may have changed, as the panes show it.
    async fn after_action(&mut self) {
        self.refresh_moments();
        self.snapshot.next_event = self.session.next_event_words();
        self.snapshot.fault_in = self.session.fault_active() || self.session.collector_refused;
        self.snapshot.worker2 = self.worker2();
        self.snapshot.replicas = self.replicas();
        self.snapshot.gates = self.gates();
        self.snapshot.es_stopped = self.session.es_stopped;
        self.snapshot.failed_actions = self.session.failed_actions.clone();
        self.refresh_containers().await;
    }

    /// Ends this drill as `q` would (its fault taken out first, so the next drill starts
    /// on a healthy stack) and starts `id` in a new run directory, on the same screen.
    pub(super) async fn switch_scenario(&mut self, id: &'static str) {
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
        if let Ok(mut tails) = previous.fleet_tails.lock() {
            tails.clear();
        }
        self.session.fleet_tails = previous.fleet_tails.clone();
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
    pub(super) async fn final_freeze(&mut self) {
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

    pub(super) async fn quit(&mut self, start_es: bool) {
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
