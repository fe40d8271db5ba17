//! Drills recorded in the sandbox: the binary alone, Docker hidden, no DATABASE_URL.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the sandbox can start here (it needs PostgreSQL's server binaries).
pub fn available() -> bool {
    drill_cockpit::sandbox::postgres::find_bin_dir().is_some()
        || testkit::env::unavailable::<()>(
            "PostgreSQL server binaries",
            "install postgresql; scripts/test does",
        )
        .is_some()
}

/// `drill-cockpit` as a newcomer runs it: Docker nowhere, no database given, runs
/// written below `snapshots`.
pub fn command(snapshots: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"));
    command
        .env_remove("DATABASE_URL")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("WORDLOOM_ENV", "test")
        .env("OUTBOX_BASE_BACKOFF_SECONDS", "0.3")
        .args([
            "--set",
            &format!("cockpit.snapshots_dir={}", snapshots.display()),
        ]);
    command
}

/// The only run directory of `scenario` below `snapshots`.
pub fn run_dir(snapshots: &Path, scenario: &str) -> PathBuf {
    std::fs::read_dir(snapshots.join(scenario))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
}

/// Records `scenario` headless in the sandbox; returns its run directory.
pub fn record(snapshots: &Path, scenario: &str) -> PathBuf {
    let recorded = command(snapshots)
        .args(["run", scenario, "--sandbox"])
        .output()
        .unwrap();
    assert_eq!(
        recorded.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&recorded.stderr)
    );
    run_dir(snapshots, scenario)
}
