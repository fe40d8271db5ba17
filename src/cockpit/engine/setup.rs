//! Start-up: Docker (its event stream), the database, the worker, the drill's index;
//! each step's failure shown with its fix, never fatal.

use super::*;

impl Engine {
    pub(super) fn docker_events(&self) -> Option<crate::platform::Changes> {
        self.session
            .platform()
            .and_then(|platform| platform.watch())
    }

    pub(super) async fn setup(&mut self) {
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
    pub(super) async fn setup_after_docker(&mut self) {
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

    pub(super) async fn compose_up(&mut self) {
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
}
