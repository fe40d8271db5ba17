//! Restoring one leftover of a dead session, the way the session itself would have:
//! the write block lifted through the ES API, the container started through the same
//! compose path, the worker ended, the sandbox's cluster stopped and removed.

use std::path::Path;
use std::time::Duration;

use super::{Leftover, procs, url_without_password};

/// How long an orphan worker gets between SIGTERM and SIGKILL.
const WORKER_GRACE: Duration = Duration::from_secs(2);

/// What restoring a leftover came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// Restored; in words.
    Done(String),
    /// Nothing was left to restore (the worker had already died with us); in words.
    Nothing(String),
    /// Could not: the error, naming the thing, and the fix.
    Failed(String),
}

/// What the restoring session knows: its HTTP client, its profile's ES URL (with its
/// password, which the state file never holds), and its Docker engine.
pub struct Context<'a> {
    pub http: &'a reqwest::Client,
    pub elastic_url: &'a str,
    pub docker_engine: &'a Result<crate::docker::Engine, crate::docker::EngineError>,
}

/// What is about to be done, in words ("lifting it").
pub fn intent(leftover: &Leftover) -> &'static str {
    match leftover {
        Leftover::EsWriteBlock { .. } => "lifting it",
        Leftover::EsStopped { .. } => "starting it",
        Leftover::Worker { .. } => "ending it",
        Leftover::SandboxPostgres { .. } => "stopping it and removing its directory",
    }
}

pub async fn restore(leftover: &Leftover, context: &Context<'_>) -> Restored {
    match leftover {
        Leftover::EsWriteBlock { url, index } => lift_write_block(context, url, index).await,
        Leftover::EsStopped {
            project,
            service,
            compose_file,
            engine,
        } => {
            let stopped = StoppedContainer {
                project,
                service,
                compose_file,
                engine: engine.as_deref(),
            };
            start_container(&stopped, context.docker_engine).await
        }
        Leftover::Worker {
            pid,
            started,
            cmdline,
        } => end_worker(*pid, *started, cmdline).await,
        Leftover::SandboxPostgres {
            dir,
            data_dir,
            bin,
            postmaster_pid,
        } => {
            let (dir, data_dir, bin) = (dir.clone(), data_dir.clone(), bin.clone());
            let postmaster_pid = *postmaster_pid;
            tokio::task::spawn_blocking(move || stop_cluster(&dir, &data_dir, &bin, postmaster_pid))
                .await
                .unwrap_or_else(|e| Restored::Failed(format!("stopping the cluster panicked: {e}")))
        }
    }
}

/// PUT `index.blocks.write=false`; the profile's URL (with its password) when it is
/// the recorded one.
async fn lift_write_block(context: &Context<'_>, recorded: &str, index: &str) -> Restored {
    let base = if url_without_password(context.elastic_url) == recorded {
        context.elastic_url
    } else {
        recorded
    };
    let url = format!("{}/{index}/_settings", base.trim_end_matches('/'));
    let fix = format!(
        "lift it by hand: curl -X PUT '{recorded}/{index}/_settings' -H 'Content-Type: application/json' -d '{{\"index\":{{\"blocks\":{{\"write\":false}}}}}}'"
    );
    let answer = context
        .http
        .put(&url)
        .json(&serde_json::json!({"index": {"blocks": {"write": false}}}))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    match answer {
        Ok(answer) if answer.status().is_success() => {
            Restored::Done(format!("index.blocks.write=false on {index}"))
        }
        // No index, no block: nothing is left to lift.
        Ok(answer) if answer.status().as_u16() == 404 => {
            Restored::Nothing(format!("index {index} does not exist at {recorded}"))
        }
        Ok(answer) => Restored::Failed(format!(
            "{} answered HTTP {}; {fix}",
            url_without_password(&url),
            answer.status().as_u16()
        )),
        Err(error) => Restored::Failed(format!(
            "cannot reach Elasticsearch at {recorded}: {}; {fix}",
            crate::sources::metrics::error_chain(&error)
        )),
    }
}

