//! A real container of the ES stand-in, labelled as compose service `es`, stopped and
//! started through the cockpit's Docker layer.

use std::time::Duration;

use drill_cockpit::docker::{ComposeDocker, DockerEnv};
use futures::StreamExt;
use testkit::docker::{
    ComposeLikeContainer, ES_STANDIN_IMAGE, engine, free_port, require_image, wait_http,
};

#[tokio::test]
async fn stopping_es_refuses_connections_and_starting_it_answers_again() {
    let Some(docker) = engine().await else { return };
    let Some(()) = require_image(&docker, ES_STANDIN_IMAGE).await else {
        return;
    };
    let project = format!(
        "drilltest{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let port = free_port();
    let _container =
        ComposeLikeContainer::start(&docker, ES_STANDIN_IMAGE, &project, "es", port, 9200).await;
    let url = format!("http://127.0.0.1:{port}/");
    assert!(
        wait_http(&url, Duration::from_secs(15)).await,
        "stand-in container never answered on {url}"
    );

    // The engine the cockpit would use here (DOCKER_HOST, a context, or the socket).
    let engine = drill_cockpit::docker::engine::resolve(&DockerEnv::of_process())
        .expect("a usable Docker engine");
    let compose = ComposeDocker::connect(&engine, &project)
        .await
        .expect("docker reachable");
    let mut events = Box::pin(compose.events(Some(chrono::Utc::now().timestamp() - 1)));
    let before = compose.service_state("es").await.unwrap();
    assert_eq!(before.state, "running");

    compose.stop_service("es", 2).await.unwrap();
    let stopped = compose.service_state("es").await.unwrap();
    assert_eq!(stopped.state, "exited");
    let client = reqwest::Client::new();
    let refused = client
        .get(&url)
        .send()
        .await
        .expect_err("a stopped ES must refuse");
    assert!(refused.is_connect() || refused.is_request(), "{refused:?}");

    // The event stream pushed the stop (the containers pane relies on it, not on polling).
    let mut actions = Vec::new();
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_secs(5), events.next()).await
    {
        assert_eq!(event.service, "es");
        if event.action == "start" {
            continue; // the initial start, replayed by `since`
        }
        actions.push(event.action.clone());
        if event.action == "stop" {
            break;
        }
    }
    assert!(
        actions.iter().any(|a| a == "die" || a == "stop"),
        "events seen: {actions:?}"
    );

    compose.start_service("es").await.unwrap();
    assert!(
        wait_http(&url, Duration::from_secs(15)).await,
        "ES stand-in did not answer after start"
    );
    assert_eq!(compose.service_state("es").await.unwrap().state, "running");

    // Another project's service is out of reach by construction.
    let stranger = ComposeDocker::connect(&engine, "some-other-project")
        .await
        .unwrap();
    assert!(stranger.stop_service("es", 1).await.is_err());
}
