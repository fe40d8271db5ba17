//! Docker helpers for tests: the engine (required under CI) and the locally built
//! stand-in images (`scripts/build-test-images`).

use bollard::Docker;

pub const ES_STANDIN_IMAGE: &str = "drill-cockpit/es-standin:test";
pub const JAEGER_STANDIN_IMAGE: &str = "drill-cockpit/jaeger-standin:test";

/// A connected engine, or `None` (skip) outside CI.
pub async fn engine() -> Option<Docker> {
    let docker = match Docker::connect_with_local_defaults() {
        Ok(docker) => docker,
        Err(error) => {
            return crate::env::unavailable(
                "Docker",
                &format!("cannot connect: {error}; start the daemon or set DOCKER_HOST"),
            );
        }
    };
    let docker = match docker.negotiate_version().await {
        Ok(docker) => docker,
        Err(error) => {
            return crate::env::unavailable(
                "Docker",
                &format!("version negotiation failed: {error}"),
            );
        }
    };
    match docker.ping().await {
        Ok(_) => Some(docker),
        Err(error) => crate::env::unavailable(
            "Docker",
            &format!("the engine does not answer: {error}; start the daemon or set DOCKER_HOST"),
        ),
    }
}

/// Fails (CI) or skips when the image was not built.
pub async fn require_image(docker: &Docker, image: &str) -> Option<()> {
    match docker.inspect_image(image).await {
        Ok(_) => Some(()),
        Err(_) => crate::env::unavailable(image, "build it with scripts/build-test-images"),
    }
}

/// A container labelled like compose service `service` of project `project`
/// (`<project>-<service>-1`), its `container_port` published on 127.0.0.1:`host_port`.
/// Removed (forcefully) on drop.
pub struct ComposeLikeContainer {
    docker: Docker,
    pub id: String,
    pub name: String,
}

impl ComposeLikeContainer {
    pub async fn start(
        docker: &Docker,
        image: &str,
        project: &str,
        service: &str,
        host_port: u16,
        container_port: u16,
    ) -> ComposeLikeContainer {
        use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
        use bollard::query_parameters::{CreateContainerOptions, StartContainerOptions};
        use std::collections::HashMap;

        let name = format!("{project}-{service}-1");
        let labels = HashMap::from([
            (
                "com.docker.compose.project".to_string(),
                project.to_string(),
            ),
            (
                "com.docker.compose.service".to_string(),
                service.to_string(),
            ),
            (
                "com.docker.compose.container-number".to_string(),
                "1".to_string(),
            ),
        ]);
        let port_key = format!("{container_port}/tcp");
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(labels),
            exposed_ports: Some(vec![port_key.clone()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    port_key,
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_string()),
                        host_port: Some(host_port.to_string()),
                    }]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .unwrap_or_else(|e| panic!("create container {name} from {image}: {e}"));
        docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .unwrap_or_else(|e| panic!("start container {name}: {e}"));
        ComposeLikeContainer {
            docker: docker.clone(),
            id: created.id,
            name,
        }
    }
}

impl Drop for ComposeLikeContainer {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let id = self.id.clone();
        // Drop cannot await; remove on a helper thread with its own runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    let _ = docker
                        .remove_container(
                            &id,
                            Some(bollard::query_parameters::RemoveContainerOptions {
                                force: true,
                                ..Default::default()
                            }),
                        )
                        .await;
                });
            }
        })
        .join();
    }
}

/// A free TCP port on 127.0.0.1 below the ephemeral range (see `drill_sim::ports`).
pub fn free_port() -> u16 {
    drill_sim::ports::spare_port(&[]).unwrap_or(0)
}

/// Waits until `url` answers HTTP (any status), up to `timeout`.
pub async fn wait_http(url: &str, timeout: std::time::Duration) -> bool {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if client.get(url).send().await.is_ok() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
pub async fn wait_until(timeout: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    condition()
}
