//! Evidence on a disk that refuses it, on a real filesystem (a small tmpfs, filled or
//! remounted read-only; mounting needs root, as CI runs):
//! - a freeze on a full disk says "the snapshots disk is full", leaves no staging
//!   folder and no partial file, and a retry says the same (never "File exists");
//! - a new file (manifest.json) is whole or absent, never 0 bytes; the journal stays
//!   whole lines; once there is room again the same freeze is written;
//! - a read-only disk (and, for a user that is not root, a folder it may not write)
//!   is named as such;
//! - `run <drill> --sandbox` with its snapshots on a 64 KiB disk: the error says the
//!   disk is full, exit 3 (not graded), the run keeps its journal and no half-written
//!   file, and `verify` names what the full disk cut short.

mod common;

use std::path::{Path, PathBuf};

use common::small_disk::SmallDisk;
use drill_cockpit::config::redact::Redactor;
use drill_cockpit::evidence::write::RunWriter;

fn run_on(disk: &Path) -> RunWriter {
    RunWriter::create(disk, "es_down_connect", Redactor::default()).expect("the run directory")
}

fn freeze_files() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "_exports/jaeger-services-x.json".into(),
            vec![b'j'; 16 * 1024],
        ),
        ("_containers-x.json".into(), b"{}".to_vec()),
    ]
}

/// Every entry below `dir` (relative), hidden ones included.
fn entries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Nothing half-written: no staging folder, no partial file, no empty file.
fn assert_nothing_half_written(run: &Path) {
    for entry in entries(run) {
        let name = entry.rsplit('/').next().unwrap();
        assert!(
            !name.starts_with(".staging-") && !name.starts_with(".partial-"),
            "left behind: {entry}"
        );
        let path = run.join(&entry);
        if path.is_file() && name != ".lock" {
            assert!(
                std::fs::metadata(&path).unwrap().len() > 0,
                "an empty file: {entry}"
            );
        }
    }
}

fn assert_says_disk_full(error: &str, names: &Path) {
    assert!(
        error.starts_with("the snapshots disk is full (No space left on device"),
        "{error}"
    );
    assert!(
        error.contains(&names.display().to_string()),
        "names {}: {error}",
        names.display()
    );
    assert!(error.contains("cockpit.snapshots_dir"), "{error}");
    assert!(!error.contains("File exists"), "{error}");
}

#[test]
fn a_freeze_on_a_full_disk_says_so_leaves_nothing_half_written_and_a_retry_says_the_same() {
    let Some(disk) = SmallDisk::mount("256k") else {
        return;
    };
    let run = run_on(disk.path());
    run.journal(
        "note",
        serde_json::json!({"message": "before the disk filled"}),
    )
    .unwrap();
    let filler = disk.fill();
    let files = freeze_files();

    let first = run.freeze("x", &files).unwrap_err().to_string();
    assert_says_disk_full(&first, &run.dir.join("_exports/jaeger-services-x.json"));
    assert_nothing_half_written(&run.dir);
    // The same freeze again (same label, same second): the disk again, not its leftovers.
    let retried = run.freeze("x", &files).unwrap_err().to_string();
    assert_says_disk_full(&retried, &run.dir.join("_exports/jaeger-services-x.json"));
    assert_nothing_half_written(&run.dir);

    // A new file is whole or absent: no 0-byte manifest.json.
    let manifest = run
        .write_new("manifest.json", &vec![b'm'; 8 * 1024])
        .unwrap_err()
        .to_string();
    assert_says_disk_full(&manifest, &run.dir.join("manifest.json"));
    assert!(!run.dir.join("manifest.json").exists());
    assert_nothing_half_written(&run.dir);

    // The journal takes lines while its last page has room, then refuses whole lines.
    let refused = (0..10_000)
        .find_map(|n| {
            run.journal("note", serde_json::json!({"message": format!("line {n}")}))
                .err()
        })
        .expect("the journal's page filled up")
        .to_string();
    assert!(
        refused.starts_with("the snapshots disk is full"),
        "{refused}"
    );
    let journal = std::fs::read_to_string(run.dir.join("_timeline.jsonl")).unwrap();
    assert!(journal.ends_with('\n'), "a cut-off last line");
    for line in journal.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("a torn journal line ({e}): {line}"));
    }
    assert!(journal.contains("before the disk filled"));

    // Room again: the same freeze is written, whole.
    std::fs::remove_file(filler).unwrap();
    run.freeze("x", &files).unwrap();
    assert_eq!(
        std::fs::read(run.dir.join("_exports/jaeger-services-x.json"))
            .unwrap()
            .len(),
        16 * 1024
    );
    run.write_new("manifest.json", b"{}\n").unwrap();
    assert_nothing_half_written(&run.dir);
}

