//! Where tests find what `scripts/test` provisions, and the rule that in CI a missing
//! service fails a test instead of skipping it.

use std::path::PathBuf;

/// True under CI (`CI` set to anything but empty/`false`/`0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips (returns `None`) locally, fails in CI, with the reason and the fix.
pub fn unavailable<T>(what: &str, fix: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is not available under CI: {fix}");
    }
    eprintln!("SKIPPED: {what} is not available ({fix})");
    None
}

/// `shared/fixtures/` of the project (CI lays `shared/` beside the clone).
pub fn fixtures_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DRILL_SHARED_DIR") {
        return PathBuf::from(dir).join("fixtures");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// The workspace root.
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
