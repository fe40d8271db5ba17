//! The platform seam: where the drill's services run, and the four things a drill does
//! to them — list them (the Containers pane), stop one and start it again (ES down and
//! back), and watch their changes as they happen. Today two platforms stand behind it:
//! compose on a Docker engine ([`ComposeDocker`]) and the sandbox's simulators
//! ([`Sandbox`]). `docs/SCALE.md` designs the third, Kubernetes on kube-rs, against
//! this same trait: a pod or StatefulSet is a `ServiceState`, a scale-to-zero is a stop.
//!
//! Object-safe (boxed futures), so a session holds whichever the profile chose as
//! `&dyn Platform` and never branches on it.

use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;
use futures::stream::BoxStream;

use crate::docker::{ComposeDocker, ContainerEvent, ServiceState};
use crate::sandbox::Sandbox;

/// An answer of the platform: a failure is said in words with its fix.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The platform's changes as it pushes them (`None` from [`Platform::watch`]: it has
/// no push, so its list is polled).
pub type Changes = BoxStream<'static, Result<ContainerEvent, String>>;

pub trait Platform: Send + Sync {
    /// `compose`, `sandbox` (later `kubernetes`): what the journal and panes call it.
    fn kind(&self) -> &'static str;
    /// Where its services are: the compose project, the sandbox, a namespace.
    fn scope(&self) -> String;
    /// Every service of the drill's stack and its state, in a stable order.
    fn list(&self) -> Answer<'_, Vec<ServiceState>>;
    /// Stops `service` (gracefully: its process gets SIGTERM, then SIGKILL after
    /// `grace_seconds`); stopping a stopped service is no error.
    fn stop<'a>(&'a self, service: &'a str, grace_seconds: i32) -> Answer<'a, ()>;
    /// Starts `service` again where it was; starting a running one is no error.
    fn start<'a>(&'a self, service: &'a str) -> Answer<'a, ()>;
    /// Its changes from now on, when it pushes them.
    fn watch(&self) -> Option<Changes>;
}

impl Platform for ComposeDocker {
    fn kind(&self) -> &'static str {
        "compose"
    }

    fn scope(&self) -> String {
        self.project().to_string()
    }

    fn list(&self) -> Answer<'_, Vec<ServiceState>> {
        Box::pin(async move { self.services().await.map_err(|e| e.to_string()) })
    }

    fn stop<'a>(&'a self, service: &'a str, grace_seconds: i32) -> Answer<'a, ()> {
        Box::pin(async move {
            self.stop_service(service, grace_seconds)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn start<'a>(&'a self, service: &'a str) -> Answer<'a, ()> {
        Box::pin(async move { self.start_service(service).await.map_err(|e| e.to_string()) })
    }

    fn watch(&self) -> Option<Changes> {
        // From now: what happened between asking and the first poll is replayed.
        let since = chrono::Utc::now().timestamp();
        Some(
            self.events(Some(since))
                .map(|event| event.map_err(|e| e.to_string()))
                .boxed(),
        )
    }
}

impl Platform for Sandbox {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn scope(&self) -> String {
        "sandbox".into()
    }

    fn list(&self) -> Answer<'_, Vec<ServiceState>> {
        Box::pin(async move { Ok(self.services()) })
    }

    /// The simulators close their listener at once: there is nothing to wait for.
    fn stop<'a>(&'a self, service: &'a str, _grace_seconds: i32) -> Answer<'a, ()> {
        Box::pin(async move { self.stop_service(service) })
    }

    fn start<'a>(&'a self, service: &'a str) -> Answer<'a, ()> {
        Box::pin(async move { self.start_service(service).await })
    }

    /// In process: the cockpit polls its list every second.
    fn watch(&self) -> Option<Changes> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox through the seam: ES listed running, stopped (its port refuses
    /// connections), listed exited, started again on the same port.
    #[tokio::test]
    async fn the_sandbox_lists_stops_and_starts_es_through_the_seam() {
        let sandbox = Sandbox::start(Some("postgres://nobody@127.0.0.1:1/none".into()))
            .await
            .unwrap();
        let platform: &dyn Platform = sandbox.as_ref();
        assert_eq!(platform.kind(), "sandbox");
        assert!(platform.watch().is_none());
        let es_state = |list: Vec<ServiceState>| {
            list.into_iter()
                .find(|s| s.service == "es")
                .map(|s| s.state)
                .unwrap()
        };
        assert_eq!(es_state(platform.list().await.unwrap()), "running");
        let url = sandbox.elastic.url();
        platform.stop("es", 10).await.unwrap();
        assert_eq!(es_state(platform.list().await.unwrap()), "exited");
        assert!(reqwest::get(&url).await.is_err(), "{url} still answers");
        platform.start("es").await.unwrap();
        assert_eq!(es_state(platform.list().await.unwrap()), "running");
        assert!(reqwest::get(&url).await.is_ok(), "{url} does not answer");
        let refused = platform.stop("postgres", 10).await.unwrap_err();
        assert!(refused.contains("only es and jaeger"), "{refused}");
    }
}
