//! Docker, limited to the services of one compose project: the cockpit may stop and
//! start `es` of *its* project and never touches any other container. Containers are
//! found by compose's labels, so a stack started by `docker compose` (or by a test
//! that labels its containers the same way) is recognised.

pub mod compose;
pub mod contexts;
pub mod engine;

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    EventsOptions, InspectContainerOptions, ListContainersOptions, StartContainerOptions,
    StopContainerOptions,
};
use futures::{Stream, StreamExt};
use serde::Serialize;

pub use engine::{DockerEnv, Engine, EngineError, EngineOrigin};

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach Docker at {engine}: {message}. {fix}")]
    Unreachable {
        /// The engine and where it came from (`tcp://… (DOCKER_HOST)`).
        engine: String,
        message: String,
        fix: String,
    },
    /// No engine could be chosen (ssh, a missing context, …): said once, never
    /// replaced by another engine.
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error(
        "compose project `{project}` has no container for service `{service}`. Start the stack with `docker compose -f docker-compose.infra.yml up -d`, or set docker.project"
    )]
    NoContainer { project: String, service: String },
    #[error("Docker refused to {action} `{container}`: {message}")]
    Action {
        action: &'static str,
        container: String,
        message: String,
    },
}

/// One compose service's container as the containers pane shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ServiceState {
    pub service: String,
    pub container: String,
    /// `running`, `exited`, `created`, `restarting`, `paused`, `dead`.
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or none without a healthcheck.
    pub health: Option<String>,
    pub started_at: Option<String>,
    pub exit_code: Option<i64>,
}

/// A container change pushed by the engine's event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerEvent {
    pub service: String,
    pub container: String,
    /// `start`, `stop`, `die`, `kill`, `health_status: healthy`, …
    pub action: String,
    pub time_unix_nanos: i64,
}

/// How long an engine gets to answer the version and ping of a connect: a tcp engine
/// behind a host that drops packets would otherwise hold the start-up for minutes.
const ANSWER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct ComposeDocker {
    docker: Docker,
    engine: Engine,
    project: String,
}

fn unreachable(engine: &Engine, message: String) -> DockerError {
    DockerError::Unreachable {
        engine: engine.to_string(),
        message,
        fix: engine.unreachable_fix(),
    }
}

