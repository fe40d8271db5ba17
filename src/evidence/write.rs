//! Writing a run directory. Nothing is ever overwritten (every file is created new);
//! a freeze is all-or-nothing: its files are staged in a hidden directory, a COMMIT
//! marker is written, then they are renamed into place. A freeze interrupted before
//! COMMIT is discarded; one interrupted after it is completed by [`recover`].

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::config::redact::Redactor;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "cannot create the run directory under {dir}: {source}. Check cockpit.snapshots_dir and its permissions"
    )]
    CreateRun {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to overwrite evidence: {0} already exists")]
    Exists(PathBuf),
    #[error("writing {path} failed: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `YYYYMMDDTHHMMSS` in UTC, the upstream run-id and timestamp form.
pub fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string()
}

#[derive(Debug, Clone)]
pub struct RunWriter {
    pub dir: PathBuf,
    pub run_id: String,
    redactor: Redactor,
}

impl RunWriter {
    /// Creates `snapshots/<scenario>/<run_id>/`, suffixing the id (`-2`, `-3`, …)
    /// when that second is taken. `create_dir` (not `_all`) makes the claim atomic.
    pub fn create(
        snapshots: &Path,
        scenario: &str,
        redactor: Redactor,
    ) -> Result<RunWriter, WriteError> {
        let parent = snapshots.join(scenario);
        std::fs::create_dir_all(&parent).map_err(|source| WriteError::CreateRun {
            dir: parent.clone(),
            source,
        })?;
        let base = timestamp();
        for attempt in 1..1000 {
            let run_id = if attempt == 1 {
                base.clone()
            } else {
                format!("{base}-{attempt}")
            };
            let dir = parent.join(&run_id);
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    for sub in ["_metrics", "_logs", "_exports"] {
                        std::fs::create_dir(dir.join(sub)).map_err(io(&dir))?;
                    }
                    return Ok(RunWriter {
                        dir,
                        run_id,
                        redactor,
                    });
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(WriteError::CreateRun {
                        dir: parent,
                        source,
                    });
                }
            }
        }
        Err(WriteError::CreateRun {
            dir: parent,
            source: std::io::Error::other("1000 runs in one second"),
        })
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir
            .join("_logs")
            .join(format!("worker-{}.log", self.run_id))
    }

    /// Writes a new file (redacted); fails rather than replace one.
    pub fn write_new(&self, relative: &str, content: &[u8]) -> Result<PathBuf, WriteError> {
        let path = self.dir.join(relative);
        write_new_file(
            &path,
            self.redactor
                .redact(&String::from_utf8_lossy(content))
                .as_bytes(),
        )?;
        Ok(path)
    }

    pub fn write_json(&self, relative: &str, value: &Value) -> Result<PathBuf, WriteError> {
        self.write_new(relative, format!("{value:#}\n").as_bytes())
    }

    /// Appends one journal line to `_timeline.jsonl`.
    pub fn journal(&self, kind: &str, detail: Value) -> Result<(), WriteError> {
        let path = self.dir.join("_timeline.jsonl");
        let mut line = json!({"ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "kind": kind});
        if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), detail) {
            line.extend(fields);
        }
        let text = self.redactor.redact(&line.to_string());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        writeln!(file, "{text}").map_err(io(&path))
    }

    /// Writes `files` (relative path → content) as one all-or-nothing freeze.
    pub fn freeze(
        &self,
        label: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<Vec<PathBuf>, WriteError> {
        for (relative, _) in files {
            let target = self.dir.join(relative);
            if target.exists() {
                return Err(WriteError::Exists(target));
            }
        }
        let staging = self
            .dir
            .join(format!(".staging-{label}-{}", std::process::id()));
        std::fs::create_dir(&staging).map_err(io(&staging))?;
        for (index, (_, content)) in files.iter().enumerate() {
            // Staged flat; the COMMIT manifest maps each to its place.
            let staged = staging.join(index.to_string());
            let redacted = self.redactor.redact(&String::from_utf8_lossy(content));
            write_new_file(&staged, redacted.as_bytes())?;
        }
        let plan: Vec<Value> = files
            .iter()
            .enumerate()
            .map(|(i, (relative, _))| json!({"staged": i.to_string(), "target": relative}))
            .collect();
        let commit_tmp = staging.join("COMMIT.tmp");
        write_new_file(
            &commit_tmp,
            serde_json::to_string(&plan).unwrap_or_default().as_bytes(),
        )?;
        std::fs::rename(&commit_tmp, staging.join("COMMIT")).map_err(io(&staging))?;
        complete(&self.dir, &staging)
    }
}

