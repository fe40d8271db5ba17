//! Writing a run directory. Nothing is ever overwritten (every file is created new);
//! a freeze is all-or-nothing: its files are staged in a hidden directory, a COMMIT
//! marker is written, then they are renamed into place. A freeze interrupted before
//! COMMIT is discarded; one interrupted after it is completed by [`recover`].
//!
//! A run is held by its session through an OS lock (`flock`) on its `.lock` file, taken
//! when the run is created and held as long as the session's writer lives; the file
//! also names the session's pid, for humans. The kernel drops the lock with the
//! process, so a reused pid never looks like a live session. Only a run whose session
//! is gone is recovered (by the next session of that scenario), and
//! recovery confines every path to the run directory: a plan naming an absolute path,
//! `..` or a path through a symlink is discarded, never followed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use super::durable::{DiskRefusal, WriteError};
use super::durable::{io, io_error, sync_dir, unique_suffix, write_new_file, write_synced};
use crate::config::redact::Redactor;

/// The file a live session keeps locked in its run directory (it names its pid).
pub const LOCK_FILE: &str = ".lock";

/// An id from outside (a claim batch id from a worker's log, a trace id from a span tag)
/// made safe for a file name: kept when it is plainly an id, else replaced by a hash of
/// itself (the original is kept inside the file).
pub fn file_id(id: &str) -> String {
    let plain = !id.is_empty()
        && id.len() <= 128
        && !id.contains("..")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.');
    if plain {
        return id.to_string();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

/// `relative` inside `run_dir`, or `None` when it would leave it: absolute, with `..`
/// or `.` parts, empty, or through a symlink that exists on the way.
pub fn confined(run_dir: &Path, relative: &str) -> Option<PathBuf> {
    use std::path::Component;
    let path = Path::new(relative);
    if relative.is_empty()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let mut walked = run_dir.to_path_buf();
    for part in path.components() {
        walked.push(part);
        if walked
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return None;
        }
    }
    Some(walked)
}

/// What the `.lock` of a run says about its session.
enum LockState {
    /// No `.lock`: no session ever held it, or it ended cleanly.
    Absent,
    /// A `.lock` nobody holds: the session is gone. The lock is ours until it drops.
    Free(File),
    /// A live session holds the lock (or the lock cannot be opened or tried:
    /// never recover over a stranger).
    Held,
}

fn lock_state(run_dir: &Path) -> LockState {
    let file = match File::open(run_dir.join(LOCK_FILE)) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return LockState::Absent,
        Err(_) => return LockState::Held,
    };
    match file.try_lock() {
        Ok(()) => LockState::Free(file),
        Err(_) => LockState::Held,
    }
}

/// Whether a live session holds the run: its `.lock` is locked (by another open of it,
/// this process's own writer included).
pub fn held_by_live_session(run_dir: &Path) -> bool {
    matches!(lock_state(run_dir), LockState::Held)
}

/// Creates and locks the run's `.lock`, writing our pid into it. Should a recovering
/// session remove the file between our create and our lock, the lock is taken again
/// on a new file: the lock held is always on the file the path names.
fn take_run_lock(run_dir: &Path) -> Result<File, WriteError> {
    let path = run_dir.join(LOCK_FILE);
    loop {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        if !names_file(&path, &file) {
            continue;
        }
        file.set_len(0).map_err(io(&path))?;
        file.write_all(std::process::id().to_string().as_bytes())
            .map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        return Ok(file);
    }
}

/// Whether `path` is still the file `file` has open (same device and inode).
fn names_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
        _ => false,
    }
}

