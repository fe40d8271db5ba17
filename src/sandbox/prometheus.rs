//! The sandbox's Prometheus (`--prometheus`): a throwaway server from the machine's own
//! `prometheus` binary, in a temporary directory, scraping every worker each second
//! through file-based service discovery (the session rewrites the targets file as
//! workers start and stop). Killed and its directory deleted when the sandbox ends;
//! it dies with us (`PR_SET_PDEATHSIG`) when we are killed, and the next start deletes
//! a dead process's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to run when no binary exists.
pub const INSTALL_HINT: &str = "install Prometheus: Debian/Ubuntu `sudo apt-get install prometheus`, Fedora `sudo dnf install golang-github-prometheus`, macOS `brew install prometheus`; or name its binary with DRILL_PROMETHEUS_BIN";

/// The job of the workers' series (the session's selector names it).
pub const JOB: &str = "drill-sandbox";

/// The prefix of its directories in the temporary directory (`<prefix><pid>-<n>`).
const DIR_PREFIX: &str = "drill-cockpit-prometheus-";

/// How long the server has to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// `DRILL_PROMETHEUS_BIN`, then `prometheus` on `PATH`.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DRILL_PROMETHEUS_BIN").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

/// The binary to run, or why there is none and how to get one.
pub fn binary() -> Result<PathBuf, String> {
    match (find_binary(), std::env::var_os("DRILL_PROMETHEUS_BIN")) {
        (Some(binary), _) => Ok(binary),
        (None, Some(given)) => Err(format!(
            "--prometheus: DRILL_PROMETHEUS_BIN={} is not a file; point it at the `prometheus` binary or unset it to use the one on PATH",
            PathBuf::from(given).display()
        )),
        (None, None) => Err(format!(
            "--prometheus needs the `prometheus` binary and none is on PATH: {INSTALL_HINT}"
        )),
    }
}

/// Its configuration: one job, every second, targets from `targets.json`.
pub fn config_yaml(targets_file: &Path) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: {JOB}\n    file_sd_configs:\n      - files: [{:?}]\n        refresh_interval: 1s\n",
        targets_file.display().to_string()
    )
}

/// The targets file's content: every worker's `host:port`.
pub fn targets_json(targets: &[String]) -> String {
    serde_json::json!([{"targets": targets, "labels": {}}]).to_string()
}

/// A running throwaway Prometheus; killed and its directory deleted on drop.
pub struct LocalPrometheus {
    pub port: u16,
    dir: PathBuf,
    child: tokio::process::Child,
}

impl std::fmt::Debug for LocalPrometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPrometheus")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish()
    }
}

impl LocalPrometheus {
    /// Starts it on a free loopback port and waits until it is ready.
    pub async fn start() -> Result<LocalPrometheus, String> {
        let binary = binary()?;
        sweep_dead_dirs(&std::env::temp_dir());
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("creating Prometheus's directory {}: {e}", dir.display()))?;
        let port = drill_sim::ports::spare_port(&[])
            .map_err(|e| format!("no free port on 127.0.0.1 for Prometheus: {e}"));
        // From here every failure deletes the directory (the value's drop).
        let spawned = port.and_then(|port| spawn(&binary, &dir, port).map(|child| (port, child)));
        let (port, child) = match spawned {
            Ok(spawned) => spawned,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        };
        let mut prometheus = LocalPrometheus { port, dir, child };
        prometheus.wait_ready(&binary).await?;
        Ok(prometheus)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the targets file whole (written beside it, then renamed: Prometheus
    /// never reads half a file).
    pub fn write_targets(&self, targets: &[String]) -> Result<(), String> {
        let file = self.dir.join("targets.json");
        let partial = self.dir.join(".targets.json.tmp");
        std::fs::write(&partial, targets_json(targets))
            .and_then(|()| std::fs::rename(&partial, &file))
            .map_err(|e| format!("writing Prometheus's targets file {}: {e}", file.display()))
    }

    async fn wait_ready(&mut self, binary: &Path) -> Result<(), String> {
        let http = crate::sources::metrics::client();
        let ready = format!("{}/-/ready", self.url());
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(response) = http.get(&ready).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            let log = || {
                let text =
                    std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
                text.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| crate::sanitize::one_line(l, 300))
                    .unwrap_or_else(|| "(its log is empty)".into())
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "Prometheus ({}) exited ({status}) before it was ready, saying: {}",
                    binary.display(),
                    log()
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "Prometheus ({}) was not ready at {ready} within {} s; its last line: {}",
                    binary.display(),
                    READY_TIMEOUT.as_secs(),
                    log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn spawn(binary: &Path, dir: &Path, port: u16) -> Result<tokio::process::Child, String> {
    let targets = dir.join("targets.json");
    let config = dir.join("prometheus.yml");
    std::fs::write(&targets, targets_json(&[]))
        .and_then(|()| std::fs::write(&config, config_yaml(&targets)))
        .map_err(|e| {
            format!(
                "writing Prometheus's configuration in {}: {e}",
                dir.display()
            )
        })?;
    let log = std::fs::File::create(dir.join("prometheus.log"))
        .map_err(|e| format!("creating Prometheus's log in {}: {e}", dir.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("Prometheus's log: {e}"))?;
    let mut command = tokio::process::Command::new(binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=1d")
        .arg("--log.level=warn")
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true);
    crate::leftovers::procs::die_with_parent(&mut command);
    command
        .spawn()
        .map_err(|e| format!("starting Prometheus ({}): {e}", binary.display()))
}

impl Drop for LocalPrometheus {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Its files are deleted once it no longer writes them.
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Deletes the directories of sandbox Prometheus servers whose drill-cockpit died
/// (killed with SIGKILL: its server died with it, the directory stayed).
fn sweep_dead_dirs(temp: &Path) {
    for entry in std::fs::read_dir(temp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_scrapes_the_targets_file_every_second() {
        let yaml = config_yaml(Path::new("/tmp/x/targets.json"));
        assert!(yaml.contains("scrape_interval: 1s"));
        assert!(yaml.contains("files: [\"/tmp/x/targets.json\"]"));
        assert!(yaml.contains("refresh_interval: 1s"));
        assert!(yaml.contains(&format!("job_name: {JOB}")));
        let targets: serde_json::Value =
            serde_json::from_str(&targets_json(&["127.0.0.1:9".into()])).unwrap();
        assert_eq!(targets[0]["targets"][0], "127.0.0.1:9");
    }

    #[test]
    fn a_dead_processs_directory_is_swept_and_a_live_ones_kept() {
        let temp = tempfile::tempdir().unwrap();
        // pid 1 always runs; a pid above the kernel's maximum never does.
        let live = temp.path().join(format!("{DIR_PREFIX}1-7"));
        let dead = temp.path().join(format!("{DIR_PREFIX}4194305-7"));
        let other = temp.path().join("unrelated-4194305");
        for dir in [&live, &dead, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        sweep_dead_dirs(temp.path());
        assert!(live.exists() && other.exists());
        assert!(!dead.exists());
    }
}
