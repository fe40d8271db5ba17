//! Putting the drill's fault in and taking it out, from outside the worker: the
//! compose service of Elasticsearch, the index write block, the fault gates.

use std::time::Duration;

use serde_json::json;

use super::*;

impl Session {
    /// Whether the drill's fault is in force (and must be taken out before leaving).
    pub fn fault_active(&self) -> bool {
        self.es_stopped || self.gate_faulted || self.index_blocked || self.worker_faulted
    }

    /// Puts the drill's fault in, from outside the worker (or, `--inject worker`, notes
    /// that the worker's own switches put it in from its start).
    pub async fn inject(&mut self) -> Result<(), String> {
        if self.inject_in_worker && self.drill.inject != Inject::KillClaimingWorker {
            self.journal(
                "inject",
                json!({"action": "fault in", "by": "the worker's own OUTBOX_EXPERIMENT_* switches, in force since it started"}),
            );
            // Only a one-worker drill whose event cannot end while the switches are on
            // (B) needs them taken out: by replacing its worker.
            self.worker_faulted =
                self.drill.recovers() && self.drill.workers == crate::drill::scenario::Workers::One;
            return Ok(());
        }
        let injected = match self.drill.inject {
            Inject::StopEs => self.stop_es().await,
            Inject::Gate => {
                self.set_gate(GateRole::Elastic, self.drill_gate_fault(), true)
                    .await
            }
            Inject::WriteBlock => self.set_write_block(true).await,
            Inject::Nothing => Ok(()),
            // collector_down's: turned away at connect, each attempt recorded: the drill
            // shows the worker tried to export and could not.
            Inject::CollectorGate => {
                self.set_gate(GateRole::Collector, self.drill_gate_fault(), true)
                    .await
            }
            Inject::KillClaimingWorker => self.kill_claiming_worker().await,
        };
        if injected.is_ok() {
            self.lift_at = self
                .drill
                .lift_after
                .map(|after| tokio::time::Instant::now() + after);
        }
        injected
    }

    /// What the drill's gate does while its fault is in (a file of a gate drill always
    /// names one; `pass` otherwise, which changes nothing).
    fn drill_gate_fault(&self) -> Fault {
        self.drill.gate_fault.clone().unwrap_or(Fault::Pass)
    }

    /// When a fault that is lifted after a while (`… for 5s`) is due to come out:
    /// `None` when it has no such time, or is out already.
    pub fn lift_due_at(&self) -> Option<tokio::time::Instant> {
        self.lift_at.filter(|_| self.fault_active())
    }

