//! The outage matrix: the real cockpit in tmux while one source at a time is down at
//! start, comes back, is lost mid-drill, flaps every 2 s, and comes back again — for
//! Docker (a socket proxy the test cuts), Postgres (a cluster of its own), Elasticsearch
//! and Jaeger (the stand-ins, stopped and started), `/metrics` (a page the stand-in worker serves while the test lets it)
//! and the worker (killed, and started again with `w`). Each time the cockpit must not
//! crash, must show the cause in the pane the source belongs to within 2 s, must show the
//! source back within 2 s of its return, and must lose nothing it already froze.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use testkit::docker::{ComposeLikeContainer, ES_STANDIN_IMAGE, engine, free_port, require_image};
use testkit::es::EsStandin;
use testkit::jaeger::JaegerStandin;

/// How long a pane may take to tell (the contract: 2 s), plus the screen-polling slack
/// of this harness (tmux capture every 100 ms, one redraw).
const TELL: Duration = Duration::from_millis(2_600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Docker,
    Postgres,
    Elasticsearch,
    Jaeger,
    Metrics,
    Worker,
}

/// Whether the screen tells that a source is down, with its cause.
fn is_down(source: Source, screen: &str) -> bool {
    match source {
        Source::Docker => screen.contains("cannot reach Docker at"),
        Source::Postgres => {
            screen.contains("cannot connect to Postgres") || screen.contains("Is Postgres running?")
        }
        Source::Elasticsearch => screen.contains("es http   cannot reach Elasticsearch"),
        Source::Jaeger => screen.contains("cannot reach Jaeger at"),
        Source::Metrics => screen.contains("cannot reach the worker's metrics"),
        Source::Worker => {
            screen.contains("worker    exited") || screen.contains("worker    killed")
        }
    }
}

fn is_up(source: Source, screen: &str) -> bool {
    match source {
        Source::Docker => screen.contains("es        running"),
        Source::Postgres => screen.contains("pending 0 · processing 0"),
        Source::Elasticsearch => screen.contains("es http   reachable"),
        Source::Jaeger => {
            !screen.contains("cannot reach Jaeger") && screen.contains("no event yet")
        }
        Source::Metrics => {
            screen.contains("processed") && !screen.contains("cannot reach the worker's metrics")
        }
        Source::Worker => screen.contains("worker    running"),
    }
}

