//! One Docker engine for the whole cockpit: the connection and the `docker compose`
//! child reach the same engine, whether DOCKER_HOST, DOCKER_CONTEXT or the config's
//! current context chose it; an engine the cockpit cannot speak stops it with one
//! message; a context pointing at the real local socket works.
//!
//! The remote engine is a stand-in on 127.0.0.1 that answers like Docker's API
//! (`/_ping`, `/version`, an empty `/containers/json`, an open `/events`) and records
//! who asked what: the cockpit says `User-Agent: drill-cockpit/…`, compose says its own.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use common::tmux::Tmux;
use drill_cockpit::docker::contexts;
use drill_cockpit::docker::{ComposeDocker, DockerEnv, EngineOrigin, compose};
use testkit::docker::free_port;

/// One request the stand-in answered: method, path and query, user agent.
#[derive(Debug, Clone)]
struct Seen {
    what: String,
    agent: String,
}

impl Seen {
    fn is_the_cockpits(&self) -> bool {
        self.agent.starts_with("drill-cockpit/")
    }

    /// A request of the compose tool's `up` (networks, containers, images). The docker
    /// CLI pings the engine even to say that it lacks the compose plugin: a ping alone
    /// does not show that compose came.
    fn is_composes(&self) -> bool {
        !self.is_the_cockpits() && !self.what.ends_with("/_ping")
    }
}