impl ComposeDocker {
    /// Connects to `engine` (the process's one engine: see [`engine`]), agrees an API
    /// version with older engines, and pings.
    pub async fn connect(engine: &Engine, project: &str) -> Result<ComposeDocker, DockerError> {
        let docker = engine
            .client()
            .map_err(|e| unreachable(engine, e.to_string()))?;
        let answered = tokio::time::timeout(ANSWER_DEADLINE, async {
            let docker = docker.negotiate_version().await?;
            docker.ping().await?;
            Ok::<_, bollard::errors::Error>(docker)
        })
        .await;
        let docker = match answered {
            Ok(Ok(docker)) => docker,
            Ok(Err(error)) => return Err(unreachable(engine, error.to_string())),
            Err(_) => {
                return Err(unreachable(
                    engine,
                    format!("no answer within {} s", ANSWER_DEADLINE.as_secs()),
                ));
            }
        };
        Ok(ComposeDocker {
            docker,
            engine: engine.clone(),
            project: project.to_string(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    fn project_filter(&self, service: Option<&str>) -> HashMap<String, Vec<String>> {
        let mut labels = vec![format!("{PROJECT_LABEL}={}", self.project)];
        if let Some(service) = service {
            labels.push(format!("{SERVICE_LABEL}={service}"));
        }
        HashMap::from([("label".to_string(), labels)])
    }

    /// Containers of this project (of one service, when given), running or not.
    async fn list(
        &self,
        service: Option<&str>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(self.project_filter(service)),
                ..Default::default()
            }))
            .await
            .map_err(|e| unreachable(&self.engine, e.to_string()))
    }

    /// Every container of the project, with state and health.
    pub async fn services(&self) -> Result<Vec<ServiceState>, DockerError> {
        let summaries = self.list(None).await?;
        let mut states = Vec::new();
        for summary in summaries {
            let Some(id) = summary.id.clone() else {
                continue;
            };
            let service = summary
                .labels
                .as_ref()
                .and_then(|labels| labels.get(SERVICE_LABEL).cloned())
                .unwrap_or_default();
            states.push(self.inspect(&id, &service).await?);
        }
        states.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(states)
    }

    async fn inspect(&self, id: &str, service: &str) -> Result<ServiceState, DockerError> {
        let details = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::Action {
                action: "inspect",
                container: id.to_string(),
                message: e.to_string(),
            })?;
        let state = details.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        Ok(ServiceState {
            service: service.to_string(),
            container: details
                .name
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.to_string()),
            state: state
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".to_string()),
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            started_at: state.started_at.filter(|_| running),
            exit_code: state.exit_code.filter(|_| !running),
        })
    }

    /// The container id of a service of this project, and nothing else.
    async fn container_of(&self, service: &str) -> Result<String, DockerError> {
        self.list(Some(service))
            .await?
            .into_iter()
            .find_map(|s| s.id)
            .ok_or_else(|| DockerError::NoContainer {
                project: self.project.clone(),
                service: service.to_string(),
            })
    }

    pub async fn service_state(&self, service: &str) -> Result<ServiceState, DockerError> {
        let id = self.container_of(service).await?;
        self.inspect(&id, service).await
    }

    /// `docker compose stop SERVICE`: SIGTERM, then SIGKILL after `timeout_seconds`.
    pub async fn stop_service(
        &self,
        service: &str,
        timeout_seconds: i32,
    ) -> Result<(), DockerError> {
        let id = self.container_of(service).await?;
        self.docker
            .stop_container(
                &id,
                Some(StopContainerOptions {
                    t: Some(timeout_seconds),
                    ..Default::default()
                }),
            )
            .await
            .or_else(not_modified_is_ok)
            .map_err(|e| DockerError::Action {
                action: "stop",
                container: format!("{}/{service}", self.project),
                message: e.to_string(),
            })
    }

    /// `docker compose start SERVICE`.
    pub async fn start_service(&self, service: &str) -> Result<(), DockerError> {
        let id = self.container_of(service).await?;
        self.docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
            .or_else(not_modified_is_ok)
            .map_err(|e| DockerError::Action {
                action: "start",
                container: format!("{}/{service}", self.project),
                message: e.to_string(),
            })
    }

    /// Container events of this project only, as the engine pushes them. The stream
    /// connects when first polled; `since_unix_seconds` replays what happened from then,
    /// so nothing between creating and polling the stream is missed.
    pub fn events(
        &self,
        since_unix_seconds: Option<i64>,
    ) -> impl Stream<Item = Result<ContainerEvent, DockerError>> + use<> {
        let mut filters = self.project_filter(None);
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let engine = self.engine.clone();
        self.docker
            .events(Some(EventsOptions {
                filters: Some(filters),
                since: since_unix_seconds.map(|s| s.to_string()),
                ..Default::default()
            }))
            .map(move |item| {
                let message = item.map_err(|e| unreachable(&engine, e.to_string()))?;
                let attributes = message.actor.and_then(|a| a.attributes).unwrap_or_default();
                Ok(ContainerEvent {
                    service: attributes.get(SERVICE_LABEL).cloned().unwrap_or_default(),
                    container: attributes.get("name").cloned().unwrap_or_default(),
                    action: message.action.unwrap_or_default(),
                    time_unix_nanos: message.time_nano.unwrap_or_default(),
                })
            })
    }
}

/// 304 Not Modified: the container already was in the asked-for state.
fn not_modified_is_ok(error: bollard::errors::Error) -> Result<(), bollard::errors::Error> {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        } => Ok(()),
        other => Err(other),
    }
}
