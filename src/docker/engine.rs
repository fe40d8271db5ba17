//! Which Docker engine the cockpit uses, decided once and the way the docker CLI
//! decides: `DOCKER_HOST`, else `DOCKER_CONTEXT`, else the `currentContext` of Docker's
//! config, else the default socket. The bollard connection and every `docker` /
//! `docker-compose` child are handed that one engine (the children by an explicit
//! `DOCKER_HOST`), so the cockpit can never watch one daemon while compose starts the
//! stack on another. An engine the connection cannot speak (ssh) is refused in words,
//! never replaced by the local socket.

use std::fmt;
use std::path::{Path, PathBuf};

use bollard::{API_DEFAULT_VERSION, Docker};

use super::contexts::{self, ContextProblem};

pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// bollard's own default: `stop` with a grace period answers only once the container
/// stopped, so a request may rightly take long. Reachability has its own deadline.
const REQUEST_TIMEOUT_SECONDS: u64 = 120;

/// The Docker variables of an environment (this process's, or a test's own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerEnv {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    /// `DOCKER_TLS_VERIFY` set to anything but empty (the CLI's rule: even "0" is on).
    pub tls_verify: bool,
    pub cert_path: Option<PathBuf>,
    /// `DOCKER_CONFIG`, else `$HOME/.docker`; `None` without either.
    pub config_dir: Option<PathBuf>,
}

impl DockerEnv {
    /// From a lookup of variables; an empty value counts as unset, as for the CLI.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> DockerEnv {
        let set = |name: &str| get(name).filter(|value| !value.is_empty());
        DockerEnv {
            docker_host: set("DOCKER_HOST"),
            docker_context: set("DOCKER_CONTEXT"),
            tls_verify: set("DOCKER_TLS_VERIFY").is_some(),
            cert_path: set("DOCKER_CERT_PATH").map(PathBuf::from),
            config_dir: set("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".docker"))),
        }
    }

    pub fn of_process() -> DockerEnv {
        DockerEnv::from_lookup(|name| std::env::var(name).ok())
    }
}

/// What named the current context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextChoice {
    DockerContextVar,
    /// `currentContext` in this `config.json`.
    CurrentContext {
        config: PathBuf,
    },
}

impl fmt::Display for ContextChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextChoice::DockerContextVar => write!(f, "DOCKER_CONTEXT"),
            ContextChoice::CurrentContext { config } => {
                write!(f, "currentContext in {}", config.display())
            }
        }
    }
}

impl ContextChoice {
    /// How the user picks another engine than this context's.
    fn way_out(&self) -> &'static str {
        match self {
            ContextChoice::DockerContextVar => {
                "unset DOCKER_CONTEXT for the default socket, or set DOCKER_HOST"
            }
            ContextChoice::CurrentContext { .. } => {
                "`docker context use default` for the default socket, or set DOCKER_HOST"
            }
        }
    }
}

/// Where the engine choice came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineOrigin {
    DockerHost,
    Context {
        name: String,
        chosen_by: ContextChoice,
    },
    DefaultSocket,
}

impl EngineOrigin {
    /// Short, for records: `DOCKER_HOST`, `context NAME`, `default socket`.
    pub fn label(&self) -> String {
        match self {
            EngineOrigin::DockerHost => "DOCKER_HOST".into(),
            EngineOrigin::Context { name, .. } => format!("context {name}"),
            EngineOrigin::DefaultSocket => "default socket".into(),
        }
    }
}

impl fmt::Display for EngineOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineOrigin::Context { name, chosen_by } => {
                write!(f, "context {name}, from {chosen_by}")
            }
            other => write!(f, "{}", other.label()),
        }
    }
}

/// How the connection reaches the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Unix,
    /// Plain HTTP, or TLS with `ca.pem`, `cert.pem` and `key.pem` of this folder.
    Tcp {
        tls: Option<PathBuf>,
    },
}

/// The one engine of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// `unix:///PATH` or `tcp://HOST:PORT` (the port filled in when it was left out).
    pub host: String,
    pub transport: Transport,
    pub origin: EngineOrigin,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = match self.transport {
            Transport::Tcp { tls: Some(_) } => " with TLS",
            _ => "",
        };
        write!(f, "{}{tls} ({})", self.host, self.origin)
    }
}