/// A Unix-socket proxy to the real Docker engine that the test can cut (every open
/// connection, the event stream included) and restore.
struct DockerProxy {
    path: PathBuf,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl DockerProxy {
    fn new(dir: &Path) -> DockerProxy {
        DockerProxy {
            path: dir.join("docker.sock"),
            task: std::sync::Mutex::new(None),
        }
    }

    fn up(&self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = tokio::net::UnixListener::bind(&self.path).expect("bind proxy socket");
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut engine) =
                        tokio::net::UnixStream::connect("/var/run/docker.sock").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut engine).await;
                    }
                });
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Aborting the accept task drops its JoinSet: every proxied connection closes.
    fn down(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The stand-in worker: serves a `/metrics` page while its flag file exists (the
/// cockpit grades only a page served by the process it started).
fn fake_worker_script() -> String {
    format!(
        "{}/testkit/fake_metrics_worker.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

struct Rig {
    source: Source,
    dir: tempfile::TempDir,
    es: EsStandin,
    jaeger: JaegerStandin,
    /// The stand-in worker's metrics port, and the flag that keeps its page up.
    metrics_port: u16,
    metrics_flag: PathBuf,
    pg: testkit::pg::OwnCluster,
    docker: Option<(DockerProxy, ComposeLikeContainer, String)>,
    worker_flag: PathBuf,
    /// A word no other test's worker has, so `pkill -f` finds this rig's worker only.
    worker_tag: String,
}

impl Rig {
    async fn new(source: Source) -> Option<Rig> {
        let pg = testkit::pg::OwnCluster::start()?;
        let dir = tempfile::tempdir().unwrap();
        let docker = if source == Source::Docker {
            let engine = engine().await?;
            require_image(&engine, ES_STANDIN_IMAGE).await?;
            let project = format!(
                "drillout{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            let container = ComposeLikeContainer::start(
                &engine,
                ES_STANDIN_IMAGE,
                &project,
                "es",
                free_port(),
                9200,
            )
            .await;
            Some((DockerProxy::new(dir.path()), container, project))
        } else {
            None
        };
        Some(Rig {
            source,
            worker_flag: dir.path().join("worker-may-run"),
            worker_tag: format!("rig-{}", fastrand_suffix()),
            metrics_port: free_port(),
            metrics_flag: {
                let flag = dir.path().join("metrics-up");
                std::fs::write(&flag, "").unwrap();
                flag
            },
            dir,
            es: EsStandin::start().await.unwrap(),
            jaeger: JaegerStandin::start().await.unwrap(),
            pg,
            docker,
        })
    }

    fn env(&self) -> Vec<(String, String)> {
        let project = self
            .docker
            .as_ref()
            .map(|(_, _, project)| project.clone())
            .unwrap_or_else(|| "drill-outage-none".into());
        let docker_host = match &self.docker {
            Some((proxy, _, _)) => format!("unix://{}", proxy.path.display()),
            None => "unix:///nonexistent/docker.sock".into(),
        };
        // The worker runs only while its flag file exists (the test's switch for it).
        let serve = format!(
            "python3 {} {} {} {}",
            fake_worker_script(),
            self.metrics_port,
            self.metrics_flag.display(),
            self.worker_tag
        );
        let worker = match self.source {
            Source::Worker => format!(
                "sh -c 'test -f {} || exit 3; exec {serve}'",
                self.worker_flag.display(),
            ),
            _ => serve,
        };
        [
            ("DOCKER_HOST", docker_host),
            ("COMPOSE_PROJECT_NAME", project),
            ("DATABASE_URL", self.pg.url()),
            ("ELASTIC_URL", self.es.url()),
            ("JAEGER_URL", self.jaeger.url()),
            ("OUTBOX_METRICS_PORT", self.metrics_port.to_string()),
            ("DRILL_WORKER_COMMAND", worker),
            ("TERM", "xterm-256color".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    async fn set(&self, up: bool, tmux: Option<&Tmux>) {
        match self.source {
            Source::Docker => {
                let (proxy, _, _) = self.docker.as_ref().unwrap();
                if up { proxy.up() } else { proxy.down() }
            }
            Source::Postgres => {
                if up {
                    self.pg.up()
                } else {
                    self.pg.down()
                }
            }
            Source::Elasticsearch => {
                if up {
                    self.es.server.start().await.unwrap()
                } else {
                    self.es.server.stop()
                }
            }
            Source::Jaeger => {
                if up {
                    self.jaeger.server.start().await.unwrap()
                } else {
                    self.jaeger.server.stop()
                }
            }
            Source::Metrics => {
                if up {
                    std::fs::write(&self.metrics_flag, "").unwrap();
                } else {
                    let _ = std::fs::remove_file(&self.metrics_flag);
                }
            }
            Source::Worker => {
                if up {
                    std::fs::write(&self.worker_flag, "").unwrap();
                    if let Some(tmux) = tmux {
                        tmux.keys("w");
                    }
                } else {
                    let _ = std::fs::remove_file(&self.worker_flag);
                    // kill -9 of this rig's running worker (the script its shell exec'd);
                    // anchored on the interpreter: tmux's own command line holds the tag too.
                    let pattern = format!(
                        "^[^ ]*python[0-9.]* [^ ]*fake_metrics_worker.py .* {}$",
                        self.worker_tag
                    );
                    let _ = std::process::Command::new("pkill")
                        .args(["-9", "-f", &pattern])
                        .status();
                }
            }
        }
    }
}

/// Waits until the screen says `what`; returns how long it took.
async fn tells(
    tmux: &Tmux,
    what: &str,
    within: Duration,
    check: impl Fn(&str) -> bool,
) -> Duration {
    let started = Instant::now();
    tmux.wait_for(what, within, check).await;
    started.elapsed()
}

fn fastrand_suffix() -> String {
    uuid::Uuid::new_v4().as_u128().to_string()[..6].to_string()
}

/// Name → content of every file of the run directory (dot files aside).
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                let bytes = std::fs::read(entry.path()).unwrap_or_default();
                files.insert(
                    entry
                        .path()
                        .strip_prefix(dir)
                        .unwrap()
                        .display()
                        .to_string(),
                    bytes,
                );
            }
        }
    }
    files
}

async fn drill_through_outages(source: Source) {
    let Some(rig) = Rig::new(source).await else {
        return;
    };
    let rig = Arc::new(rig);
    // Down at start.
    rig.set(false, None).await;
    let snapshots = rig.dir.path().join("snapshots");
    let args = vec![
        "--set".to_string(),
        "database.ours=true".into(),
        "--set".into(),
        format!("cockpit.snapshots_dir={}", snapshots.display()),
    ];
    let Some(tmux) = Tmux::start(&rig.env(), &args) else {
        return;
    };
    let mut timings = Vec::new();
    // The first frame comes within a second; the cause within 2 s of it.
    tmux.wait_for("the first frame", Duration::from_secs(10), |s| {
        s.contains("Checklist")
    })
    .await;
    timings.push((
        "down at start",
        tells(&tmux, "the cause", TELL, |s| is_down(source, s)).await,
    ));

    // A freeze while it is down: its files must survive everything that follows.
    tmux.keys("f");
    tmux.wait_for("the freeze", Duration::from_secs(10), |s| {
        s.contains("froze evidence")
    })
    .await;
    let run_dir = std::fs::read_dir(snapshots.join("es_down_connect"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let frozen = files_of(&run_dir);

    rig.set(true, Some(&tmux)).await;
    timings.push((
        "back",
        tells(&tmux, "the source back", TELL, |s| is_up(source, s)).await,
    ));

    rig.set(false, Some(&tmux)).await;
    timings.push((
        "lost mid-drill",
        tells(&tmux, "the cause", TELL, |s| is_down(source, s)).await,
    ));

    // Flapping every 2 s: the cockpit keeps running and keeps telling.
    for _ in 0..3 {
        rig.set(true, Some(&tmux)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        rig.set(false, Some(&tmux)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            !tmux.screen().contains("EXIT="),
            "the cockpit ended while {source:?} flapped:\n{}",
            tmux.screen()
        );
    }
    tmux.wait_for("down after flapping", TELL, |s| is_down(source, s))
        .await;
    rig.set(true, Some(&tmux)).await;
    timings.push((
        "back after flapping",
        tells(&tmux, "the source back", TELL, |s| is_up(source, s)).await,
    ));

    tmux.quit_anyway().await;
    let after = files_of(&run_dir);
    for (name, content) in &frozen {
        let now = after
            .get(name)
            .unwrap_or_else(|| panic!("{name}, frozen while {source:?} was down, is gone"));
        // The journal and the log grow by appending; every other file stays as frozen.
        if name == "_timeline.jsonl" || name.starts_with("_logs/") {
            assert!(
                now.starts_with(content),
                "{name} was rewritten, not appended to"
            );
        } else {
            assert_eq!(
                now, content,
                "{name}, frozen while {source:?} was down, changed"
            );
        }
    }
    eprintln!("outage matrix {source:?}: {timings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_outages() {
    drill_through_outages(Source::Docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outages() {
    drill_through_outages(Source::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_outages() {
    drill_through_outages(Source::Elasticsearch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_outages() {
    drill_through_outages(Source::Jaeger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_outages() {
    drill_through_outages(Source::Metrics).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_outages() {
    drill_through_outages(Source::Worker).await;
}
