//! Docker's own context store, read the way the docker CLI writes it:
//! `$DOCKER_CONFIG/config.json` names the current context (`currentContext`), and a
//! context `NAME` lives in `contexts/meta/<sha256 of NAME>/meta.json` (its endpoint:
//! `Endpoints.docker.Host`, `SkipTLSVerify`) with its TLS files, when it has any, in
//! `contexts/tls/<sha256 of NAME>/docker/` (`ca.pem`, `cert.pem`, `key.pem`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The docker endpoint of one stored context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContext {
    pub host: String,
    pub skip_tls_verify: bool,
    /// The folder of its TLS files, when the context has any.
    pub tls_dir: Option<PathBuf>,
}

/// Why a context could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextProblem {
    /// No `meta.json` for that name: the context does not exist.
    Missing { meta: PathBuf },
    /// The file exists but cannot be read or parsed.
    Unreadable { path: PathBuf, problem: String },
    /// The context has no docker endpoint (another orchestrator's context).
    NoDockerEndpoint { meta: PathBuf },
}

/// The folder name of a context in the store: the hex SHA-256 of its name (the CLI's
/// choice, so that any name is a valid folder name).
pub fn folder_of(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub fn meta_file(config_dir: &Path, name: &str) -> PathBuf {
    config_dir
        .join("contexts")
        .join("meta")
        .join(folder_of(name))
        .join("meta.json")
}

fn tls_dir(config_dir: &Path, name: &str) -> PathBuf {
    config_dir
        .join("contexts")
        .join("tls")
        .join(folder_of(name))
        .join("docker")
}

/// Docker's `config.json` exists but cannot be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUnreadable {
    pub path: PathBuf,
    pub problem: String,
}

/// `currentContext` of `config.json` (`None`: no file, or it names none). A file that
/// exists but does not parse is a problem: guessing past it could pick another engine.
pub fn current_context(config_dir: &Path) -> Result<Option<String>, ConfigUnreadable> {
    let path = config_dir.join("config.json");
    let unreadable = |problem: String| ConfigUnreadable {
        path: path.clone(),
        problem,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(unreadable(error.to_string())),
    };
    let config: Value =
        serde_json::from_str(&text).map_err(|error| unreadable(error.to_string()))?;
    Ok(config
        .get("currentContext")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_string))
}

/// The docker endpoint of context `name`.
pub fn load(config_dir: &Path, name: &str) -> Result<StoredContext, ContextProblem> {
    let meta = meta_file(config_dir, name);
    let text = match std::fs::read_to_string(&meta) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContextProblem::Missing { meta });
        }
        Err(error) => {
            return Err(ContextProblem::Unreadable {
                path: meta,
                problem: error.to_string(),
            });
        }
    };
    let parsed: Value =
        serde_json::from_str(&text).map_err(|error| ContextProblem::Unreadable {
            path: meta.clone(),
            problem: error.to_string(),
        })?;
    let endpoint = parsed.pointer("/Endpoints/docker");
    let Some(host) = endpoint
        .and_then(|e| e.get("Host"))
        .and_then(Value::as_str)
        .filter(|host| !host.is_empty())
    else {
        return Err(ContextProblem::NoDockerEndpoint { meta });
    };
    let skip_tls_verify = endpoint
        .and_then(|e| e.get("SkipTLSVerify"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let tls = tls_dir(config_dir, name);
    let has_tls_files = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .any(|file| tls.join(file).is_file());
    Ok(StoredContext {
        host: host.to_string(),
        skip_tls_verify,
        tls_dir: has_tls_files.then_some(tls),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_folder_is_the_sha256_of_its_name() {
        // `docker context create remote` writes contexts/meta/b711…7a7a/meta.json.
        assert_eq!(
            folder_of("remote"),
            "b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a"
        );
    }

    #[test]
    fn a_config_without_current_context_names_none_and_a_broken_one_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(current_context(dir.path()), Ok(None));
        std::fs::write(dir.path().join("config.json"), r#"{"auths": {}}"#).unwrap();
        assert_eq!(current_context(dir.path()), Ok(None));
        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        assert!(matches!(
            current_context(dir.path()),
            Err(ConfigUnreadable { path, .. }) if path == dir.path().join("config.json")
        ));
    }

    #[test]
    fn a_context_of_another_orchestrator_has_no_docker_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let meta = meta_file(dir.path(), "k8s");
        std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
        std::fs::write(&meta, r#"{"Name":"k8s","Endpoints":{"kubernetes":{}}}"#).unwrap();
        assert_eq!(
            load(dir.path(), "k8s"),
            Err(ContextProblem::NoDockerEndpoint { meta })
        );
    }
}
