//! What a session leaves outside its own process, recorded so that a session killed
//! with SIGKILL (no chance to restore anything) does not leave it behind for good.
//!
//! Every fault put into a system outside the process (the ES write block, a stopped ES
//! container), every worker started and the sandbox's Postgres cluster are written to
//! a small state file beside the snapshots (`<snapshots_dir>/.drill-cockpit-faults.json`)
//! *before* they are applied, and removed from it once restored. The next start (the
//! cockpit or `run`, any scenario) reads it and restores what a dead session left
//! ([`restore`]). A session that is still alive is never touched: a session's entry
//! names its run directory, whose `.lock` the session holds while it lives; the
//! sandbox's cluster, which outlives sessions, is owned by its process (pid and start
//! time, so a reused pid is not mistaken for it).
//!
//! The file never holds a password: URLs are stored with theirs redacted, and the
//! profile of the restoring session gives it back when it points at the same URL.

pub mod procs;
pub mod restore;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The state file's name, inside `cockpit.snapshots_dir`.
pub const STATE_FILE: &str = ".drill-cockpit-faults.json";
/// The lock taken around every read-modify-write of the state file.
const LOCK_FILE: &str = ".drill-cockpit-faults.lock";

/// Who put a leftover in: a session (its run directory) or, for what outlives
/// sessions, a process (its pid and start time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
}

impl Owner {
    /// The session writing `run_dir`, in this process.
    pub fn session(run_dir: &Path) -> Owner {
        Owner {
            run_dir: Some(run_dir.to_path_buf()),
            ..Owner::process()
        }
    }

    /// This process.
    pub fn process() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            started: procs::start_ticks(pid),
            run_dir: None,
        }
    }

    /// Whether the owner still lives: its run is held by a live session, or (no run)
    /// the same process still runs.
    pub fn alive(&self) -> bool {
        match &self.run_dir {
            Some(run_dir) => crate::evidence::write::held_by_live_session(run_dir),
            None => procs::alive(self.pid, self.started),
        }
    }

    /// "a previous session (pid N, run <dir>)", for messages.
    pub fn describe(&self) -> String {
        match &self.run_dir {
            Some(run) => format!(
                "a previous session (pid {}, run {})",
                self.pid,
                run.display()
            ),
            None => format!("a previous drill-cockpit (pid {})", self.pid),
        }
    }
}

/// One thing left outside the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Leftover {
    /// `index.blocks.write=true` on `index` of the Elasticsearch at `url` (password
    /// redacted).
    EsWriteBlock { url: String, index: String },
    /// The Elasticsearch container `service` of compose project `project`, stopped.
    EsStopped {
        project: String,
        service: String,
        compose_file: PathBuf,
        /// The engine it was stopped on (`tcp://…`, `unix://…`): it is started there or
        /// not at all. Absent in entries written before engines were recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        engine: Option<String>,
    },
    /// A worker process: its pid, start time and command line as `/proc` showed them.
    Worker {
        pid: u32,
        started: Option<u64>,
        cmdline: Vec<String>,
    },
    /// The sandbox's throwaway cluster (`pg_ctl` daemonizes it: it does not die with us).
    SandboxPostgres {
        dir: PathBuf,
        data_dir: PathBuf,
        bin: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        postmaster_pid: Option<u32>,
    },
}

impl Leftover {
    /// What it is, in words ("the ES write block on index X at URL").
    pub fn describe(&self) -> String {
        match self {
            Leftover::EsWriteBlock { url, index } => {
                format!("the ES write block on index {index} at {url}")
            }
            Leftover::EsStopped {
                project,
                service,
                engine,
                ..
            } => match engine {
                Some(engine) => {
                    format!("the Elasticsearch container {project}/{service} stopped on {engine}")
                }
                None => format!("the Elasticsearch container {project}/{service} stopped"),
            },
            Leftover::Worker { pid, cmdline, .. } => {
                format!("worker pid {pid} (`{}`)", cmdline.join(" "))
            }
            Leftover::SandboxPostgres { dir, .. } => {
                format!("the sandbox's Postgres cluster in {}", dir.display())
            }
        }
    }
}

/// An entry of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub owner: Owner,
    pub recorded_at: String,
    #[serde(flatten)]
    pub leftover: Leftover,
}