/// Why no engine can be used: each names the engine, where it came from, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// Reached over ssh, which the connection does not speak.
    Ssh { host: String, origin: EngineOrigin },
    /// Neither `unix://PATH` nor `tcp://HOST[:PORT]`.
    Unsupported {
        host: String,
        origin: EngineOrigin,
        why: String,
    },
    /// The chosen context cannot be used.
    Context {
        name: String,
        chosen_by: ContextChoice,
        problem: ContextProblem,
    },
    /// Docker's `config.json` (whose `currentContext` decides) cannot be read.
    Config { path: PathBuf, problem: String },
    /// A context that skips verifying its TLS engine.
    SkipsTlsVerify { host: String, origin: EngineOrigin },
    /// `DOCKER_CERT_PATH` without `DOCKER_TLS_VERIFY`: the CLI would speak plain HTTP,
    /// docker-compose 1.x TLS without verification.
    CertPathWithoutVerify { host: String, cert_path: PathBuf },
    /// TLS without the CA to verify the engine against.
    NoCa {
        host: String,
        origin: EngineOrigin,
        ca: PathBuf,
    },
}

/// The engine as the user set it: `DOCKER_HOST=…`, or the context and its endpoint.
fn named(host: &str, origin: &EngineOrigin) -> String {
    match origin {
        EngineOrigin::DockerHost => format!("DOCKER_HOST={host}"),
        EngineOrigin::Context { name, chosen_by } => {
            format!("Docker context {name} ({chosen_by}) at {host}")
        }
        EngineOrigin::DefaultSocket => host.to_string(),
    }
}

/// `ssh -NL …` that forwards the engine's socket of an `ssh://[user@]host[:port]` URL.
fn ssh_forward(host: &str) -> String {
    let target = host.trim_start_matches("ssh://").trim_end_matches('/');
    let (target, port) = match target.rsplit_once(':') {
        Some((target, port)) if port.parse::<u16>().is_ok() => (target, Some(port)),
        _ => (target, None),
    };
    let port = port.map(|p| format!(" -p {p}")).unwrap_or_default();
    format!("ssh -NL /tmp/docker.sock:/var/run/docker.sock{port} {target}")
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Ssh { host, origin } => write!(
                f,
                "{}: drill-cockpit speaks to Docker over unix or tcp only; forward the socket ({}) and set DOCKER_HOST=unix:///tmp/docker.sock",
                named(host, origin),
                ssh_forward(host)
            ),
            EngineError::Unsupported { host, origin, why } => write!(
                f,
                "{}: {why}; drill-cockpit speaks to Docker at unix:///PATH or tcp://HOST:PORT (set DOCKER_HOST to one)",
                named(host, origin)
            ),
            EngineError::Context {
                name,
                chosen_by,
                problem,
            } => {
                let way_out = chosen_by.way_out();
                match problem {
                    ContextProblem::Missing { meta } => write!(
                        f,
                        "Docker context {name} ({chosen_by}) does not exist: no {}. `docker context ls` lists the contexts; {way_out}",
                        meta.display()
                    ),
                    ContextProblem::Unreadable { path, problem } => write!(
                        f,
                        "Docker context {name} ({chosen_by}): cannot read {}: {problem}. Repair it with `docker context update {name}`, or {way_out}",
                        path.display()
                    ),
                    ContextProblem::NoDockerEndpoint { meta } => write!(
                        f,
                        "Docker context {name} ({chosen_by}) has no docker endpoint in {}: it does not point at a Docker engine; {way_out}",
                        meta.display()
                    ),
                }
            }
            EngineError::Config { path, problem } => write!(
                f,
                "cannot read Docker's config {}: {problem}. Its currentContext decides the engine: repair the file, or set DOCKER_HOST (or DOCKER_CONTEXT) to say which engine",
                path.display()
            ),
            EngineError::SkipsTlsVerify { host, origin } => {
                let update = match origin {
                    EngineOrigin::Context { name, .. } => format!(
                        "`docker context update {name} --docker host={host},ca=CA,cert=CERT,key=KEY`"
                    ),
                    _ => "a context with the engine's CA".into(),
                };
                write!(
                    f,
                    "{} uses TLS without verifying the engine (SkipTLSVerify): drill-cockpit verifies every TLS engine; give it the engine's CA ({update}), or set DOCKER_HOST={host} with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH",
                    named(host, origin)
                )
            }
            EngineError::CertPathWithoutVerify { host, cert_path } => write!(
                f,
                "DOCKER_HOST={host} with DOCKER_CERT_PATH={} but without DOCKER_TLS_VERIFY: `docker compose` would speak plain HTTP to it and docker-compose 1.x TLS without verifying it; set DOCKER_TLS_VERIFY=1 for TLS with those certificates, or unset DOCKER_CERT_PATH for plain HTTP",
                cert_path.display()
            ),
            EngineError::NoCa { host, origin, ca } => {
                let fix = match origin {
                    EngineOrigin::DockerHost => {
                        "set DOCKER_CERT_PATH to the folder holding ca.pem, cert.pem and key.pem"
                    }
                    _ => "give the context the engine's CA with `docker context update`",
                };
                write!(
                    f,
                    "{} uses TLS but {} does not exist: drill-cockpit verifies the engine against it; {fix}",
                    named(host, origin),
                    ca.display()
                )
            }
        }
    }
}

