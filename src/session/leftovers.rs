//! The session's side of [`crate::leftovers`]: each fault put into a system outside
//! the process and each worker recorded in the state file before it is applied (and
//! cleared once restored); at start, what a dead session left is restored, said and
//! journaled (`leftover`).

use serde_json::json;

use super::*;
use crate::leftovers::restore::{self, Context, Restored};
use crate::leftovers::{Entry, Leftover, Owner, StateFile, procs, url_without_password};

impl Session {
    fn state_file(&self) -> StateFile {
        StateFile::beside(&self.profile.snapshots_dir)
    }

    fn owner(&self) -> Owner {
        Owner::session(&self.run.dir)
    }

    /// This drill's write block, as the state file holds it (no password).
    fn write_block_leftover(&self) -> Leftover {
        Leftover::EsWriteBlock {
            url: url_without_password(&self.profile.elastic_url),
            index: self.profile.elastic_index.clone(),
        }
    }

    fn es_stopped_leftover(&self) -> Leftover {
        Leftover::EsStopped {
            project: self.profile.compose_project.clone(),
            service: self.profile.es_service.clone(),
            compose_file: self.profile.compose_file.clone(),
            engine: self
                .profile
                .docker_engine
                .as_ref()
                .ok()
                .map(|engine| engine.host.clone()),
        }
    }

    /// Records `leftover` before it is applied; an error (journaled as the failed
    /// `action`) means it must not be applied: nobody could take it out after a crash.
    fn record(&mut self, leftover: Leftover, action: &str) -> Result<(), String> {
        // The sandbox's services live in this process: their faults die with it.
        if self.profile.sandbox.is_some() {
            return Ok(());
        }
        let entry = Entry::new(self.owner(), leftover);
        self.state_file().add(entry).map_err(|error| {
            self.action_failed(
                action,
                format!("not applied, it could not be recorded first: {error}"),
            )
        })
    }

    /// Clears this session's entries equal to `leftover` (it was restored).
    fn clear(&mut self, leftover: &Leftover) {
        let owner = self.owner();
        let cleared = self
            .state_file()
            .remove(|e| e.owner.run_dir == owner.run_dir && &e.leftover == leftover);
        if let Err(error) = cleared {
            self.action_failed("clear a restored fault from the state file", error);
        }
    }

    pub(super) fn record_write_block(&mut self) -> Result<(), String> {
        self.record(self.write_block_leftover(), "set index.blocks.write=true")
    }

    pub(super) fn clear_write_block(&mut self) {
        self.clear(&self.write_block_leftover());
    }

    pub(super) fn record_es_stop(&mut self) -> Result<(), String> {
        let action = format!("stop {}", self.profile.es_service);
        self.record(self.es_stopped_leftover(), &action)
    }

    pub(super) fn clear_es_stop(&mut self) {
        self.clear(&self.es_stopped_leftover());
    }

    /// Records a worker just started (its pid, start time and command line as `/proc`
    /// shows them), so a start after a crash can tell it is still ours.
    pub(super) fn record_worker(&mut self, process: &WorkerProcess) {
        let Some(pid) = process.pid() else {
            return;
        };
        let leftover = Leftover::Worker {
            pid,
            started: procs::start_ticks(pid),
            cmdline: procs::cmdline(pid).unwrap_or_else(|| process.command.clone()),
        };
        if let Err(error) = self.state_file().add(Entry::new(self.owner(), leftover)) {
            self.action_failed("record the worker in the state file", error);
        }
    }

    /// Clears this session's workers from the state file (they were stopped).
    pub(super) fn clear_workers(&mut self) {
        let owner = self.owner();
        let cleared = self.state_file().remove(|e| {
            e.owner.run_dir == owner.run_dir && matches!(e.leftover, Leftover::Worker { .. })
        });
        if let Err(error) = cleared {
            self.action_failed("clear the stopped workers from the state file", error);
        }
    }

    /// Once per session, before the drill touches anything: restores what sessions
    /// that are gone left behind (a leftover of a live session is left alone). Returns
    /// what it said, line by line (`run` prints it; everything is journaled).
    pub async fn sweep_leftovers(&mut self) -> Vec<String> {
        if std::mem::replace(&mut self.leftovers_swept, true) {
            return Vec::new();
        }
        let ours = self.owner();
        // Adopted under the lock: a session starting beside us sees them as ours (alive).
        let adopted = self.state_file().update(|entries| {
            let mut found = Vec::new();
            for entry in entries.iter_mut().filter(|e| !e.owner.alive()) {
                found.push(entry.clone());
                entry.owner = ours.clone();
            }
            found
        });
        match adopted {
            Ok(found) => self.restore_entries(found, false).await,
            Err(error) => {
                let said = format!("could not look for leftovers of earlier sessions: {error}");
                self.action_failed("look for leftovers", said.clone());
                vec![said]
            }
        }
    }

    /// Restores what this session recorded and has not taken out itself (a signal
    /// between applying a fault and remembering it): the last line of defence of `run`.
    pub async fn restore_recorded(&mut self) -> Vec<String> {
        let run_dir = self.owner().run_dir;
        let own = self.state_file().entries().map(|entries| {
            entries
                .into_iter()
                .filter(|e| e.owner.run_dir == run_dir)
                .filter(|e| !matches!(e.leftover, Leftover::Worker { .. }))
                .collect::<Vec<_>>()
        });
        match own {
            Ok(own) => self.restore_entries(own, true).await,
            Err(error) => vec![format!("could not read the fault state file: {error}")],
        }
    }

    /// Restores each entry, says and journals it; a restored entry is cleared, one that
    /// could not be restored stays for the next start.
    async fn restore_entries(&mut self, entries: Vec<Entry>, own: bool) -> Vec<String> {
        let mut said = Vec::new();
        for entry in entries {
            let who = if own {
                "this run".to_string()
            } else {
                entry.owner.describe()
            };
            let found = format!(
                "{who} left {}: {}",
                entry.leftover.describe(),
                restore::intent(&entry.leftover)
            );
            let context = Context {
                http: &self.http,
                elastic_url: &self.profile.elastic_url,
                docker_engine: &self.profile.docker_engine,
            };
            let restored = restore::restore(&entry.leftover, &context).await;
            let (result, done) = match &restored {
                Restored::Done(words) => (words.clone(), true),
                // Nothing to do is not news (a worker that died with its session).
                Restored::Nothing(words) => (words.clone(), true),
                Restored::Failed(error) => (format!("could not: {error}"), false),
            };
            self.journal(
                "leftover",
                json!({"found": entry.leftover.describe(), "owner_pid": entry.owner.pid, "owner_run": entry.owner.run_dir, "recorded_at": entry.recorded_at, "action": restore::intent(&entry.leftover), "result": result, "restored": done}),
            );
            if !done {
                self.action_failed(&found, result.clone());
            }
            if !matches!(restored, Restored::Nothing(_)) {
                said.push(format!("{found}: {result}"));
            }
            if done && let Err(error) = self.state_file().remove(|e| e.id == entry.id) {
                said.push(format!("could not clear it from the state file: {error}"));
            }
        }
        said
    }
}
