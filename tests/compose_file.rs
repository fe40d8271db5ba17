//! `docker-compose.infra.yml` is valid for the compose tools a user may have (Compose
//! v2's plugin, Debian's docker-compose 1.29), and a pull that cannot reach its
//! registry is told in words (a real `up` against a registry on 127.0.0.1:1).

use std::path::PathBuf;

use drill_cockpit::docker::{DockerEnv, Engine, compose};

/// The engine the cockpit would use on this machine.
fn engine() -> Engine {
    drill_cockpit::docker::engine::resolve(&DockerEnv::of_process())
        .expect("a usable Docker engine")
}

fn infra_file() -> PathBuf {
    testkit::env::workspace_dir().join("docker-compose.infra.yml")
}

#[test]
fn the_infra_file_parses_with_every_installed_compose_tool() {
    let results = compose::check_file(&engine(), &infra_file(), "drill-cockpit");
    if results.is_empty() {
        testkit::env::unavailable::<()>(
            "a compose tool",
            "install docker-compose (apt-get install docker-compose) or the Docker compose plugin",
        );
        return;
    }
    for (tool, result) in &results {
        assert!(
            result.is_ok(),
            "{tool} rejects docker-compose.infra.yml: {result:?}"
        );
        eprintln!("{tool}: docker-compose.infra.yml is valid");
    }
    let images = compose::images_of(&infra_file());
    assert_eq!(images.len(), 3, "{images:?}");
    assert!(
        images.iter().all(|i| i.contains(':')),
        "every image is pinned: {images:?}"
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_named_with_the_image_and_the_fix() {
    if compose::check_file(&engine(), &infra_file(), "drill-cockpit").is_empty() {
        testkit::env::unavailable::<()>("a compose tool", "install docker-compose");
        return;
    }
    if testkit::docker::engine().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yml");
    // A registry on loopback that refuses: the daemon's pull fails at once.
    std::fs::write(
        &file,
        "services:\n  es:\n    image: 127.0.0.1:1/drill-cockpit-missing:1\n",
    )
    .unwrap();
    let project = format!(
        "drillpull{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let error = compose::up(&engine(), &file, &project).await.unwrap_err();
    // Whatever the tool created (a network) goes again.
    for (program, leading) in [("docker", vec!["compose"]), ("docker-compose", vec![])] {
        let _ = std::process::Command::new(program)
            .args(leading)
            .args(["-f", &file.display().to_string(), "-p", &project, "down"])
            .output();
    }
    assert!(
        error.contains(
            "could not pull image 127.0.0.1:1/drill-cockpit-missing:1: the registry 127.0.0.1:1 was unreachable"
        ),
        "{error}"
    );
    assert!(error.contains("docker load"), "{error}");
}