/// A Docker API stand-in on 127.0.0.1 that records every request.
struct StandinEngine {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn answer(State(seen): State<Arc<Mutex<Vec<Seen>>>>, request: Request) -> Response {
    let what = format!(
        "{} {}",
        request.method(),
        request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    seen.lock().unwrap().push(Seen { what, agent });
    let path = request.uri().path();
    let json = |status: StatusCode, body: &str| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    if path.ends_with("/_ping") {
        Response::new(Body::from("OK"))
    } else if path.ends_with("/version") {
        json(
            StatusCode::OK,
            r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#,
        )
    } else if path.ends_with("/containers/json") {
        json(StatusCode::OK, "[]")
    } else if path.ends_with("/events") {
        // The engine's event stream stays open; nothing happens on a stand-in.
        Response::new(Body::from_stream(futures::stream::pending::<
            Result<Vec<u8>, std::io::Error>,
        >()))
    } else {
        json(
            StatusCode::NOT_FOUND,
            r#"{"message":"the test's stand-in engine has no such endpoint"}"#,
        )
    }
}

impl StandinEngine {
    async fn start() -> StandinEngine {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        StandinEngine { port, seen }
    }

    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until the cockpit and a compose child have both asked this engine.
    async fn wait_for_both(&self, screen: impl Fn() -> String) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let seen = self.seen();
            if seen.iter().any(Seen::is_the_cockpits) && seen.iter().any(Seen::is_composes) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "the stand-in engine did not hear from both the cockpit and compose: {seen:#?}\nscreen:\n{}",
                screen()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A Docker config folder as the CLI writes it: context `name` at `host`, current.
fn config_with_context(dir: &Path, name: &str, host: &str, current: bool) {
    let meta = contexts::meta_file(dir, name);
    std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
    std::fs::write(
        &meta,
        format!(
            r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
        ),
    )
    .unwrap();
    if current {
        std::fs::write(
            dir.join("config.json"),
            format!(r#"{{"auths":{{}},"currentContext":"{name}"}}"#),
        )
        .unwrap();
    }
}

/// Whether a compose tool is installed (the cockpit's `U` runs it).
fn compose_tool_installed() -> bool {
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("compose.yml");
    std::fs::write(&file, "services:\n  es:\n    image: busybox:1\n").unwrap();
    let engine = drill_cockpit::docker::engine::resolve(&DockerEnv::default()).unwrap();
    !compose::check_file(&engine, &file, "probe").is_empty()
}

/// The cockpit's environment with every source but Docker unreachable: only the
/// engine is under test. `docker` holds the Docker variables of the case.
fn cockpit_env(docker: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        // Empty counts as unset, for the cockpit and for both compose tools.
        ("DOCKER_HOST", String::new()),
        ("DOCKER_CONTEXT", String::new()),
        ("DOCKER_TLS_VERIFY", String::new()),
        ("DOCKER_CERT_PATH", String::new()),
        (
            "DATABASE_URL",
            "postgres://wordloom:hunter2@127.0.0.1:1/none".into(),
        ),
        ("ELASTIC_URL", "http://127.0.0.1:1".into()),
        ("JAEGER_URL", "http://127.0.0.1:1".into()),
        ("OUTBOX_METRICS_PORT", free_port().to_string()),
        ("OUTBOX_HTTP_PORT", free_port().to_string()),
        ("DRILL_WORKER_COMMAND", "false".into()),
        (
            "COMPOSE_PROJECT_NAME",
            format!(
                "drillengine{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        ),
        ("TERM", "xterm-256color".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (name, value) in docker {
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value.clone()));
    }
    env
}

/// Starts the cockpit with `--up` (the stand-in has no containers, so it runs compose
/// at once) and checks that the cockpit's requests and compose's reach the same
/// stand-in, and that the pane names it and what chose it, never the local socket.
async fn cockpit_and_compose_reach(
    docker: &[(&str, String)],
    engine: &StandinEngine,
    origin: &str,
) {
    if !compose_tool_installed() {
        testkit::env::unavailable::<()>(
            "a compose tool",
            "install docker-compose (apt-get install docker-compose) or the Docker compose plugin",
        );
        return;
    }
    let snapshots = tempfile::tempdir().unwrap();
    let env = cockpit_env(docker);
    let args = vec![
        "--up".to_string(),
        "--set".to_string(),
        format!("cockpit.snapshots_dir={}", snapshots.path().display()),
    ];
    let Some(tmux) = Tmux::start(&env, &args) else {
        return;
    };
    let seen = engine.wait_for_both(|| tmux.screen()).await;
    // The cockpit asked for its own project's containers there, and compose came too.
    assert!(
        seen.iter()
            .any(|s| s.is_the_cockpits() && s.what.contains("/containers/json")),
        "{seen:#?}"
    );
    let compose = seen.iter().find(|s| s.is_composes()).unwrap();
    eprintln!("compose reached the stand-in: {compose:?}");
    let screen = tmux
        .wait_for(
            "the engine named in the pane",
            Duration::from_secs(30),
            |s| left_pane(s).contains(&format!("{} ({origin}", engine.host())),
        )
        .await;
    assert!(!screen.contains("docker.sock"), "{screen}");
    // The run's recipe records the engine and what chose it.
    let recipe = recipe_of(snapshots.path());
    assert_eq!(recipe["docker"]["engine"], engine.host(), "{recipe}");
    assert_eq!(recipe["docker"]["origin"], origin, "{recipe}");
}

/// The `_recipe.json` of the one run under `snapshots`.
fn recipe_of(snapshots: &Path) -> serde_json::Value {
    let runs: Vec<_> = std::fs::read_dir(snapshots.join("es_down_connect"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let text = std::fs::read_to_string(runs[0].path().join("_recipe.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_host_tcp_is_the_engine_of_the_connection_and_of_compose() {
    let engine = StandinEngine::start().await;
    let config = tempfile::tempdir().unwrap();
    // A current context elsewhere must not win over DOCKER_HOST.
    config_with_context(
        config.path(),
        "elsewhere",
        "unix:///nonexistent/other.sock",
        true,
    );
    let docker = [
        ("DOCKER_HOST", engine.host()),
        ("DOCKER_CONFIG", config.path().display().to_string()),
    ];
    cockpit_and_compose_reach(&docker, &engine, "DOCKER_HOST").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_context_is_the_engine_of_the_connection_and_of_compose() {
    let engine = StandinEngine::start().await;
    let config = tempfile::tempdir().unwrap();
    config_with_context(config.path(), "drilltest", &engine.host(), true);
    let docker = [("DOCKER_CONFIG", config.path().display().to_string())];
    cockpit_and_compose_reach(&docker, &engine, "context drilltest").await;
}

/// docker-compose 1.x ignores DOCKER_CONTEXT: without the cockpit's explicit
/// DOCKER_HOST it would go to the default socket while the cockpit watched the context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_context_is_the_engine_of_the_connection_and_of_compose() {
    let engine = StandinEngine::start().await;
    let config = tempfile::tempdir().unwrap();
    config_with_context(config.path(), "drilltest", &engine.host(), false);
    config_with_context(
        config.path(),
        "current",
        "unix:///nonexistent/other.sock",
        true,
    );
    let docker = [
        ("DOCKER_CONFIG", config.path().display().to_string()),
        ("DOCKER_CONTEXT", "drilltest".to_string()),
    ];
    cockpit_and_compose_reach(&docker, &engine, "context drilltest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_engine_that_does_not_answer_is_named_not_replaced_by_the_local_socket() {
    // A port nothing listens on: bound once, then released.
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let config = tempfile::tempdir().unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let env = cockpit_env(&[
        ("DOCKER_HOST", host.clone()),
        ("DOCKER_CONFIG", config.path().display().to_string()),
    ]);
    let args = vec![
        "--set".to_string(),
        format!("cockpit.snapshots_dir={}", snapshots.path().display()),
    ];
    let Some(tmux) = Tmux::start(&env, &args) else {
        return;
    };
    let screen = tmux
        .wait_for("Docker's failure", Duration::from_secs(30), |s| {
            left_pane(s).contains(&format!("cannot reach Docker at {host} (DOCKER_HOST)"))
        })
        .await;
    let pane = left_pane(&screen);
    assert!(
        pane.contains("Point DOCKER_HOST at a running engine"),
        "{pane}"
    );
    assert!(!screen.contains("docker.sock"), "{screen}");
}

/// The text of the screen's left column of panes (Containers among them), its wrapped
/// lines joined again: a wrap only ever replaced a space.
fn left_pane(screen: &str) -> String {
    screen
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('│');
            cells.next()?;
            cells.next().map(str::trim)
        })
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the binary without a terminal; returns (exit code, stdout, stderr).
fn run_binary(args: &[&str], docker: &[(&str, String)]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"));
    command.args(args).current_dir(dir.path());
    for name in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        command.env_remove(name);
    }
    // Never the machine's own Docker config: each case brings its own.
    command.env("DOCKER_CONFIG", dir.path().join("no-docker-config"));
    for (name, value) in docker {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_ssh_engine_stops_the_cockpit_with_one_message_naming_it_and_the_fix() {
    let (code, stdout, stderr) = run_binary(&[], &[("DOCKER_HOST", "ssh://me@box".into())]);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert_eq!(
        stderr.trim(),
        "drill-cockpit: no Docker engine: DOCKER_HOST=ssh://me@box: drill-cockpit speaks to Docker over unix or tcp only; forward the socket (ssh -NL /tmp/docker.sock:/var/run/docker.sock me@box) and set DOCKER_HOST=unix:///tmp/docker.sock"
    );
}

#[test]
fn a_missing_context_stops_the_cockpit_and_config_says_why() {
    let docker = [("DOCKER_CONTEXT", "nowhere".to_string())];
    let (code, _, stderr) = run_binary(&[], &docker);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("no Docker engine: Docker context nowhere (DOCKER_CONTEXT) does not exist")
            && stderr.contains("unset DOCKER_CONTEXT for the default socket"),
        "{stderr}"
    );
    let (code, stdout, _) = run_binary(&["config"], &docker);
    assert_eq!(code, Some(0));
    let row = stdout
        .lines()
        .find(|l| l.starts_with("docker engine"))
        .unwrap_or_else(|| panic!("no docker engine row: {stdout}"));
    assert!(
        row.contains("none") && row.contains("Docker context nowhere"),
        "{row}"
    );
}

#[test]
fn config_names_the_engine_and_what_chose_it() {
    let config = tempfile::tempdir().unwrap();
    config_with_context(config.path(), "remote", "tcp://127.0.0.1:2375", true);
    let row_of = |docker: &[(&str, String)]| {
        let (code, stdout, stderr) = run_binary(&["config"], docker);
        assert_eq!(code, Some(0), "{stderr}");
        let row = stdout
            .lines()
            .find(|l| l.starts_with("docker engine"))
            .map(str::to_string);
        row.unwrap_or_else(|| panic!("no docker engine row: {stdout}"))
    };
    let by_context = row_of(&[("DOCKER_CONFIG", config.path().display().to_string())]);
    assert!(
        by_context.contains("tcp://127.0.0.1:2375")
            && by_context.contains("(context remote, from currentContext in"),
        "{by_context}"
    );
    let by_host = row_of(&[
        ("DOCKER_CONFIG", config.path().display().to_string()),
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock".into()),
    ]);
    assert!(
        by_host.contains("unix:///nonexistent/docker.sock") && by_host.ends_with("(DOCKER_HOST)"),
        "{by_host}"
    );
    let by_default = row_of(&[]);
    assert!(
        by_default.contains("unix:///var/run/docker.sock")
            && by_default.ends_with("(default socket)"),
        "{by_default}"
    );
}

/// Whether `docker info` answers on this machine (the real local engine).
fn local_docker_answers() -> Result<(), String> {
    let output = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_HOST", "unix:///var/run/docker.sock")
        .output()
        .map_err(|e| format!("`docker info` could not run: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`docker info` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A context made by the docker CLI itself, pointing at the real local socket: the
/// cockpit reads what the CLI wrote, connects, and lists its project; compose runs
/// against the same engine.
#[tokio::test]
async fn a_context_the_cli_made_for_the_local_socket_works() {
    if let Err(reason) = local_docker_answers() {
        testkit::env::unavailable::<()>("the local Docker engine", &reason);
        return;
    }
    let config = tempfile::tempdir().unwrap();
    let made = Command::new("docker")
        .args([
            "context",
            "create",
            "drilllocal",
            "--docker",
            "host=unix:///var/run/docker.sock",
        ])
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "docker context create: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let env = DockerEnv {
        docker_context: Some("drilllocal".into()),
        config_dir: Some(config.path().to_path_buf()),
        ..DockerEnv::default()
    };
    let engine = drill_cockpit::docker::engine::resolve(&env).unwrap();
    assert_eq!(engine.host, "unix:///var/run/docker.sock");
    assert!(
        matches!(&engine.origin, EngineOrigin::Context { name, .. } if name == "drilllocal"),
        "{engine}"
    );
    let project = format!(
        "drillctx{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let docker = ComposeDocker::connect(&engine, &project).await.unwrap();
    assert_eq!(docker.services().await.unwrap(), Vec::new());
    // Compose, given the same engine, validates the project's file there too.
    let infra = testkit::env::workspace_dir().join("docker-compose.infra.yml");
    for (tool, result) in compose::check_file(&engine, &infra, &project) {
        assert!(result.is_ok(), "{tool} on {engine}: {result:?}");
    }
}

/// A CA, a server certificate for localhost and 127.0.0.1, and a client certificate,
/// made by the openssl CLI under Docker's names (`ca.pem`, `cert.pem`, `key.pem`).
fn make_certificates(dir: &Path) -> Result<(), String> {
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=drill-test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=localhost
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 2 -extfile server.ext
openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=drill-cockpit
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile client.ext
"#;
    let output = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("sh: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `testkit/tls_docker_standin.py`: a Docker API over TLS that demands a client
/// certificate; what it heard, line by line (`METHOD PATH | USER-AGENT`).
struct TlsStandin {
    child: std::process::Child,
    port: u16,
    heard: Arc<Mutex<Vec<String>>>,
}

impl TlsStandin {
    fn start(certs: &Path) -> TlsStandin {
        use std::io::BufRead;
        let script = testkit::env::workspace_dir().join("testkit/tls_docker_standin.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["ca.pem", "server.pem", "server-key.pem"])
            .current_dir(certs)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the TLS stand-in");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .next()
            .and_then(Result::ok)
            .and_then(|line| line.trim().parse().ok())
            .expect("the stand-in prints its port first");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        TlsStandin { child, port, heard }
    }

    fn heard(&self) -> Vec<String> {
        self.heard.lock().unwrap().clone()
    }

    /// Waits until a line it heard contains every one of `parts` (its stdout is read
    /// on another thread, a moment after it answered).
    fn wait_heard(&self, parts: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self
            .heard()
            .iter()
            .any(|line| parts.iter().all(|part| line.contains(part)))
        {
            assert!(
                Instant::now() < deadline,
                "the TLS stand-in never heard {parts:?}: {:?}",
                self.heard()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TlsStandin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DOCKER_TLS_VERIFY with DOCKER_CERT_PATH: the connection verifies the engine against
/// ca.pem and shows cert.pem, and compose, handed the same engine, does the same.
#[tokio::test]
async fn a_tls_engine_is_reached_with_its_certificates_by_the_connection_and_compose() {
    let certs = tempfile::tempdir().unwrap();
    if let Err(reason) = make_certificates(certs.path()) {
        testkit::env::unavailable::<()>("the openssl CLI", &reason);
        return;
    }
    let standin = TlsStandin::start(certs.path());
    let env = DockerEnv {
        docker_host: Some(format!("tcp://localhost:{}", standin.port)),
        tls_verify: true,
        cert_path: Some(certs.path().to_path_buf()),
        ..DockerEnv::default()
    };
    let engine = drill_cockpit::docker::engine::resolve(&env).unwrap();
    assert_eq!(
        engine.to_string(),
        format!("tcp://localhost:{} with TLS (DOCKER_HOST)", standin.port)
    );
    let project = format!(
        "drilltls{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let docker = ComposeDocker::connect(&engine, &project)
        .await
        .unwrap_or_else(|e| panic!("{e}; the stand-in heard {:?}", standin.heard()));
    assert_eq!(docker.services().await.unwrap(), Vec::new());
    standin.wait_heard(&["/containers/json", "drill-cockpit/"]);

    let infra = testkit::env::workspace_dir().join("docker-compose.infra.yml");
    let compose = engine
        .command("docker-compose")
        .args(["-f", &infra.display().to_string(), "-p", &project, "ps"])
        .output();
    let Ok(compose) = compose else {
        testkit::env::unavailable::<()>("docker-compose", "apt-get install docker-compose");
        return;
    };
    assert!(
        compose.status.success(),
        "docker-compose ps over TLS: {}; the stand-in heard {:?}",
        String::from_utf8_lossy(&compose.stderr),
        standin.heard()
    );
    standin.wait_heard(&["/containers/json", "docker-compose/"]);
}