#[test]
fn a_read_only_snapshots_disk_is_named_as_such() {
    let Some(disk) = SmallDisk::mount("256k") else {
        return;
    };
    let run = run_on(disk.path());
    // A file open for writing (the run's `.lock`) keeps a remount from going read-only.
    run.release();
    disk.remount_read_only();
    let error = run.freeze("x", &freeze_files()).unwrap_err().to_string();
    assert!(
        error.starts_with("the snapshots disk is read-only (Read-only file system"),
        "{error}"
    );
    assert!(error.contains("cockpit.snapshots_dir"), "{error}");
    let error = run
        .write_new("manifest.json", b"{}")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("the snapshots disk is read-only"),
        "{error}"
    );
    assert_nothing_half_written(&run.dir);
}

#[test]
fn a_snapshots_folder_this_user_may_not_write_is_named_as_such() {
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } == 0 {
        // Root writes whatever the mode says; as root the read-only disk above is the
        // refused write (this test runs for every other user).
        eprintln!("SKIPPED: root ignores folder permissions (the read-only disk test covers root)");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let snapshots = tempfile::tempdir().unwrap();
    let run = run_on(snapshots.path());
    std::fs::set_permissions(&run.dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let error = run.freeze("x", &freeze_files()).unwrap_err().to_string();
    std::fs::set_permissions(&run.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        error.starts_with(
            "the snapshots directory is not writable for this user (Permission denied"
        ),
        "{error}"
    );
    assert_nothing_half_written(&run.dir);
}

/// The only run directory of `scenario` on `disk`.
fn the_run(disk: &Path, scenario: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(disk.join(scenario))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn a_drill_on_a_full_snapshots_disk_says_so_and_leaves_a_whole_run() {
    if !common::sandbox::available() {
        return;
    }
    // 64 KiB: room for the run's start (recipe, baseline, journal, log), not for its
    // freezes.
    let Some(disk) = SmallDisk::mount("64k") else {
        return;
    };
    let ran = common::sandbox::command(disk.path())
        .args(["run", "es_down_connect", "--sandbox"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(3), "not graded: {stderr}");
    assert!(!stderr.contains("File exists"), "{stderr}");
    let freeze_failures: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("could not complete") || l.contains("freeze failed"))
        .collect();
    assert!(!freeze_failures.is_empty(), "{stderr}");
    for line in &freeze_failures {
        assert!(line.contains("the snapshots disk is full"), "{line}");
    }

    let run = the_run(disk.path(), "es_down_connect");
    assert_nothing_half_written(&run);
    let journal = std::fs::read_to_string(run.join("_timeline.jsonl")).unwrap();
    for line in journal.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("a torn journal line ({e}): {line}"));
    }
    assert!(
        journal.contains("the snapshots disk is full"),
        "the journal says why"
    );
    // manifest.json, when there was room for it, is whole.
    if let Ok(text) = std::fs::read_to_string(run.join("manifest.json")) {
        serde_json::from_str::<serde_json::Value>(&text).expect("a whole manifest.json");
    }

    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .arg("verify")
        .arg(&run)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(1), "{report}");
    assert!(
        report.contains("(see _timeline.jsonl), the evidence may be incomplete")
            || report.contains("manifest.json missing: the session did not finish"),
        "{report}"
    );
    assert!(report.contains("the snapshots disk is full"), "{report}");
}