/// A container a dead session stopped, as its entry recorded it.
struct StoppedContainer<'a> {
    project: &'a str,
    service: &'a str,
    compose_file: &'a Path,
    engine: Option<&'a str>,
}

/// `docker compose start` of the service, through the session's own Docker path, on
/// the engine it was stopped on: a container of the same name on another engine is
/// not the one that was stopped.
async fn start_container(
    stopped: &StoppedContainer<'_>,
    current: &Result<crate::docker::Engine, crate::docker::EngineError>,
) -> Restored {
    let StoppedContainer {
        project,
        service,
        compose_file,
        engine: recorded,
    } = *stopped;
    let on_engine = recorded
        .map(|host| format!("DOCKER_HOST={host} "))
        .unwrap_or_default();
    let fix = format!(
        "start it by hand: {on_engine}docker compose -f {} -p {project} start {service}",
        compose_file.display()
    );
    let engine = match current {
        Ok(engine) => engine,
        Err(error) => return Restored::Failed(format!("{error}; {fix}")),
    };
    if let Some(recorded) = recorded
        && recorded != engine.host
    {
        return Restored::Failed(format!(
            "it was stopped on the Docker engine {recorded}, and this cockpit uses {engine}; {fix}"
        ));
    }
    let docker = match crate::docker::ComposeDocker::connect(engine, project).await {
        Ok(docker) => docker,
        Err(error) => return Restored::Failed(format!("{error}; {fix}")),
    };
    match docker.start_service(service).await {
        Ok(()) => Restored::Done(format!("started {project}/{service}")),
        Err(error) => Restored::Failed(format!("{error}; {fix}")),
    }
}

/// Ends a worker that outlived its session, if the pid is still that worker.
async fn end_worker(pid: u32, started: Option<u64>, cmdline: &[String]) -> Restored {
    if !procs::alive(pid, started) {
        return Restored::Nothing(format!("worker pid {pid} is gone"));
    }
    if procs::cmdline(pid).as_deref() != Some(cmdline) {
        return Restored::Nothing(format!(
            "pid {pid} no longer runs `{}`: left alone",
            cmdline.join(" ")
        ));
    }
    if procs::end(pid, started, WORKER_GRACE).await {
        Restored::Done(format!(
            "worker pid {pid} ended (SIGTERM, SIGKILL after 2 s)"
        ))
    } else {
        Restored::Failed(format!(
            "worker pid {pid} still runs after SIGKILL; end it by hand: kill -9 {pid}"
        ))
    }
}

/// `pg_ctl stop -m immediate` on the recorded data directory, then the directory
/// removed. Only a directory the sandbox makes (`drill-sandbox-pg-*`, `data` inside)
/// is ever touched.
fn stop_cluster(dir: &Path, data_dir: &Path, bin: &Path, postmaster: Option<u32>) -> Restored {
    let ours = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("drill-sandbox-pg-"))
        && data_dir == dir.join("data");
    if !ours {
        return Restored::Failed(format!(
            "{} is not a sandbox cluster's directory (drill-sandbox-pg-*/data): left alone; remove it by hand if it is one",
            data_dir.display()
        ));
    }
    if !dir.exists() {
        return Restored::Nothing(format!("{} is gone", dir.display()));
    }
    let pid = postmaster_pid(data_dir).or(postmaster);
    if pid.is_some_and(|pid| procs::alive(pid, None))
        && let Err(error) = crate::sandbox::postgres::stop_cluster(bin, data_dir)
    {
        return Restored::Failed(format!(
            "{error}; stop it by hand: kill {}, then rm -rf {}",
            pid.unwrap_or_default(),
            dir.display()
        ));
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Restored::Done(format!(
            "cluster stopped (postmaster pid {}), {} removed",
            pid.map_or("unknown".into(), |p| p.to_string()),
            dir.display()
        )),
        Err(error) => Restored::Failed(format!(
            "cannot remove {}: {error}; remove it by hand",
            dir.display()
        )),
    }
}

