//! A really small (or read-only) filesystem for the snapshots: a tmpfs mounted on a
//! fresh temporary folder, unmounted when dropped. Mounting needs root (CI runs as
//! root); elsewhere the test is skipped, saying why.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// A tmpfs of `size` (`64k`), or `None` (skipped, said) when it cannot be mounted.
    pub fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk { dir }),
            Ok(out) => testkit::env::unavailable(
                "a small tmpfs for the snapshots",
                &format!(
                    "`mount -t tmpfs` failed ({}): run the tests as root, as CI does",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                ),
            ),
            Err(error) => testkit::env::unavailable(
                "a small tmpfs for the snapshots",
                &format!("`mount` could not run ({error}): install util-linux, run as root"),
            ),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills every byte left with a file of its own (`filler`, removed to make room).
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("create the filler");
        let block = vec![b'f'; 4096];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    assert_eq!(
                        error.raw_os_error(),
                        Some(libc::ENOSPC),
                        "filling the disk: {error}"
                    );
                    break;
                }
            }
        }
        filler
    }

    /// Remounts it read-only (its files stay as they are).
    pub fn remount_read_only(&self) {
        let out = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .output()
            .expect("mount -o remount,ro");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a process of the test that still has a file open does not keep the
        // mount (nor the temporary folder under it) alive.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}