    /// Takes a fault that is lifted after a while out once its time has come; says
    /// whether it did (the run and the cockpit call it as they observe).
    pub async fn lift_if_due(&mut self) -> Result<bool, String> {
        match self.lift_due_at() {
            Some(at) if tokio::time::Instant::now() >= at => {
                let after = self.drill.lift_after.unwrap_or_default();
                self.journal(
                    "note",
                    json!({"message": format!("the fault is lifted {} s after it went in, as the drill says", after.as_secs_f64())}),
                );
                self.lift_at = None;
                self.restore().await?;
                self.lifted = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// F's set-up: worker 1's first write waits (far beyond the lease), so it still
    /// holds its claim when it is killed. Not the drill's fault: nothing to restore.
    pub(super) async fn hold_first_write(&mut self) -> Result<(), String> {
        let hold = crate::faults::Fault::Latency {
            min: Duration::from_secs(120),
            max: Duration::from_secs(120),
            ops: crate::faults::Ops::WRITES,
            pick: crate::faults::Pick::First { n: 1 },
        };
        self.set_gate(GateRole::Elastic, hold, false).await
    }

    /// Takes the drill's fault out again (and so a fault with a time no longer waits
    /// for it).
    pub async fn restore(&mut self) -> Result<(), String> {
        self.lift_at = None;
        if self.inject_in_worker && self.drill.inject != Inject::KillClaimingWorker {
            return self.replace_switched_worker().await;
        }
        match self.drill.inject {
            Inject::StopEs => self.start_es().await,
            Inject::Gate => self.set_gate(GateRole::Elastic, Fault::Pass, false).await,
            Inject::WriteBlock => self.set_write_block(false).await,
            Inject::Nothing => Ok(()),
            Inject::CollectorGate => self.set_gate(GateRole::Collector, Fault::Pass, false).await,
            // A kill is not undone: worker 2 carries on.
            Inject::KillClaimingWorker => Ok(()),
        }
    }

    /// An in-worker fault is taken out by stopping worker 1 (SIGTERM: it releases its
    /// leases) and starting a worker without the switches, which carries the drill on;
    /// worker 1's last page stands for it. Only a drill that recovers needs it.
    async fn replace_switched_worker(&mut self) -> Result<(), String> {
        if !self.worker_faulted {
            // Nothing holds the event back: its end state is due now.
            self.fault_restored = true;
            return Ok(());
        }
        const ACTION: &str = "replace worker 1 by one without its fault switches";
        let _ = self.scrape().await;
        let grace = self.profile.tuning.shutdown_grace + Duration::from_secs(1);
        if let Some(worker) = self.worker.as_mut() {
            let state = worker.stop(grace).await;
            self.journal(
                "worker",
                json!({"action": "stop", "worker": 1, "why": "take its in-worker fault switches out", "state": state.to_string()}),
            );
        }
        self.worker1_replaced = true;
        self.start_second_worker().await;
        if let Err(error) = self.wait_for_second_metrics(Duration::from_secs(30)).await {
            return Err(self.action_failed(ACTION, error));
        }
        self.take_second_baseline().await?;
        self.worker_faulted = false;
        self.fault_restored = true;
        self.journal(
            "restore",
            json!({"action": ACTION, "by": "drill-cockpit: SIGTERM to worker 1, worker 2 started without OUTBOX_EXPERIMENT_* switches"}),
        );
        Ok(())
    }

    /// `index.blocks.write` on the drill's index, through the ES API (drill C).
    async fn set_write_block(&mut self, blocked: bool) -> Result<(), String> {
        let url = format!(
            "{}/{}/_settings",
            self.profile.elastic_url, self.profile.elastic_index
        );
        // Crash safety: recorded before it is applied (see session/leftovers.rs).
        if blocked {
            self.record_write_block()?;
        }
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
        if !blocked {
            self.clear_write_block();
        }
        self.journal(
            "index",
            json!({"action": action, "index": self.profile.elastic_index, "by": "drill"}),
        );
        Ok(())
    }

    /// The gate in front of `role`'s service, started on first use (the worker is then
    /// pointed at it when it starts).
    pub(super) async fn open_gate(&mut self, role: GateRole) -> Result<(), String> {
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
        if role == GateRole::Collector {
            // Only the worker's spans go through it, and the worker stops with the
            // session: it stays in for the last freeze (the spans that did not arrive).
            if faulted && !self.collector_refused {
                self.record_collector_stop();
            }
            self.collector_refused = faulted;
        } else {
            if self.gate_faulted && !faulted {
                self.fault_restored = true;
            }
            self.gate_faulted = faulted;
        }
        // A fault that is not the drill's own (F holding worker 1's first write so it
        // still holds its claim when killed) is its set-up: not a moment of the story.
        let by = if faulted || description == "pass" {
            "drill"
        } else {
            "drill set-up"
        };
        self.journal(
            "gate",
            json!({"action": "fault", "fault": description, "for": role.name(), "by": by}),
        );
        Ok(())
    }

    /// What put collector_down's fault in, in words (`_inject_collector.txt`): the
    /// cockpit's own gate, no command. Upstream's `_inject_jaeger_stop.exitcode.txt`
    /// is the exit code of `compose stop jaeger`; no command ran here, so no exit code
    /// is written (ours are graded by `collector_refused`, not by an exit code).
    fn record_collector_stop(&mut self) {
        let name = "_inject_collector.txt";
        let how = format!(
            "the cockpit's collector gate refused OTLP exports (no command ran): drill-cockpit's fault gate in front of the trace collector ({}) hangs up on every connection; the worker's OTLP endpoint is the gate. Jaeger's own container was not stopped.\n",
            self.profile.otlp_endpoint
        );
        if let Err(error) = self.run.write_new(name, how.as_bytes()) {
            self.action_failed(&format!("write {name}"), error.to_string());
        }
    }

    pub async fn stop_es(&mut self) -> Result<(), String> {
        // Crash safety: recorded before it is applied (see session/leftovers.rs).
        self.record_es_stop()?;
        let stopped = match self.platform() {
            Some(platform) => platform.stop(&self.profile.es_service, 10).await,
            None => Err(NO_DOCKER.to_string()),
        };
        if let Err(error) = stopped {
            // Docker said it did not stop: nothing to restore after a crash.
            self.clear_es_stop();
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
        let started = match self.platform() {
            Some(platform) => platform.start(&self.profile.es_service).await,
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
        self.clear_es_stop();
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
}
