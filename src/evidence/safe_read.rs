//! The one way into a run directory. Every read of a run (`verify`, `report`, `replay`,
//! the manifest) goes through a [`RunReader`], which:
//! - never follows a symbolic link (a file, or a folder on the way to it): it is skipped
//!   and named, so a run cannot lead outside itself;
//! - never opens anything but a regular file (a FIFO, a device or a socket is skipped
//!   and named); the type is checked before opening, the file is opened non-blocking and
//!   without following a link, and the opened handle is checked again;
//! - reads each file up to a cap ([`LOG_CAP`], [`JSON_CAP`]) and the whole run up to a
//!   budget ([`RUN_BUDGET`]), saying what it cut or skipped;
//! - walks folders without entering a link, at most [`MAX_DEPTH`] levels deep and
//!   [`MAX_ENTRIES`] entries per walk.
//!
//! What it skipped or cut is kept as problems (one line each, naming the file, what was
//! wrong and what was done), for `RunDir.problems`, `ForeignRun.problems` and verify.

use std::cell::{Cell, RefCell};
use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

const MIB: u64 = 1 << 20;
/// A log file (`_logs/*.log`) or the journal (`_timeline.jsonl`).
pub const LOG_CAP: u64 = 64 * MIB;
/// A JSON, metrics or other small evidence file.
pub const JSON_CAP: u64 = 8 * MIB;
/// Every byte read from one run by one reader.
pub const RUN_BUDGET: u64 = 256 * MIB;
/// A file hashed for the manifest (streamed, never held whole).
pub const HASH_CAP: u64 = 256 * MIB;
/// Every byte hashed for one manifest.
pub const HASH_BUDGET: u64 = 1024 * MIB;
/// Folder levels below the run a walk enters.
pub const MAX_DEPTH: usize = 8;
/// Entries one listing or one walk looks at.
pub const MAX_ENTRIES: usize = 20_000;

/// Reads one run directory by the rules above, noting what it skipped or cut.
pub struct RunReader {
    root: PathBuf,
    budget: u64,
    spent: Cell<u64>,
    problems: RefCell<Vec<String>>,
}

/// What a path inside the run is, by its own entry (a link is not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    File,
    Dir,
    Link,
    Other(&'static str),
}

fn kind_of(file_type: FileType) -> Kind {
    if file_type.is_symlink() {
        Kind::Link
    } else if file_type.is_file() {
        Kind::File
    } else if file_type.is_dir() {
        Kind::Dir
    } else {
        Kind::Other(other_name(file_type))
    }
}

fn other_name(file_type: FileType) -> &'static str {
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "unknown type"
    }
}

/// The entry at `path` itself (never what a link points to).
pub fn kind(path: &Path) -> Kind {
    std::fs::symlink_metadata(path).map_or(Kind::Missing, |m| kind_of(m.file_type()))
}

/// Whether `path` is a regular file, not reached through a link at its last step.
pub fn is_regular_file(path: &Path) -> bool {
    kind(path) == Kind::File
}

/// Whether `path` is a folder, not reached through a link at its last step.
pub fn is_real_dir(path: &Path) -> bool {
    kind(path) == Kind::Dir
}

fn shown(rel: &Path) -> String {
    format!("`{}`", rel.display())
}

