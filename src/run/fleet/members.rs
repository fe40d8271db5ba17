//! The fleet's workers: started with their own ids and ports (through the gate),
//! recorded in the fault state file, their pages before and after, stopped.

use std::time::Duration;

use serde_json::json;

use super::{CLAIM, Drill, Member, say};
use crate::sources::metrics::{metrics_url, scrape};
use crate::sources::worker_proc::{LogTail, WorkerProcess, WorkerState};

impl Drill {
    pub(super) async fn start_member(&mut self, n: usize, gate_url: &str) -> Result<(), String> {
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
    pub(super) async fn wait_for_fleet(&mut self, timeout: Duration) -> Result<(), String> {
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

    pub(super) fn take_baselines(&self) -> Result<(), String> {
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

    /// Each worker's last page (the workers still run: their counters are final once
    /// every row settled).
    pub(super) async fn scrape_after(&mut self) {
        for member in self.fleet.iter_mut() {
            if let Ok(page) = scrape(&self.http, &metrics_url(member.metrics_port)).await {
                member.last = Some(page);
            }
        }
    }

    pub(super) fn write_after(&self) -> Result<(), String> {
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

    /// Each worker in the fault state file, so that a cockpit killed with SIGKILL does
    /// not leave the fleet running: the next session stops them (as its own workers).
    pub(super) fn record_worker(&self, process: &WorkerProcess) {
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
    pub(super) fn clear_workers(&self) {
        let state = crate::leftovers::StateFile::beside(&self.profile.snapshots_dir);
        let run_dir = self.run.dir.clone();
        let _ = state.remove(|e| {
            e.owner.run_dir.as_ref() == Some(&run_dir)
                && matches!(e.leftover, crate::leftovers::Leftover::Worker { .. })
        });
    }

    pub(super) async fn stop_fleet(&mut self) {
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
}