impl std::error::Error for EngineError {}

/// The engine of `env`, decided as the docker CLI decides it.
pub fn resolve(env: &DockerEnv) -> Result<Engine, EngineError> {
    if let Some(host) = &env.docker_host {
        return from_docker_host(host, env);
    }
    let chosen = match (&env.docker_context, &env.config_dir) {
        (Some(name), _) => Some((name.clone(), ContextChoice::DockerContextVar)),
        (None, Some(config_dir)) => contexts::current_context(config_dir)
            .map_err(|unreadable| EngineError::Config {
                path: unreadable.path,
                problem: unreadable.problem,
            })?
            .map(|name| {
                let config = config_dir.join("config.json");
                (name, ContextChoice::CurrentContext { config })
            }),
        (None, None) => None,
    };
    match chosen {
        // `default` is the CLI's name for "DOCKER_HOST, else the default socket".
        Some((name, chosen_by)) if name != "default" => from_context(env, name, chosen_by),
        _ => Ok(Engine {
            host: DEFAULT_SOCKET.into(),
            transport: Transport::Unix,
            origin: EngineOrigin::DefaultSocket,
        }),
    }
}

fn from_docker_host(host: &str, env: &DockerEnv) -> Result<Engine, EngineError> {
    let origin = EngineOrigin::DockerHost;
    let tls = match (&env.cert_path, env.tls_verify) {
        (_, false) if !host.starts_with("tcp://") => None,
        (Some(cert_path), false) => {
            return Err(EngineError::CertPathWithoutVerify {
                host: host.to_string(),
                cert_path: cert_path.clone(),
            });
        }
        (None, false) => None,
        // The CLI's default certificate folder is Docker's config folder.
        (given, true) => Some(
            given
                .clone()
                .or_else(|| env.config_dir.clone())
                .unwrap_or_else(|| PathBuf::from("~/.docker")),
        ),
    };
    parse_host(host, origin, tls)
}

fn from_context(
    env: &DockerEnv,
    name: String,
    chosen_by: ContextChoice,
) -> Result<Engine, EngineError> {
    let context_error = |problem| EngineError::Context {
        name: name.clone(),
        chosen_by: chosen_by.clone(),
        problem,
    };
    let Some(config_dir) = &env.config_dir else {
        return Err(context_error(ContextProblem::Missing {
            meta: Path::new("$HOME/.docker (neither DOCKER_CONFIG nor HOME is set)").into(),
        }));
    };
    let stored = contexts::load(config_dir, &name).map_err(context_error)?;
    let origin = EngineOrigin::Context {
        name: name.clone(),
        chosen_by: chosen_by.clone(),
    };
    if stored.skip_tls_verify && stored.host.starts_with("tcp://") {
        return Err(EngineError::SkipsTlsVerify {
            host: stored.host,
            origin,
        });
    }
    parse_host(&stored.host, origin, stored.tls_dir)
}