/// A run directory that cannot be made under `dir`: the disk's refusal in words when it
/// is one (a full disk is not fixed by checking permissions).
fn create_run_error(dir: &Path, source: std::io::Error) -> WriteError {
    match DiskRefusal::of(&source) {
        Some(_) => io_error(dir, source),
        None => WriteError::CreateRun {
            dir: dir.to_path_buf(),
            source,
        },
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
    /// The run's locked `.lock`, shared by the writer's clones, held until
    /// [`RunWriter::release`] or the last clone drops (or the process ends).
    lock: Arc<Mutex<Option<File>>>,
}

impl RunWriter {
    /// Creates `snapshots/<scenario>/<run_id>/`, suffixing the id (`-2`, `-3`, …)
    /// when that second is taken. `create_dir` (not `_all`) makes the claim atomic.
    pub fn create(
        snapshots: &Path,
        scenario: &str,
        redactor: Redactor,
    ) -> Result<RunWriter, WriteError> {
        // The scenario names a folder: it must be a plain name, whatever called us.
        if file_id(scenario) != scenario {
            return Err(WriteError::Unsafe(scenario.to_string()));
        }
        let parent = snapshots.join(scenario);
        std::fs::create_dir_all(&parent).map_err(|source| create_run_error(&parent, source))?;
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
                    let lock = take_run_lock(&dir)?;
                    // Torn freezes of earlier runs whose session is gone are settled now.
                    recover_abandoned(&parent, &dir);
                    return Ok(RunWriter {
                        dir,
                        run_id,
                        redactor,
                        lock: Arc::new(Mutex::new(Some(lock))),
                    });
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(create_run_error(&parent, source)),
            }
        }
        Err(WriteError::CreateRun {
            dir: parent,
            source: std::io::Error::other("1000 runs in one second"),
        })
    }

    /// Ends this session's hold on the run: its `.lock` goes, then the lock.
    pub fn release(&self) {
        let held = self.lock.lock().ok().and_then(|mut slot| slot.take());
        if let Some(file) = held {
            let _ = std::fs::remove_file(self.dir.join(LOCK_FILE));
            drop(file);
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.log_path_of("worker")
    }

    /// `_logs/<name>-<run_id>.log` (`worker2` for the second worker: upstream's rules
    /// find worker 2's log by that prefix).
    pub fn log_path_of(&self, name: &str) -> PathBuf {
        self.dir
            .join("_logs")
            .join(format!("{name}-{}.log", self.run_id))
    }

    /// Writes a new file (redacted); fails rather than replace one.
    pub fn write_new(&self, relative: &str, content: &[u8]) -> Result<PathBuf, WriteError> {
        let path =
            confined(&self.dir, relative).ok_or_else(|| WriteError::Unsafe(relative.into()))?;
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

    /// Appends one line to `_timeline.jsonl`; returns the entry as written (redacted).
    /// A line the disk takes only part of is cut off again: the journal stays whole
    /// lines, so everything before it (and after, once there is room) still reads.
    pub fn journal(&self, kind: &str, detail: Value) -> Result<Value, WriteError> {
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
        // One session appends (its engine task), so the length before is where the
        // line starts.
        let before = file.metadata().map_err(io(&path))?.len();
        if let Err(error) = file.write_all(format!("{text}\n").as_bytes()) {
            let _ = file.set_len(before);
            return Err(io_error(&path, error));
        }
        Ok(serde_json::from_str(&text).unwrap_or(line))
    }

    /// Writes `files` (relative path → content) as one all-or-nothing freeze. A freeze
    /// that fails before its COMMIT leaves nothing (its staging is removed: a retry
    /// starts clean); one that fails after it is completed by the next session.
    pub fn freeze(
        &self,
        label: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<Vec<PathBuf>, WriteError> {
        let targets = self.new_targets(files)?;
        let staging = self.create_staging(label)?;
        if let Err(error) = self.stage_and_commit(&staging, files, &targets) {
            let _ = std::fs::remove_dir_all(&staging);
            let _ = sync_dir(&self.dir);
            return Err(error);
        }
        complete(&self.dir, &staging)
    }

    /// Where each file of a freeze goes: inside the run, and not there yet.
    fn new_targets(&self, files: &[(String, Vec<u8>)]) -> Result<Vec<PathBuf>, WriteError> {
        files
            .iter()
            .map(|(relative, _)| {
                let target = confined(&self.dir, relative)
                    .ok_or_else(|| WriteError::Unsafe(relative.clone()))?;
                match target.symlink_metadata() {
                    Ok(_) => Err(WriteError::Exists(target)),
                    Err(_) => Ok(target),
                }
            })
            .collect()
    }

    /// A new hidden staging directory of this freeze, named for no one else.
    fn create_staging(&self, label: &str) -> Result<PathBuf, WriteError> {
        let label = file_id(label);
        loop {
            let staging = self
                .dir
                .join(format!(".staging-{label}-{}", unique_suffix()));
            match std::fs::create_dir(&staging) {
                Ok(()) => return Ok(staging),
                // Left by a process of the same pid before (recovery settles it).
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(io_error(&staging, error)),
            }
        }
    }

    /// Writes every file (redacted) into `staging`, synced, then its COMMIT plan: from
    /// then on the freeze counts and recovery completes it.
    fn stage_and_commit(
        &self,
        staging: &Path,
        files: &[(String, Vec<u8>)],
        targets: &[PathBuf],
    ) -> Result<(), WriteError> {
        for (index, ((_, content), target)) in files.iter().zip(targets).enumerate() {
            // Staged flat; the COMMIT plan maps each to its place. An error names the
            // file the user knows, not its staging name.
            let redacted = self.redactor.redact(&String::from_utf8_lossy(content));
            write_synced(
                &staging.join(index.to_string()),
                redacted.as_bytes(),
                target,
            )?;
        }
        let plan: Vec<Value> = files
            .iter()
            .enumerate()
            .map(|(i, (relative, _))| json!({"staged": i.to_string(), "target": relative}))
            .collect();
        // The staged names are on disk before the plan that names them.
        sync_dir(staging)?;
        let commit_tmp = staging.join("COMMIT.tmp");
        write_synced(
            &commit_tmp,
            serde_json::to_string(&plan).unwrap_or_default().as_bytes(),
            &commit_tmp,
        )?;
        std::fs::rename(&commit_tmp, staging.join("COMMIT")).map_err(io(staging))?;
        sync_dir(staging)
    }
}

/// Moves a committed staging directory's files into place and removes it. The whole
/// plan is checked first: one step that would leave the run moves nothing at all.
/// Every directory a file was renamed into is synced, then the run's (the staging gone).
fn complete(run_dir: &Path, staging: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let plan_text = std::fs::read_to_string(staging.join("COMMIT")).map_err(io(staging))?;
    let plan: Vec<Value> = serde_json::from_str(&plan_text).unwrap_or_default();
    let mut moves = Vec::with_capacity(plan.len());
    for step in &plan {
        let (Some(staged), Some(target)) = (step["staged"].as_str(), step["target"].as_str())
        else {
            return Err(WriteError::Unsafe(step.to_string()));
        };
        // A plan is data on disk: every path in it is confined before it is used.
        match (
            confined(staging, staged).filter(|_| !staged.contains('/')),
            confined(run_dir, target),
        ) {
            (Some(from), Some(to)) => moves.push((from, to)),
            _ => return Err(WriteError::Unsafe(format!("{staged} -> {target}"))),
        }
    }
    let mut placed = Vec::new();
    let mut renamed_into: Vec<PathBuf> = Vec::new();
    for (from, to) in moves {
        if from.exists() {
            let parent = to.parent().unwrap_or(run_dir).to_path_buf();
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            if to.symlink_metadata().is_ok() {
                return Err(WriteError::Exists(to));
            }
            std::fs::rename(&from, &to).map_err(io(&to))?;
            if !renamed_into.contains(&parent) {
                renamed_into.push(parent);
            }
        }
        placed.push(to);
    }
    for dir in &renamed_into {
        sync_dir(dir)?;
    }
    std::fs::remove_dir_all(staging).map_err(io(staging))?;
    sync_dir(run_dir)?;
    Ok(placed)
}

/// Recovers every run of `scenario_dir` but `current` whose session is gone.
fn recover_abandoned(scenario_dir: &Path, current: &Path) {
    for entry in std::fs::read_dir(scenario_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || path == current {
            continue;
        }
        match lock_state(&path) {
            LockState::Held => {}
            LockState::Absent => {
                recover_unheld(&path);
            }
            LockState::Free(lock) => {
                recover_unheld(&path);
                // Nobody held it: its stale `.lock` goes, while we hold it.
                let _ = std::fs::remove_file(path.join(LOCK_FILE));
                drop(lock);
            }
        }
    }
}

/// Finishes committed freezes and discards uncommitted ones left by a crash.
/// Returns how many were completed and discarded. Does nothing to a run a live
/// session holds; a plan that would leave the run directory is discarded.
pub fn recover(run_dir: &Path) -> (usize, usize) {
    // Held by a session: only when that session is this process (its pid in the file).
    if held_by_live_session(run_dir)
        && std::fs::read_to_string(run_dir.join(LOCK_FILE))
            .is_ok_and(|pid| pid.trim() != std::process::id().to_string())
    {
        return (0, 0);
    }
    recover_unheld(run_dir)
}

/// [`recover`] without asking who holds the run: the caller knows nobody else does.
fn recover_unheld(run_dir: &Path) -> (usize, usize) {
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
        // A staging "directory" that is a symlink is not ours: never read through it.
        if !hidden || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if path.join("COMMIT").is_file() && complete(run_dir, &path).is_ok() {
            completed += 1;
        } else if std::fs::remove_dir_all(&path).is_ok() {
            discarded += 1;
        }
    }
    discard_partial_files(run_dir);
    (completed, discarded)
}

/// Removes the hidden temporary files of writes a crash cut off (in the run and its
/// folders): no reader lists them, and none of them is evidence.
fn discard_partial_files(run_dir: &Path) {
    let folders = std::fs::read_dir(run_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path());
    for folder in std::iter::once(run_dir.to_path_buf()).chain(folders) {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let partial = entry
                .file_name()
                .to_string_lossy()
                .starts_with(super::durable::PARTIAL_PREFIX);
            if partial && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn ids_from_outside_never_shape_a_path() {
        assert_eq!(
            file_id("59fb43f2-644b-494f-95f0-37b13a38d0db"),
            "59fb43f2-644b-494f-95f0-37b13a38d0db"
        );
        for hostile in ["x/../../..", "a/b", "..", ".hidden", "", "a\u{0}b", "é"] {
            let safe = file_id(hostile);
            assert!(safe.starts_with("sha256-"), "{hostile:?} -> {safe}");
            assert_eq!(safe.len(), "sha256-".len() + 16);
        }
        assert_ne!(file_id("a/b"), file_id("a/c"));
    }

    #[test]
    fn paths_are_confined_to_the_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(confined(dir.path(), "_exports/x.json").is_some());
        for bad in ["/etc/passwd", "../x", "_exports/../../x", "./x", ""] {
            assert!(confined(dir.path(), bad).is_none(), "{bad}");
        }
        std::os::unix::fs::symlink("/tmp", dir.path().join("link")).unwrap();
        assert!(confined(dir.path(), "link/x").is_none());
    }

    #[test]
    fn recovery_discards_a_plan_that_leaves_the_run_and_spares_live_sessions() {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        let outside = root.path().join("outside.txt");
        let staging = run.join(".staging-x");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("0"), "payload").unwrap();
        std::fs::write(staging.join("1"), "fine").unwrap();
        std::fs::write(
            staging.join("COMMIT"),
            format!(
                r#"[{{"staged":"1","target":"ok.txt"}},{{"staged":"0","target":"{}"}}]"#,
                outside.display()
            ),
        )
        .unwrap();
        // Held by a live session (a lock held here; its file names another pid): untouched.
        std::fs::write(run.join(LOCK_FILE), "1").unwrap();
        let held = File::open(run.join(LOCK_FILE)).unwrap();
        held.lock().unwrap();
        assert_eq!(recover(&run), (0, 0));
        assert!(staging.is_dir());
        // Its session gone (the pid in the file runs, but nobody holds the lock): the
        // plan is refused whole and the staging discarded.
        drop(held);
        assert_eq!(recover(&run), (0, 1));
        assert!(!outside.exists());
        assert!(
            !run.join("ok.txt").exists(),
            "no step of a refused plan runs"
        );
        assert!(!staging.exists());
    }
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
    fn a_run_is_held_while_its_writer_holds_the_lock_not_while_its_pid_runs() {
        let dir = tempfile::tempdir().unwrap();
        let run = writer(dir.path());
        let lock = run.dir.join(LOCK_FILE);
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            std::process::id().to_string()
        );
        assert!(held_by_live_session(&run.dir));
        // A clone going away keeps the hold; release ends it and removes the file.
        drop(run.clone());
        assert!(held_by_live_session(&run.dir));
        run.release();
        assert!(!lock.exists());
        assert!(!held_by_live_session(&run.dir));
        // A `.lock` naming a running pid (1) that nobody locks: not held.
        std::fs::write(&lock, "1").unwrap();
        assert!(!held_by_live_session(&run.dir));
        // The same file locked by an open handle: held.
        let holder = File::open(&lock).unwrap();
        holder.lock().unwrap();
        assert!(held_by_live_session(&run.dir));
        drop(holder);
        assert!(!held_by_live_session(&run.dir));
    }

    #[test]
    fn a_new_run_recovers_an_earlier_one_whose_lock_nobody_holds() {
        let dir = tempfile::tempdir().unwrap();
        let first = writer(dir.path());
        let torn = first.dir.join(".staging-a-1");
        std::fs::create_dir(&torn).unwrap();
        // Still held: the next run leaves it alone.
        let _second = writer(dir.path());
        assert!(torn.is_dir());
        // Its session gone (the lock dropped, pid 1 left in the file): recovered.
        *first.lock.lock().unwrap() = None;
        std::fs::write(first.dir.join(LOCK_FILE), "1").unwrap();
        let _third = writer(dir.path());
        assert!(!torn.exists());
        assert!(!first.dir.join(LOCK_FILE).exists());
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
        // A file whose write a crash cut off, under its hidden temporary name.
        let partial = run.dir.join("_metrics/.partial-1-0-metrics-before.txt.tmp");
        std::fs::write(&partial, "cut").unwrap();
        assert_eq!(recover(&run.dir), (1, 1));
        assert_eq!(
            std::fs::read_to_string(run.dir.join("_containers-b.json")).unwrap(),
            "second"
        );
        assert!(!torn.exists() && !committed.exists());
        assert!(!partial.exists());
    }
}
