//! Files of a run that are whole or absent: a new file is written under a hidden
//! temporary name, synced, then linked into place (never over an existing one) and
//! its directory synced. A write the disk refuses leaves nothing behind, and the error
//! says in plain words what the disk said (full, read-only, not ours, over quota).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    #[error("{refusal} ({source}) writing {path}; {fix}", fix = .refusal.fix())]
    Disk {
        refusal: DiskRefusal,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path} failed: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "refusing to write {0:?}: a run's files stay inside its directory (no absolute path, no `..`, no symlink)"
    )]
    Unsafe(String),
}

/// Why the disk refused a write, when it is the disk (not the cockpit) that must change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskRefusal {
    Full,
    ReadOnly,
    NotPermitted,
    OverQuota,
}

impl DiskRefusal {
    /// The refusal `error` is, if it is one (ENOSPC, EROFS, EACCES/EPERM, EDQUOT).
    pub fn of(error: &std::io::Error) -> Option<DiskRefusal> {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::StorageFull => Some(DiskRefusal::Full),
            ErrorKind::ReadOnlyFilesystem => Some(DiskRefusal::ReadOnly),
            ErrorKind::PermissionDenied => Some(DiskRefusal::NotPermitted),
            ErrorKind::QuotaExceeded => Some(DiskRefusal::OverQuota),
            _ => None,
        }
    }

    /// What the user can do about it.
    pub fn fix(self) -> &'static str {
        match self {
            DiskRefusal::Full => {
                "free space there or set cockpit.snapshots_dir to a disk with room"
            }
            DiskRefusal::ReadOnly => {
                "remount it read-write or set cockpit.snapshots_dir to a writable directory"
            }
            DiskRefusal::NotPermitted => {
                "give this user write permission there or set cockpit.snapshots_dir to a directory it may write"
            }
            DiskRefusal::OverQuota => {
                "free space within the quota or set cockpit.snapshots_dir to another disk"
            }
        }
    }
}

impl std::fmt::Display for DiskRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiskRefusal::Full => "the snapshots disk is full",
            DiskRefusal::ReadOnly => "the snapshots disk is read-only",
            DiskRefusal::NotPermitted => "the snapshots directory is not writable for this user",
            DiskRefusal::OverQuota => "this user's disk quota on the snapshots disk is used up",
        })
    }
}

/// The error of an IO operation on `path`: the disk's refusal in words when it is one.
pub fn io_error(path: &Path, source: std::io::Error) -> WriteError {
    let path = path.to_path_buf();
    match DiskRefusal::of(&source) {
        Some(refusal) => WriteError::Disk {
            refusal,
            path,
            source,
        },
        None => WriteError::Io { path, source },
    }
}

/// `map_err` shorthand for [`io_error`].
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| io_error(path, source)
}

/// A name no other write of this process takes (pid and a counter): a retry after a
/// failed write never meets the leftovers of the attempt before it.
pub fn unique_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The prefix of a file being written: hidden, so no reader of the run lists it.
pub const PARTIAL_PREFIX: &str = ".partial-";

/// Creates `path`, which must not exist yet, whole or not at all: written and synced
/// under a hidden name beside it, linked into place, its directory synced.
pub fn write_new_file(path: &Path, content: &[u8]) -> Result<(), WriteError> {
    let parent = path
        .parent()
        .ok_or_else(|| WriteError::Unsafe(path.display().to_string()))?;
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    if path.symlink_metadata().is_ok() {
        return Err(WriteError::Exists(path.to_path_buf()));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `.tmp` last: no reader that picks files by their ending (`.txt`, `.json`, `.log`)
    // takes a cut-off one left by a crash for evidence.
    let temp = parent.join(format!("{PARTIAL_PREFIX}{}-{name}.tmp", unique_suffix()));
    let placed = write_synced(&temp, content, path).and_then(|()| link_into_place(&temp, path));
    // The temporary name goes whatever happened: linked, it is a second name of the
    // file; not linked, it is a partial file nobody must find.
    let _ = std::fs::remove_file(&temp);
    placed?;
    sync_dir(parent)
}

/// Writes `content` to the new file `path` and syncs it; an error names `shown` (the
/// file the user knows, not a temporary name).
pub fn write_synced(path: &Path, content: &[u8], shown: &Path) -> Result<(), WriteError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => WriteError::Exists(shown.to_path_buf()),
            _ => io_error(shown, source),
        })?;
    file.write_all(content).map_err(io(shown))?;
    file.sync_all().map_err(io(shown))
}

/// Gives the written `temp` its final name `path`, failing rather than replacing a file.
fn link_into_place(temp: &Path, path: &Path) -> Result<(), WriteError> {
    match std::fs::hard_link(temp, path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(WriteError::Exists(path.to_path_buf()))
        }
        // A filesystem without hard links (FAT, some network mounts) refuses link(2)
        // although it lets us write: rename then, after checking nothing is there (the
        // run's lock keeps every other session out).
        Err(_) if path.symlink_metadata().is_err() => std::fs::rename(temp, path).map_err(io(path)),
        Err(_) => Err(WriteError::Exists(path.to_path_buf())),
    }
}

/// Syncs a directory, so the names just created, renamed or removed in it survive a
/// crash. A filesystem that cannot sync a directory says so with EINVAL: nothing more
/// can be done there, so that is not an error.
pub fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    let synced = std::fs::File::open(dir).and_then(|d| d.sync_all());
    match synced {
        Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        other => other.map_err(io(dir)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_written_whole_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/manifest.json");
        write_new_file(&path, b"{}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
        assert!(matches!(
            write_new_file(&path, b"other"),
            Err(WriteError::Exists(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
        // No temporary name is left beside it.
        let names: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["manifest.json"]);
    }

    #[test]
    fn a_disk_refusal_is_said_in_words_with_the_fix() {
        let full = io_error(
            Path::new("/snap/run/manifest.json"),
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        );
        let text = full.to_string();
        assert!(
            text.starts_with("the snapshots disk is full (No space left on device (os error 28)) writing /snap/run/manifest.json; free space"),
            "{text}"
        );
        assert!(text.contains("cockpit.snapshots_dir"), "{text}");
        for (errno, words) in [
            (libc::EROFS, "the snapshots disk is read-only"),
            (libc::EACCES, "not writable for this user"),
            (libc::EDQUOT, "disk quota"),
        ] {
            let text =
                io_error(Path::new("/x"), std::io::Error::from_raw_os_error(errno)).to_string();
            assert!(text.contains(words), "{errno}: {text}");
        }
        // Anything else stays the plain IO error.
        assert!(matches!(
            io_error(
                Path::new("/x"),
                std::io::Error::from_raw_os_error(libc::EIO)
            ),
            WriteError::Io { .. }
        ));
    }
}