/// `unix:///PATH` or `tcp://HOST[:PORT]` (2375, or 2376 with TLS, when left out, as
/// for the CLI); anything else is refused in words.
fn parse_host(
    host: &str,
    origin: EngineOrigin,
    tls: Option<PathBuf>,
) -> Result<Engine, EngineError> {
    let unsupported = |why: &str| EngineError::Unsupported {
        host: host.to_string(),
        origin: origin.clone(),
        why: why.to_string(),
    };
    if host.starts_with("ssh://") {
        return Err(EngineError::Ssh {
            host: host.to_string(),
            origin,
        });
    }
    if let Some(path) = host.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(unsupported("a unix socket needs an absolute path"));
        }
        return Ok(Engine {
            host: host.to_string(),
            transport: Transport::Unix,
            origin,
        });
    }
    let Some(address) = host.strip_prefix("tcp://") else {
        return Err(unsupported(
            "not a scheme drill-cockpit speaks (unix:// or tcp://)",
        ));
    };
    let address = address.trim_end_matches('/');
    if address.is_empty() || address.contains('/') {
        return Err(unsupported(
            "a tcp engine is tcp://HOST:PORT, without a path",
        ));
    }
    let has_port = match address.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((name, port)) if !address.ends_with(']') => {
            if name.is_empty() || port.parse::<u16>().is_err() {
                return Err(unsupported("its port is not a number from 0 to 65535"));
            }
            true
        }
        _ => false,
    };
    let address = if has_port {
        address.to_string()
    } else if tls.is_some() {
        format!("{address}:2376")
    } else {
        format!("{address}:2375")
    };
    if let Some(dir) = &tls {
        let ca = dir.join("ca.pem");
        if !ca.is_file() {
            return Err(EngineError::NoCa {
                host: format!("tcp://{address}"),
                origin,
                ca,
            });
        }
    }
    Ok(Engine {
        host: format!("tcp://{address}"),
        transport: Transport::Tcp { tls },
        origin,
    })
}

/// `User-Agent: drill-cockpit/VERSION`: the engine's own logs (and a test's stand-in)
/// tell the cockpit's requests from compose's.
fn name_the_client(mut request: bollard::BollardRequest) -> bollard::BollardRequest {
    request.headers_mut().insert(
        hyper::header::USER_AGENT,
        hyper::header::HeaderValue::from_static(concat!(
            "drill-cockpit/",
            env!("CARGO_PKG_VERSION")
        )),
    );
    request
}

impl Engine {
    /// A bollard client of this engine (nothing is sent yet).
    pub fn client(&self) -> Result<Docker, bollard::errors::Error> {
        self.transport_client()
            .map(|docker| docker.with_request_modifier(name_the_client))
    }

    fn transport_client(&self) -> Result<Docker, bollard::errors::Error> {
        crate::tls::install_provider();
        match &self.transport {
            Transport::Unix => {
                Docker::connect_with_unix(&self.host, REQUEST_TIMEOUT_SECONDS, API_DEFAULT_VERSION)
            }
            Transport::Tcp { tls: None } => {
                Docker::connect_with_http(&self.host, REQUEST_TIMEOUT_SECONDS, API_DEFAULT_VERSION)
            }
            Transport::Tcp { tls: Some(dir) } => Docker::connect_with_ssl(
                &self.host,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                REQUEST_TIMEOUT_SECONDS,
                API_DEFAULT_VERSION,
            ),
        }
    }