impl Entry {
    pub fn new(owner: Owner, leftover: Leftover) -> Entry {
        Entry {
            id: uuid::Uuid::new_v4().simple().to_string(),
            owner,
            recorded_at: chrono::Utc::now().to_rfc3339(),
            leftover,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    entries: Vec<Entry>,
}

/// The state file beside the snapshots.
#[derive(Debug, Clone)]
pub struct StateFile {
    dir: PathBuf,
}

impl StateFile {
    pub fn beside(snapshots_dir: &Path) -> StateFile {
        StateFile {
            dir: snapshots_dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Every entry (none when the file does not exist).
    pub fn entries(&self) -> Result<Vec<Entry>, String> {
        let _lock = self.lock()?;
        self.read()
    }

    /// Adds `entry` (written to disk before this returns).
    pub fn add(&self, entry: Entry) -> Result<(), String> {
        self.update(|entries| entries.push(entry))
    }

    /// Replaces the entry of `entry.id` (adds it when it is gone).
    pub fn replace(&self, entry: Entry) -> Result<(), String> {
        self.update(|entries| {
            entries.retain(|e| e.id != entry.id);
            entries.push(entry);
        })
    }

    /// Removes the entries `matches` picks; returns them.
    pub fn remove(&self, matches: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>, String> {
        self.update(|entries| {
            let (gone, kept) = std::mem::take(entries).into_iter().partition(&matches);
            *entries = kept;
            gone
        })
    }

    /// Read, change, write, all under the lock.
    pub fn update<R>(&self, change: impl FnOnce(&mut Vec<Entry>) -> R) -> Result<R, String> {
        let _lock = self.lock()?;
        let mut entries = self.read()?;
        let before = entries.clone();
        let result = change(&mut entries);
        if entries != before {
            self.write(&entries)?;
        }
        Ok(result)
    }

    fn lock(&self) -> Result<File, String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            format!(
                "cannot create {} for the fault state file: {e}. Check cockpit.snapshots_dir and its permissions",
                self.dir.display()
            )
        })?;
        let path = self.dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}. Check its permissions", path.display()))?;
        file.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        Ok(file)
    }

    fn read(&self) -> Result<Vec<Entry>, String> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        serde_json::from_str::<Contents>(&text)
            .map(|c| c.entries)
            .map_err(|e| {
                format!(
                    "{} is not a fault state file ({e}): restore what it lists by hand, then remove it",
                    path.display()
                )
            })
    }

    /// Temp file, fsync, rename, fsync of the directory: the file is whole or absent.
    fn write(&self, entries: &[Entry]) -> Result<(), String> {
        let path = self.path();
        if entries.is_empty() {
            return match std::fs::remove_file(&path) {
                Ok(()) => sync_dir(&self.dir),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
            };
        }
        let temp = self
            .dir
            .join(format!("{STATE_FILE}.tmp-{}", std::process::id()));
        let text = serde_json::to_string_pretty(&Contents {
            entries: entries.to_vec(),
        })
        .map_err(|e| format!("cannot encode the fault state: {e}"))?;
        let written = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(format!(
                "cannot write {}: {error}. Check free space and permissions of cockpit.snapshots_dir",
                path.display()
            ));
        }
        sync_dir(&self.dir)
    }
}

fn sync_dir(dir: &Path) -> Result<(), String> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

/// A URL with its password replaced (`http://user:***@host`): what the file stores.
pub fn url_without_password(url: &str) -> String {
    crate::config::redact::Redactor::default().redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(index: &str) -> Leftover {
        Leftover::EsWriteBlock {
            url: "http://es:9200".into(),
            index: index.into(),
        }
    }

    #[test]
    fn entries_are_added_replaced_and_removed_and_the_empty_file_goes() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::beside(dir.path());
        assert_eq!(file.entries().unwrap(), Vec::new());
        let first = Entry::new(Owner::process(), block("a"));
        file.add(first.clone()).unwrap();
        file.add(Entry::new(Owner::process(), block("b"))).unwrap();
        assert_eq!(file.entries().unwrap().len(), 2);
        let mut changed = first.clone();
        changed.leftover = block("c");
        file.replace(changed.clone()).unwrap();
        assert!(file.entries().unwrap().contains(&changed));
        let gone = file.remove(|e| e.leftover == block("b")).unwrap();
        assert_eq!(gone.len(), 1);
        file.remove(|_| true).unwrap();
        assert!(!file.path().exists());
        // No temp file left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![LOCK_FILE.to_string()]);
    }

    #[test]
    fn a_corrupt_file_is_named_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::beside(dir.path());
        std::fs::write(file.path(), "{not json").unwrap();
        let error = file
            .add(Entry::new(Owner::process(), block("a")))
            .unwrap_err();
        assert!(
            error.contains(STATE_FILE) && error.contains("by hand"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "{not json");
    }

    #[test]
    fn no_password_is_stored() {
        assert_eq!(
            url_without_password("https://elastic:s3cret@es:9200"),
            "https://elastic:***@es:9200"
        );
    }

    #[test]
    fn an_owner_lives_while_its_run_is_held_or_its_process_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Owner::process().alive());
        // A process that ran but whose start time differs is a reused pid: not alive.
        let reused = Owner {
            started: Owner::process().started.map(|t| t + 1),
            ..Owner::process()
        };
        assert!(!reused.alive());
        // A run directory whose `.lock` nobody holds: the session is gone.
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join(".lock"), "1").unwrap();
        assert!(!Owner::session(&run).alive());
        let held = File::open(run.join(".lock")).unwrap();
        held.lock().unwrap();
        assert!(Owner::session(&run).alive());
    }
}