/// The postmaster's pid: the first line of `postmaster.pid` in the data directory.
pub fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_orphan_worker_is_ended_only_while_it_runs_what_was_recorded() {
        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let started = procs::start_ticks(pid);
        let cmdline = procs::cmdline(pid).unwrap();
        let reaper = tokio::spawn(async move { child.wait().await });
        // Another command line under that pid: not ours, left alone.
        let other = end_worker(pid, started, &["python".into()]).await;
        assert!(matches!(other, Restored::Nothing(_)), "{other:?}");
        assert!(procs::alive(pid, started));
        let ended = end_worker(pid, started, &cmdline).await;
        assert!(matches!(ended, Restored::Done(_)), "{ended:?}");
        let _ = reaper.await;
        let gone = end_worker(pid, started, &cmdline).await;
        assert!(matches!(gone, Restored::Nothing(_)), "{gone:?}");
    }

    fn engine_at(host: &str) -> Result<crate::docker::Engine, crate::docker::EngineError> {
        crate::docker::engine::resolve(&crate::docker::DockerEnv {
            docker_host: Some(host.into()),
            ..Default::default()
        })
    }

    fn stopped_on(engine: Option<&str>) -> Leftover {
        Leftover::EsStopped {
            project: "drill".into(),
            service: "es".into(),
            compose_file: "docker-compose.infra.yml".into(),
            engine: engine.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn a_stopped_es_is_started_only_on_the_engine_it_was_stopped_on() {
        let http = crate::tls::http_client();
        let current = engine_at("unix:///nonexistent/docker.sock");
        let context = Context {
            http: &http,
            elastic_url: "http://127.0.0.1:1",
            docker_engine: &current,
        };
        let elsewhere = restore(&stopped_on(Some("tcp://10.1.2.3:2375")), &context).await;
        let Restored::Failed(text) = elsewhere else {
            panic!("{elsewhere:?}")
        };
        assert_eq!(
            text,
            "it was stopped on the Docker engine tcp://10.1.2.3:2375, and this cockpit uses unix:///nonexistent/docker.sock (DOCKER_HOST); start it by hand: DOCKER_HOST=tcp://10.1.2.3:2375 docker compose -f docker-compose.infra.yml -p drill start es"
        );
        // The same engine (or an entry from before engines were recorded) is tried there.
        for leftover in [
            stopped_on(Some("unix:///nonexistent/docker.sock")),
            stopped_on(None),
        ] {
            let here = restore(&leftover, &context).await;
            let Restored::Failed(text) = here else {
                panic!("{here:?}")
            };
            assert!(
                text.starts_with(
                    "cannot reach Docker at unix:///nonexistent/docker.sock (DOCKER_HOST)"
                ),
                "{text}"
            );
        }
        // No usable engine: said, with the way to do it by hand.
        let none = engine_at("ssh://me@box");
        let context = Context {
            docker_engine: &none,
            ..context
        };
        let refused = restore(&stopped_on(Some("ssh://me@box")), &context).await;
        assert!(
            matches!(&refused, Restored::Failed(text) if text.starts_with("DOCKER_HOST=ssh://me@box: drill-cockpit speaks to Docker over unix or tcp only")),
            "{refused:?}"
        );
    }

    #[test]
    fn an_entry_written_before_engines_were_recorded_still_reads() {
        let entry = r#"{"kind":"es_stopped","project":"drill","service":"es","compose_file":"docker-compose.infra.yml"}"#;
        let leftover: Leftover = serde_json::from_str(entry).unwrap();
        assert_eq!(leftover, stopped_on(None));
        let written = serde_json::to_string(&stopped_on(Some("tcp://10.1.2.3:2375"))).unwrap();
        assert!(
            written.contains(r#""engine":"tcp://10.1.2.3:2375""#),
            "{written}"
        );
    }

    #[test]
    fn a_directory_the_sandbox_did_not_make_is_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let restored = stop_cluster(dir.path(), &dir.path().join("data"), dir.path(), None);
        assert!(matches!(restored, Restored::Failed(_)), "{restored:?}");
        assert!(dir.path().exists());
    }
}
