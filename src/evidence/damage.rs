//! What a run's own writing left undone, in words, for `verify`: a `manifest.json`
//! that is missing, empty or not a file; the hidden leftovers of writes a crash or a
//! full disk cut off (a freeze's staging folder, a partial file); and the journal's
//! account of why (its last failed write). Read-only, links never followed.

use std::path::Path;

use serde_json::Value;

use super::durable::PARTIAL_PREFIX;
use super::safe_read::{Kind, LOG_CAP, RunReader, kind};

/// Leftovers named at most, per folder (a run is not a place to count thousands).
const NAMED_AT_MOST: usize = 20;

/// Why `manifest.json` cannot vouch for the run's files, before it is even read as
/// JSON; `None` when it is a regular file with content.
pub fn manifest_damage(run_dir: &Path) -> Option<String> {
    let path = run_dir.join("manifest.json");
    let problem = match kind(&path) {
        Kind::Missing => "manifest.json missing: the session did not finish writing the run",
        Kind::File => match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.len() == 0 => {
                "manifest.json is empty (0 bytes): its write was cut off (a full disk?)"
            }
            _ => return None,
        },
        _ => "manifest.json is not a regular file (a link, a folder or a device): not read",
    };
    Some(format!("{problem}; {}", journal_account(run_dir)))
}

/// What the journal says about the run's writing, for a message about damage.
pub fn journal_account(run_dir: &Path) -> String {
    match failed_writes(run_dir).pop() {
        Some(failure) => format!("the last failed write in _timeline.jsonl: {failure}"),
        None => "_timeline.jsonl records no failed write: the session was killed, or the file was removed".into(),
    }
}

/// The run's failed writes in one line, when its journal records any: the evidence
/// may lack what they were to write, even when every file left is as listed.
pub fn write_failures(run_dir: &Path) -> Option<String> {
    let mut failures = failed_writes(run_dir);
    let last = failures.pop()?;
    Some(match failures.len() {
        0 => format!(
            "a write failed during the run (see _timeline.jsonl), the evidence may be incomplete: {last}"
        ),
        earlier => format!(
            "{} writes failed during the run (see _timeline.jsonl), the evidence may be incomplete; the last: {last}",
            earlier + 1
        ),
    })
}

/// The journal's failed writes of the run (a freeze, the manifest, a file), oldest
/// first: `<action>: <error>`.
fn failed_writes(run_dir: &Path) -> Vec<String> {
    let Some(journal) = RunReader::new(run_dir).text(Path::new("_timeline.jsonl"), LOG_CAP) else {
        return Vec::new();
    };
    journal
        .lines()
        // Most lines are counter pages: parse only those that may be a failure.
        .filter(|line| line.contains("\"action_failed\""))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["kind"] == "action_failed")
        .filter_map(|entry| {
            let action = entry["action"].as_str()?;
            let writes = action == "freeze" || action.starts_with("write ");
            writes.then(|| format!("{action}: {}", entry["error"].as_str().unwrap_or("?")))
        })
        .collect()
}

/// The hidden leftovers of writes that did not finish, one line each: a freeze's
/// staging folder (committed or not) and a partial file, in the run and its folders.
pub fn unfinished_writes(run_dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    found.extend(unfinished_in(run_dir, ""));
    for folder in names_in(run_dir, |name, kind| {
        kind == Kind::Dir && !name.starts_with('.')
    }) {
        found.extend(unfinished_in(&run_dir.join(&folder), &format!("{folder}/")));
    }
    found
}

/// The unfinished writes directly in `dir` (shown under `shown_prefix`).
fn unfinished_in(dir: &Path, shown_prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    for name in names_in(dir, |name, _| {
        name.starts_with(".staging-") || name.starts_with(PARTIAL_PREFIX)
    }) {
        let path = dir.join(&name);
        let shown = format!("{shown_prefix}{name}");
        found.push(if name.starts_with(PARTIAL_PREFIX) {
            format!("{shown}: a file whose write was cut off (not evidence; the next session of this scenario removes it)")
        } else if kind(&path) != Kind::Dir {
            format!("{shown}: not a freeze's staging folder (a link or a file): not read")
        } else if kind(&path.join("COMMIT")) == Kind::File {
            format!("{shown}: a freeze committed but not all in place (the next session of this scenario puts its files in place)")
        } else {
            format!("{shown}: a freeze that did not finish (uncommitted: none of its files count; the next session of this scenario removes it)")
        });
    }
    found
}