fn size(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

impl RunReader {
    pub fn new(root: &Path) -> RunReader {
        RunReader::with_budget(root, RUN_BUDGET)
    }

    pub fn with_budget(root: &Path, budget: u64) -> RunReader {
        RunReader {
            root: root.to_path_buf(),
            budget,
            spent: Cell::new(0),
            problems: RefCell::new(Vec::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Notes a problem once (a file listed and then read is named once).
    pub fn note(&self, problem: String) {
        let mut problems = self.problems.borrow_mut();
        if !problems.contains(&problem) {
            problems.push(problem);
        }
    }

    /// The problems noted so far, in order.
    pub fn problems(&self) -> Vec<String> {
        self.problems.borrow().clone()
    }

    /// The run's relative path `rel` as an absolute one (for messages and file names).
    pub fn path(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    /// The kind of `rel`, checking every folder on the way is a real one (not a link).
    pub fn kind(&self, rel: &Path) -> Kind {
        let mut at = self.root.clone();
        let mut parts = rel.components().peekable();
        while let Some(part) = parts.next() {
            let Component::Normal(name) = part else {
                return Kind::Other("path leaving the run");
            };
            at.push(name);
            let here = kind(&at);
            if parts.peek().is_some() && here != Kind::Dir {
                return match here {
                    Kind::Missing => Kind::Missing,
                    _ => Kind::Other("a folder on its way is a link or not a folder"),
                };
            }
        }
        if rel.as_os_str().is_empty() {
            return Kind::Dir;
        }
        kind(&at)
    }

    /// Whether `rel` is a regular file of the run (no link on the way).
    pub fn is_file(&self, rel: &Path) -> bool {
        self.kind(rel) == Kind::File
    }

    /// Whether `rel` is a real folder of the run (no link on the way).
    pub fn is_dir(&self, rel: &Path) -> bool {
        self.kind(rel) == Kind::Dir
    }

    /// Why `rel` is not read, noted; `None` when it is missing (not a problem).
    fn refuse(&self, rel: &Path, kind: Kind) {
        match kind {
            Kind::Missing | Kind::File => {}
            Kind::Dir => self.note(format!("{}: a folder, not a file: skipped", shown(rel))),
            Kind::Link => self.note(format!(
                "{}: a symbolic link{}: not followed, skipped",
                shown(rel),
                std::fs::read_link(self.path(rel))
                    .map(|to| format!(" (to {})", to.display()))
                    .unwrap_or_default()
            )),
            Kind::Other(what) => self.note(format!(
                "{}: not a regular file ({what}): skipped",
                shown(rel)
            )),
        }
    }

    /// Opens `rel` if it is a regular file of the run: checked before opening, opened
    /// non-blocking without following a link, and checked again on the handle.
    pub(crate) fn open(&self, rel: &Path) -> Option<(File, Metadata)> {
        let kind = self.kind(rel);
        if kind != Kind::File {
            self.refuse(rel, kind);
            return None;
        }
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(self.path(rel))
            .and_then(|file| file.metadata().map(|m| (file, m)));
        match opened {
            Ok((file, metadata)) if metadata.is_file() => Some((file, metadata)),
            Ok((_, metadata)) => {
                self.refuse(rel, kind_of(metadata.file_type()));
                None
            }
            Err(error) => {
                self.note(format!("{}: cannot be read ({error}): skipped", shown(rel)));
                None
            }
        }
    }

    /// What the budget still allows, noting a file skipped for it.
    fn allowance(&self, rel: &Path, cap: u64) -> Option<u64> {
        let left = self.budget.saturating_sub(self.spent.get());
        if left == 0 {
            self.note(format!(
                "{}: the run's read budget ({}) is spent: skipped",
                shown(rel),
                size(self.budget)
            ));
            return None;
        }
        Some(cap.min(left))
    }

    /// The bytes of `rel`, at most `cap` of them (a longer file is cut, and noted).
    /// `None` when it is missing or refused (noted).
    pub fn bytes(&self, rel: &Path, cap: u64) -> Option<Vec<u8>> {
        let (file, metadata) = self.open(rel)?;
        let limit = self.allowance(rel, cap)?;
        let mut bytes = Vec::new();
        let read = file.take(limit + 1).read_to_end(&mut bytes);
        if let Err(error) = read {
            self.note(format!("{}: cannot be read ({error}): skipped", shown(rel)));
            return None;
        }
        if bytes.len() as u64 > limit {
            bytes.truncate(limit as usize);
            self.note(format!(
                "{}: {} or more, over the {} cap: read its first {} only",
                shown(rel),
                size(metadata.len().max(limit + 1)),
                size(cap),
                size(limit)
            ));
        }
        self.spent.set(self.spent.get() + bytes.len() as u64);
        Some(bytes)
    }

    /// The text of `rel` (invalid UTF-8 replaced), as [`RunReader::bytes`].
    pub fn text(&self, rel: &Path, cap: u64) -> Option<String> {
        // Valid UTF-8 (nearly every file) is taken as it is, without a lossy copy.
        self.bytes(rel, cap).map(|bytes| {
            String::from_utf8(bytes)
                .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
        })
    }

    /// `rel` as JSON (at most [`JSON_CAP`]); `Some(Err)` when it is not JSON.
    pub fn json_or_error(&self, rel: &Path) -> Option<Result<Value, serde_json::Error>> {
        self.bytes(rel, JSON_CAP)
            .map(|bytes| serde_json::from_slice(&bytes))
    }

    /// `rel` as JSON, `None` when missing, refused or not JSON.
    pub fn json(&self, rel: &Path) -> Option<Value> {
        self.json_or_error(rel)?.ok()
    }

    /// `rel` as JSON, noting why when it is present but not JSON.
    pub fn json_noted(&self, rel: &Path) -> Option<Value> {
        self.json_or_error(rel)?
            .map_err(|e| self.note(format!("{}: not JSON ({e}): ignored", shown(rel))))
            .ok()
    }

    /// The sha256 and size of `rel`, streamed, hashing at most `cap` bytes (noted when
    /// cut; the size is the file's whole length, so growth past the cap still shows).
    /// `None` when refused (noted).
    pub fn sha256(&self, rel: &Path, cap: u64) -> Option<(String, u64)> {
        use sha2::{Digest, Sha256};
        let (file, metadata) = self.open(rel)?;
        let limit = self.allowance(rel, cap)?;
        let mut hasher = Sha256::new();
        let mut reader = file.take(limit);
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    total += n as u64;
                }
                Err(error) => {
                    self.note(format!("{}: cannot be read ({error}): skipped", shown(rel)));
                    return None;
                }
            }
        }
        self.spent.set(self.spent.get() + total);
        if metadata.len() > total {
            self.note(format!(
                "{}: {}, over the {} cap: hashed its first {} only",
                shown(rel),
                size(metadata.len()),
                size(cap),
                size(total)
            ));
        }
        let hex = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some((hex, total))
    }

    /// The regular files directly in the run's folder `rel_dir` (relative paths,
    /// unsorted). Links and special files are skipped and noted; subfolders are left
    /// out; at most [`MAX_ENTRIES`] entries are looked at.
    pub fn list(&self, rel_dir: &Path) -> Vec<PathBuf> {
        self.entries(rel_dir)
            .into_iter()
            .filter(|(_, kind)| *kind == Kind::File)
            .map(|(rel, _)| rel)
            .collect()
    }

    /// Every entry of `rel_dir` with its kind; a link or special file is noted.
    fn entries(&self, rel_dir: &Path) -> Vec<(PathBuf, Kind)> {
        if !self.is_dir(rel_dir) {
            return Vec::new();
        }
        let Ok(reader) = std::fs::read_dir(self.path(rel_dir)) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in reader.flatten() {
            if found.len() == MAX_ENTRIES {
                self.note(format!(
                    "{}: more than {MAX_ENTRIES} entries: looked at the first {MAX_ENTRIES} only",
                    shown(rel_dir)
                ));
                break;
            }
            let rel = rel_dir.join(entry.file_name());
            let kind = entry.file_type().map_or(Kind::Missing, kind_of);
            if matches!(kind, Kind::Link | Kind::Other(_)) {
                self.refuse(&rel, kind);
            }
            found.push((rel, kind));
        }
        found
    }

    /// Every regular file below the run (relative paths, unsorted), not entering links
    /// nor folders whose name starts with `.`, at most [`MAX_DEPTH`] levels deep and
    /// [`MAX_ENTRIES`] entries in all.
    pub fn walk(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut pending = vec![(PathBuf::new(), 0usize)];
        let mut seen = 0usize;
        while let Some((dir, depth)) = pending.pop() {
            for (rel, kind) in self.entries(&dir) {
                if rel
                    .file_name()
                    .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
                {
                    continue; // staging directories of a freeze in progress
                }
                seen += 1;
                if seen > MAX_ENTRIES {
                    self.note(format!(
                        "the run holds more than {MAX_ENTRIES} entries: listed the first {MAX_ENTRIES} only"
                    ));
                    return files;
                }
                match kind {
                    Kind::File => files.push(rel),
                    Kind::Dir if depth < MAX_DEPTH => pending.push((rel, depth + 1)),
                    Kind::Dir => self.note(format!(
                        "{}: deeper than {MAX_DEPTH} levels: not entered",
                        shown(&rel)
                    )),
                    _ => {}
                }
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("_logs")).unwrap();
        std::fs::write(dir.path().join("_logs/worker.log"), "line\n").unwrap();
        dir
    }

    #[test]
    fn a_link_is_never_followed_and_is_named() {
        let dir = run();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "SECRET").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("id.txt"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("_exports")).unwrap();
        let reader = RunReader::new(dir.path());
        assert_eq!(reader.text(Path::new("id.txt"), JSON_CAP), None);
        assert_eq!(reader.text(Path::new("_exports/secret"), JSON_CAP), None);
        assert!(reader.list(Path::new("_exports")).is_empty());
        let problems = reader.problems().join("\n");
        assert!(problems.contains("`id.txt`: a symbolic link"), "{problems}");
        assert!(!problems.contains("SECRET\n"), "{problems}");
    }

    #[test]
    fn a_fifo_and_a_device_are_skipped_and_named() {
        let dir = run();
        let fifo = dir.path().join("_logs/worker-x.log");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = RunReader::new(dir.path());
        assert_eq!(
            reader.list(Path::new("_logs")),
            vec![PathBuf::from("_logs/worker.log")]
        );
        assert_eq!(reader.bytes(Path::new("_logs/worker-x.log"), LOG_CAP), None);
        assert_eq!(
            reader.problems(),
            vec!["`_logs/worker-x.log`: not a regular file (FIFO): skipped"]
        );
    }

    #[test]
    fn a_file_over_its_cap_is_cut_and_the_budget_ends_reading() {
        let dir = run();
        std::fs::write(dir.path().join("big.txt"), vec![b'x'; 3000]).unwrap();
        let reader = RunReader::with_budget(dir.path(), 2500);
        assert_eq!(
            reader.bytes(Path::new("big.txt"), 2000).unwrap().len(),
            2000
        );
        assert_eq!(reader.bytes(Path::new("big.txt"), 2000).unwrap().len(), 500);
        assert_eq!(reader.bytes(Path::new("big.txt"), 2000), None);
        let problems = reader.problems().join("\n");
        assert!(problems.contains("over the 2000 bytes cap: read its first 2000 bytes only"));
        assert!(
            problems.contains("read budget (2500 bytes) is spent: skipped"),
            "{problems}"
        );
    }

    #[test]
    fn the_walk_does_not_enter_links_and_stops_at_its_depth() {
        let dir = run();
        std::os::unix::fs::symlink(".", dir.path().join("_logs/a")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("_logs/b")).unwrap();
        let mut deep = dir.path().to_path_buf();
        for _ in 0..MAX_DEPTH + 3 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), "").unwrap();
        let reader = RunReader::new(dir.path());
        assert_eq!(reader.walk(), vec![PathBuf::from("_logs/worker.log")]);
        let problems = reader.problems().join("\n");
        assert!(
            problems.contains("`_logs/a`: a symbolic link (to .)"),
            "{problems}"
        );
        assert!(problems.contains("deeper than"), "{problems}");
    }

    #[test]
    fn a_path_leaving_the_run_is_refused() {
        let dir = run();
        let reader = RunReader::new(&dir.path().join("_logs"));
        assert_eq!(
            reader.bytes(Path::new("../_logs/worker.log"), JSON_CAP),
            None
        );
        assert_eq!(
            reader.kind(Path::new("/etc/passwd")),
            Kind::Other("path leaving the run")
        );
    }
}
