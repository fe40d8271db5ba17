//! The diagnostics log's file: appended to, and kept under a size cap by moving it
//! aside to `<name>.1` (the one before it is dropped) whenever a record would take it
//! past the cap, at start and while it runs. So the log and its one predecessor hold
//! about twice the cap at most, however long the cockpit runs and whatever RUST_LOG
//! lets through. Several processes may append to the same log (a cockpit and a `run`):
//! the size is the file's own, and a log another process moved aside is let go.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How large the log may grow before it is moved aside.
pub const LOG_CAP_BYTES: u64 = 4 * 1024 * 1024;

pub struct CappedFile {
    path: PathBuf,
    file: File,
    cap: u64,
}

impl CappedFile {
    /// Opens (creating) the log for appending, moving it aside first when it is already
    /// at the cap. The folder is created private (0700), the file too (0600): it holds
    /// the addresses and errors of this user's drills.
    pub fn open(path: &Path, cap: u64) -> io::Result<CappedFile> {
        if let Some(folder) = path.parent() {
            create_private_dir(folder)?;
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size >= cap {
            std::fs::rename(path, rotated(path))?;
        }
        Ok(CappedFile {
            path: path.to_path_buf(),
            file: open_append(path)?,
            cap,
        })
    }

    /// Whether the path no longer names the file this process writes (another process
    /// moved it aside, or someone removed it).
    fn moved_away(&self) -> io::Result<bool> {
        let ours = self.file.metadata()?;
        Ok(match std::fs::metadata(&self.path) {
            Ok(named) => (named.dev(), named.ino()) != (ours.dev(), ours.ino()),
            Err(_) => true,
        })
    }
}

impl Write for CappedFile {
    /// Writes whole records: one that would cross the cap goes to a fresh file.
    fn write(&mut self, record: &[u8]) -> io::Result<usize> {
        if self.moved_away()? {
            self.file = open_append(&self.path)?;
        }
        let size = self.file.metadata()?.len();
        if size > 0 && size + record.len() as u64 > self.cap {
            std::fs::rename(&self.path, rotated(&self.path))?;
            self.file = open_append(&self.path)?;
        }
        self.file.write_all(record)?;
        Ok(record.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// `drill-cockpit.log` → `drill-cockpit.log.1`.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn create_private_dir(folder: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_would_cross_the_cap_starts_a_fresh_file_and_keeps_one_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/drill-cockpit/drill-cockpit.log");
        let mut log = CappedFile::open(&path, 100).unwrap();
        for n in 0..10 {
            log.write_all(format!("record {n:02} ............................\n").as_bytes())
                .unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let before = std::fs::read_to_string(rotated(&path)).unwrap();
        assert!(current.len() <= 100, "{current}");
        assert!(before.len() <= 100, "{before}");
        assert!(current.ends_with("record 09 ............................\n"));
        // Whole records only: nothing is cut in the middle.
        for text in [&current, &before] {
            assert!(text.lines().all(|l| l.starts_with("record ")), "{text}");
        }
    }

    #[test]
    fn two_writers_of_one_log_keep_it_under_the_cap_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drill-cockpit.log");
        let mut first = CappedFile::open(&path, 100).unwrap();
        let mut second = CappedFile::open(&path, 100).unwrap();
        for n in 0..20 {
            let writer = if n % 2 == 0 { &mut first } else { &mut second };
            writer
                .write_all(format!("record {n:02} ............................\n").as_bytes())
                .unwrap();
            assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        }
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(
            current.ends_with("record 19 ............................\n"),
            "{current}"
        );
        assert!(
            current.contains("record 18"),
            "both write to the same new file: {current}"
        );
    }

    #[test]
    fn a_log_already_over_the_cap_is_moved_aside_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drill-cockpit.log");
        std::fs::write(&path, vec![b'x'; 150]).unwrap();
        let mut log = CappedFile::open(&path, 100).unwrap();
        log.write_all(b"fresh\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "fresh\n");
        assert_eq!(std::fs::metadata(rotated(&path)).unwrap().len(), 150);
    }

    #[test]
    fn the_folder_and_the_file_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/drill-cockpit.log");
        CappedFile::open(&path, 100).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
}