    /// The variables a `docker` or `docker-compose` child gets: this engine as
    /// `DOCKER_HOST` (which outranks any context for both), no `DOCKER_CONTEXT`
    /// (docker-compose 1.x ignores it, the CLI would refuse it beside DOCKER_HOST), and
    /// the TLS pair exactly when this engine is TLS (`None`: removed).
    pub fn child_env(&self) -> [(&'static str, Option<String>); 4] {
        let tls = match &self.transport {
            Transport::Tcp { tls: Some(dir) } => Some(dir.display().to_string()),
            _ => None,
        };
        [
            ("DOCKER_HOST", Some(self.host.clone())),
            ("DOCKER_CONTEXT", None),
            ("DOCKER_TLS_VERIFY", tls.as_ref().map(|_| "1".to_string())),
            ("DOCKER_CERT_PATH", tls),
        ]
    }

    /// `program`, to be run against this engine.
    pub fn command(&self, program: &str) -> std::process::Command {
        let mut command = std::process::Command::new(program);
        for (name, value) in self.child_env() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        if matches!(self.transport, Transport::Tcp { tls: Some(_) }) {
            // docker-compose 1.x talks to the engine through Python's `requests`, which
            // lets these variables replace the engine's ca.pem (so a private CA fails
            // to verify); they only ever concern that connection there.
            command.env_remove("REQUESTS_CA_BUNDLE");
            command.env_remove("CURL_CA_BUNDLE");
        }
        command
    }

    /// What to try when this engine does not answer.
    pub fn unreachable_fix(&self) -> String {
        match &self.origin {
            EngineOrigin::DockerHost => "Is the daemon running and listening there? Point DOCKER_HOST at a running engine, or unset it for the local socket".into(),
            EngineOrigin::Context { chosen_by, .. } => {
                format!("Is the daemon running there? Else {}", chosen_by.way_out())
            }
            EngineOrigin::DefaultSocket => {
                "Is the daemon running? Set DOCKER_HOST to use another engine".into()
            }
        }
    }

    /// For `_recipe.json`: the engine, where it came from, whether TLS.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "engine": self.host,
            "origin": self.origin.label(),
            "chosen_by": match &self.origin {
                EngineOrigin::Context { chosen_by, .. } => Some(chosen_by.to_string()),
                _ => None,
            },
            "tls": matches!(self.transport, Transport::Tcp { tls: Some(_) }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Docker config folder laid out as the CLI writes it.
    struct ConfigDir(tempfile::TempDir);

    impl ConfigDir {
        fn new() -> ConfigDir {
            ConfigDir(tempfile::tempdir().unwrap())
        }

        fn path(&self) -> PathBuf {
            self.0.path().to_path_buf()
        }

        fn current(&self, name: &str) -> &ConfigDir {
            std::fs::write(
                self.0.path().join("config.json"),
                format!("{{\"auths\": {{}}, \"currentContext\": \"{name}\"}}"),
            )
            .unwrap();
            self
        }

        fn context(&self, name: &str, host: &str, skip_tls_verify: bool) -> &ConfigDir {
            let meta = contexts::meta_file(self.0.path(), name);
            std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
            std::fs::write(
                meta,
                format!(
                    "{{\"Name\":\"{name}\",\"Metadata\":{{}},\"Endpoints\":{{\"docker\":{{\"Host\":\"{host}\",\"SkipTLSVerify\":{skip_tls_verify}}}}}}}"
                ),
            )
            .unwrap();
            self
        }

        fn context_tls(&self, name: &str) -> PathBuf {
            let dir = self
                .0
                .path()
                .join("contexts/tls")
                .join(contexts::folder_of(name))
                .join("docker");
            std::fs::create_dir_all(&dir).unwrap();
            for file in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::write(dir.join(file), "-----BEGIN CERTIFICATE-----\n").unwrap();
            }
            dir
        }

        fn env(&self) -> DockerEnv {
            DockerEnv {
                config_dir: Some(self.path()),
                ..DockerEnv::default()
            }
        }
    }

    #[test]
    fn nothing_set_is_the_default_socket() {
        let engine = resolve(&ConfigDir::new().env()).unwrap();
        assert_eq!(engine.host, DEFAULT_SOCKET);
        assert_eq!(engine.origin, EngineOrigin::DefaultSocket);
        assert_eq!(
            engine.to_string(),
            "unix:///var/run/docker.sock (default socket)"
        );
        assert_eq!(resolve(&DockerEnv::default()).unwrap(), engine);
    }

    #[test]
    fn the_current_context_is_read_from_the_store_by_the_sha256_of_its_name() {
        let config = ConfigDir::new();
        config
            .current("remote")
            .context("remote", "tcp://10.1.2.3:2375", false);
        let engine = resolve(&config.env()).unwrap();
        assert_eq!(engine.host, "tcp://10.1.2.3:2375");
        assert_eq!(engine.transport, Transport::Tcp { tls: None });
        assert_eq!(engine.origin.label(), "context remote");
        assert_eq!(
            engine.to_string(),
            format!(
                "tcp://10.1.2.3:2375 (context remote, from currentContext in {})",
                config.path().join("config.json").display()
            )
        );
    }

    #[test]
    fn docker_host_outranks_every_context() {
        let config = ConfigDir::new();
        config
            .current("remote")
            .context("remote", "tcp://10.1.2.3:2375", false)
            .context("other", "tcp://10.9.9.9:2375", false);
        let env = DockerEnv {
            docker_host: Some("unix:///tmp/forwarded.sock".into()),
            docker_context: Some("other".into()),
            ..config.env()
        };
        let engine = resolve(&env).unwrap();
        assert_eq!(engine.host, "unix:///tmp/forwarded.sock");
        assert_eq!(engine.origin, EngineOrigin::DockerHost);
    }

    #[test]
    fn docker_context_outranks_the_current_context() {
        let config = ConfigDir::new();
        config
            .current("remote")
            .context("remote", "tcp://10.1.2.3:2375", false)
            .context("other", "unix:///run/other.sock", false);
        let env = DockerEnv {
            docker_context: Some("other".into()),
            ..config.env()
        };
        let engine = resolve(&env).unwrap();
        assert_eq!(engine.host, "unix:///run/other.sock");
        assert_eq!(
            engine.origin,
            EngineOrigin::Context {
                name: "other".into(),
                chosen_by: ContextChoice::DockerContextVar
            }
        );
        // `default` is the CLI's name for the default socket, whatever is current.
        let env = DockerEnv {
            docker_context: Some("default".into()),
            ..config.env()
        };
        assert_eq!(resolve(&env).unwrap().host, DEFAULT_SOCKET);
    }

    #[test]
    fn a_context_that_does_not_exist_is_named_with_its_file_and_the_way_out() {
        let config = ConfigDir::new();
        config.current("gone");
        let error = resolve(&config.env()).unwrap_err().to_string();
        let meta = contexts::meta_file(&config.path(), "gone");
        assert!(
            error.starts_with(&format!(
                "Docker context gone (currentContext in {}) does not exist: no {}",
                config.path().join("config.json").display(),
                meta.display()
            )),
            "{error}"
        );
        assert!(error.contains("`docker context use default`"), "{error}");
    }

    #[test]
    fn a_broken_config_is_refused_not_guessed_past() {
        let config = ConfigDir::new();
        std::fs::write(config.path().join("config.json"), "{\"currentContext\": ").unwrap();
        let error = resolve(&config.env()).unwrap_err();
        assert!(matches!(error, EngineError::Config { .. }), "{error}");
        assert!(error.to_string().contains("set DOCKER_HOST"), "{error}");
    }

    #[test]
    fn tcp_with_tls_variables_is_tls_with_the_cert_path_and_the_tls_port() {
        let certs = tempfile::tempdir().unwrap();
        std::fs::write(certs.path().join("ca.pem"), "ca").unwrap();
        let env = DockerEnv {
            docker_host: Some("tcp://docker.example".into()),
            tls_verify: true,
            cert_path: Some(certs.path().to_path_buf()),
            ..DockerEnv::default()
        };
        let engine = resolve(&env).unwrap();
        assert_eq!(engine.host, "tcp://docker.example:2376");
        assert_eq!(
            engine.transport,
            Transport::Tcp {
                tls: Some(certs.path().to_path_buf())
            }
        );
        assert_eq!(
            engine.to_string(),
            "tcp://docker.example:2376 with TLS (DOCKER_HOST)"
        );
        let child = engine.child_env();
        assert_eq!(
            child,
            [
                ("DOCKER_HOST", Some("tcp://docker.example:2376".into())),
                ("DOCKER_CONTEXT", None),
                ("DOCKER_TLS_VERIFY", Some("1".into())),
                ("DOCKER_CERT_PATH", Some(certs.path().display().to_string())),
            ]
        );
        // Without a CA there is nothing to verify the engine against.
        std::fs::remove_file(certs.path().join("ca.pem")).unwrap();
        let error = resolve(&env).unwrap_err().to_string();
        assert!(
            error.contains("DOCKER_HOST=tcp://docker.example:2376 uses TLS but")
                && error.contains("ca.pem does not exist"),
            "{error}"
        );
    }

    #[test]
    fn tls_verify_falls_back_to_the_config_folder_for_its_certificates() {
        let config = ConfigDir::new();
        std::fs::write(config.path().join("ca.pem"), "ca").unwrap();
        let env = DockerEnv {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            tls_verify: true,
            ..config.env()
        };
        assert_eq!(
            resolve(&env).unwrap().transport,
            Transport::Tcp {
                tls: Some(config.path())
            }
        );
    }

    #[test]
    fn a_cert_path_without_tls_verify_is_refused_the_tools_would_disagree() {
        let env = DockerEnv {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            cert_path: Some("/certs".into()),
            ..DockerEnv::default()
        };
        let error = resolve(&env).unwrap_err().to_string();
        assert!(
            error.starts_with("DOCKER_HOST=tcp://127.0.0.1:2376 with DOCKER_CERT_PATH=/certs but without DOCKER_TLS_VERIFY"),
            "{error}"
        );
        // A unix socket has no TLS: the variables do not matter there.
        let env = DockerEnv {
            docker_host: Some("unix:///var/run/docker.sock".into()),
            cert_path: Some("/certs".into()),
            ..DockerEnv::default()
        };
        assert_eq!(resolve(&env).unwrap().transport, Transport::Unix);
    }

    #[test]
    fn a_context_with_tls_files_is_tls_and_one_skipping_verification_is_refused() {
        let config = ConfigDir::new();
        config
            .current("secure")
            .context("secure", "tcp://10.1.2.3:2376", false);
        let tls = config.context_tls("secure");
        let engine = resolve(&config.env()).unwrap();
        assert_eq!(engine.transport, Transport::Tcp { tls: Some(tls) });

        config
            .current("lax")
            .context("lax", "tcp://10.1.2.3:2376", true);
        let error = resolve(&config.env()).unwrap_err().to_string();
        assert!(
            error.starts_with("Docker context lax (currentContext in")
                && error.contains("uses TLS without verifying the engine (SkipTLSVerify)")
                && error.contains("docker context update lax"),
            "{error}"
        );
    }

    #[test]
    fn ssh_is_refused_with_the_forward_that_makes_it_a_socket() {
        let env = DockerEnv {
            docker_host: Some("ssh://me@box".into()),
            ..DockerEnv::default()
        };
        assert_eq!(
            resolve(&env).unwrap_err().to_string(),
            "DOCKER_HOST=ssh://me@box: drill-cockpit speaks to Docker over unix or tcp only; forward the socket (ssh -NL /tmp/docker.sock:/var/run/docker.sock me@box) and set DOCKER_HOST=unix:///tmp/docker.sock"
        );
        let config = ConfigDir::new();
        config
            .current("box")
            .context("box", "ssh://me@box:2222", false);
        let error = resolve(&config.env()).unwrap_err().to_string();
        assert!(
            error.starts_with("Docker context box (currentContext in")
                && error.contains(
                    "at ssh://me@box:2222: drill-cockpit speaks to Docker over unix or tcp only"
                )
                && error.contains("(ssh -NL /tmp/docker.sock:/var/run/docker.sock -p 2222 me@box)"),
            "{error}"
        );
    }

    #[test]
    fn hosts_that_are_not_unix_or_tcp_addresses_are_refused_in_words() {
        for (host, why) in [
            ("npipe:////./pipe/docker_engine", "not a scheme"),
            ("/var/run/docker.sock", "not a scheme"),
            ("unix://var/run/docker.sock", "absolute path"),
            ("tcp://box:port", "port is not a number"),
            ("tcp://box:2375/v1", "without a path"),
        ] {
            let env = DockerEnv {
                docker_host: Some(host.into()),
                ..DockerEnv::default()
            };
            let error = resolve(&env).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("DOCKER_HOST={host}: ")) && error.contains(why),
                "{host}: {error}"
            );
        }
        let env = DockerEnv {
            docker_host: Some("tcp://[::1]".into()),
            ..DockerEnv::default()
        };
        assert_eq!(resolve(&env).unwrap().host, "tcp://[::1]:2375");
    }

    #[test]
    fn empty_variables_count_as_unset_like_for_the_cli() {
        let env = DockerEnv::from_lookup(|name| match name {
            "DOCKER_HOST" | "DOCKER_TLS_VERIFY" => Some(String::new()),
            "DOCKER_CONTEXT" => Some("remote".into()),
            "HOME" => Some("/home/me".into()),
            _ => None,
        });
        assert_eq!(
            env,
            DockerEnv {
                docker_context: Some("remote".into()),
                config_dir: Some("/home/me/.docker".into()),
                ..DockerEnv::default()
            }
        );
    }

    #[test]
    fn a_plain_engine_clears_the_tls_variables_of_the_child() {
        let env = DockerEnv {
            docker_host: Some("tcp://127.0.0.1:2375".into()),
            ..DockerEnv::default()
        };
        let command = resolve(&env).unwrap().command("docker");
        let envs: Vec<(String, Option<String>)> = command
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert!(envs.contains(&("DOCKER_HOST".into(), Some("tcp://127.0.0.1:2375".into()))));
        for removed in ["DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] {
            assert!(
                envs.contains(&(removed.into(), None)),
                "{removed}: {envs:?}"
            );
        }
    }
}