/// The names in `dir` that `keep` picks (sorted, at most [`NAMED_AT_MOST`]).
fn names_in(dir: &Path, keep: impl Fn(&str, Kind) -> bool) -> Vec<String> {
    if kind(dir) != Kind::Dir {
        return Vec::new();
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(10_000)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            keep(&name, kind(&entry.path())).then_some(name)
        })
        .collect();
    names.sort();
    names.truncate(NAMED_AT_MOST);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(dir: &Path, lines: &[&str]) {
        std::fs::write(dir.join("_timeline.jsonl"), lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn a_missing_manifest_is_named_with_the_journals_last_failed_write() {
        let dir = tempfile::tempdir().unwrap();
        journal(
            dir.path(),
            &[
                r#"{"kind":"action_failed","action":"stop es","error":"no docker"}"#,
                r#"{"kind":"action_failed","action":"freeze","error":"the snapshots disk is full (No space left on device (os error 28)) writing /s/x.json; free space"}"#,
                r#"{"kind":"closed"}"#,
            ],
        );
        let damage = manifest_damage(dir.path()).unwrap();
        assert_eq!(
            damage,
            "manifest.json missing: the session did not finish writing the run; the last failed write in _timeline.jsonl: freeze: the snapshots disk is full (No space left on device (os error 28)) writing /s/x.json; free space"
        );
        assert_eq!(
            write_failures(dir.path()).unwrap(),
            "a write failed during the run (see _timeline.jsonl), the evidence may be incomplete: freeze: the snapshots disk is full (No space left on device (os error 28)) writing /s/x.json; free space"
        );
        // Without a failure on record: killed or removed, in those words.
        journal(dir.path(), &[r#"{"kind":"closed"}"#]);
        assert!(
            manifest_damage(dir.path())
                .unwrap()
                .contains("the session was killed, or the file was removed")
        );
        assert_eq!(write_failures(dir.path()), None);
    }

    #[test]
    fn an_empty_or_odd_manifest_is_named_and_a_whole_one_is_left_to_the_hash_check() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), "").unwrap();
        assert!(
            manifest_damage(dir.path())
                .unwrap()
                .starts_with("manifest.json is empty (0 bytes): its write was cut off")
        );
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        assert_eq!(manifest_damage(dir.path()), None);
        std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("manifest.json")).unwrap();
        assert!(
            manifest_damage(dir.path())
                .unwrap()
                .starts_with("manifest.json is not a regular file")
        );
    }

    #[test]
    fn unfinished_freezes_and_partial_files_are_named_where_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        std::fs::create_dir_all(run.join(".staging-a-1-0")).unwrap();
        std::fs::create_dir_all(run.join(".staging-b-1-1")).unwrap();
        std::fs::write(run.join(".staging-b-1-1/COMMIT"), "[]").unwrap();
        std::fs::create_dir_all(run.join("_metrics")).unwrap();
        std::fs::write(
            run.join("_metrics/.partial-1-2-metrics-before.txt.tmp"),
            "x",
        )
        .unwrap();
        std::fs::write(run.join("_metrics/metrics-before.txt"), "x").unwrap();
        std::fs::write(run.join(".lock"), "1").unwrap();
        let found = unfinished_writes(run);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with(".staging-a-1-0: a freeze that did not finish (uncommitted"));
        assert!(found[1].starts_with(".staging-b-1-1: a freeze committed but not all in place"));
        assert!(found[2].starts_with(
            "_metrics/.partial-1-2-metrics-before.txt.tmp: a file whose write was cut off"
        ));
    }
}