/// Creates a file that must not exist yet, writes it and syncs it to disk.
fn write_new_file(path: &Path, content: &[u8]) -> Result<(), WriteError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists(path.to_path_buf())
            } else {
                WriteError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
    file.write_all(content).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Moves a committed staging directory's files into place and removes it.
fn complete(run_dir: &Path, staging: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let plan_text = std::fs::read_to_string(staging.join("COMMIT")).map_err(io(staging))?;
    let plan: Vec<Value> = serde_json::from_str(&plan_text).unwrap_or_default();
    let mut placed = Vec::new();
    for step in plan {
        let (Some(staged), Some(target)) = (step["staged"].as_str(), step["target"].as_str())
        else {
            continue;
        };
        let from = staging.join(staged);
        let to = run_dir.join(target);
        if from.exists() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            if to.exists() {
                return Err(WriteError::Exists(to));
            }
            std::fs::rename(&from, &to).map_err(io(&to))?;
        }
        placed.push(to);
    }
    std::fs::remove_dir_all(staging).map_err(io(staging))?;
    Ok(placed)
}

/// Finishes committed freezes and discards uncommitted ones left by a crash.
/// Returns how many were completed and discarded.
pub fn recover(run_dir: &Path) -> (usize, usize) {
    let (mut completed, mut discarded) = (0, 0);
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return (0, 0);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".staging-"));
        if !hidden || !path.is_dir() {
            continue;
        }
        if path.join("COMMIT").is_file() {
            if complete(run_dir, &path).is_ok() {
                completed += 1;
            }
        } else if std::fs::remove_dir_all(&path).is_ok() {
            discarded += 1;
        }
    }
    (completed, discarded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &Path) -> RunWriter {
        RunWriter::create(
            dir,
            "es_down_connect",
            Redactor::new("postgres://u:sekrit@h/db", &Default::default()),
        )
        .unwrap()
    }

    #[test]
    fn run_ids_in_the_same_second_get_suffixes_and_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let runs: Vec<RunWriter> = (0..3).map(|_| writer(dir.path())).collect();
        let ids: std::collections::BTreeSet<_> = runs.iter().map(|r| r.run_id.clone()).collect();
        assert_eq!(ids.len(), 3);
        assert!(
            runs.iter()
                .all(|r| r.dir.join("_metrics").is_dir() && r.dir.join("_exports").is_dir())
        );
    }

    #[test]
    fn freeze_places_every_file_redacted_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let run = writer(dir.path());
        let files = vec![
            ("_metrics/metrics-1.txt".to_string(), b"m 1\n".to_vec()),
            (
                "_containers-1.json".to_string(),
                b"{\"url\":\"postgres://u:sekrit@h/db\"}".to_vec(),
            ),
        ];
        let placed = run.freeze("1", &files).unwrap();
        assert_eq!(placed.len(), 2);
        assert_eq!(
            std::fs::read_to_string(run.dir.join("_containers-1.json")).unwrap(),
            "{\"url\":\"postgres://u:***@h/db\"}"
        );
        assert!(matches!(
            run.freeze("1", &files),
            Err(WriteError::Exists(_))
        ));
        assert!(matches!(
            run.write_new("_containers-1.json", b"x"),
            Err(WriteError::Exists(_))
        ));
        let leftovers: Vec<_> = std::fs::read_dir(&run.dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn recovery_completes_committed_and_discards_uncommitted_freezes() {
        let dir = tempfile::tempdir().unwrap();
        let run = writer(dir.path());
        // An interrupted, uncommitted freeze.
        let torn = run.dir.join(".staging-a-1");
        std::fs::create_dir(&torn).unwrap();
        std::fs::write(torn.join("0"), "half").unwrap();
        // A committed freeze interrupted after its first rename.
        let committed = run.dir.join(".staging-b-1");
        std::fs::create_dir(&committed).unwrap();
        std::fs::write(committed.join("1"), "second").unwrap();
        std::fs::write(run.dir.join("_outbox-b.json"), "first").unwrap();
        std::fs::write(committed.join("COMMIT"), r#"[{"staged":"0","target":"_outbox-b.json"},{"staged":"1","target":"_containers-b.json"}]"#).unwrap();
        assert_eq!(recover(&run.dir), (1, 1));
        assert_eq!(
            std::fs::read_to_string(run.dir.join("_containers-b.json")).unwrap(),
            "second"
        );
        assert!(!torn.exists() && !committed.exists());
    }
}
