//! An evidence bundle (`export`'s .tar.gz) unpacked for `verify`, into a private temp
//! folder removed when done. A bundle comes from anywhere, so it is refused whole — and
//! nothing graded — when an entry would leave the folder (an absolute path, `..`), is
//! anything but a file or a folder (a symbolic or hard link, a device, a FIFO), appears
//! twice, or when the bundle goes over a cap (a file, the total, the entry count: a
//! small .tar.gz can unpack to terabytes).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::safe_read::{HASH_BUDGET, HASH_CAP, MAX_DEPTH, MAX_ENTRIES};
use crate::sanitize::path as shown;

/// The caps of one unpacking; [`Caps::BUNDLE`] are those `export` writes within.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub file: u64,
    pub total: u64,
    pub entries: usize,
    /// Folder levels of an entry's path (`<scenario>/<run_id>/` and the run's own).
    pub depth: usize,
}

impl Caps {
    pub const BUNDLE: Caps = Caps {
        file: HASH_CAP,
        total: HASH_BUDGET,
        entries: MAX_ENTRIES,
        depth: MAX_DEPTH + 3,
    };
}

/// A bundle unpacked; the folder goes when this is dropped.
pub struct Unpacked {
    dir: tempfile::TempDir,
    pub files: usize,
}

impl Unpacked {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Unpacks `bundle` (a .tar.gz) into a new private temp folder.
pub fn unpack(bundle: &Path) -> Result<Unpacked, String> {
    let open = || {
        std::fs::File::open(bundle)
            .map(|file| flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
            .map_err(|e| {
                format!(
                    "{} cannot be read ({e}): check that you may read it",
                    shown(bundle)
                )
            })
    };
    let refused = |why: String| {
        format!(
            "{} is refused as an evidence bundle: {why}; nothing was graded",
            shown(bundle)
        )
    };
    // Read twice: first the headers alone (nothing kept), so no entry is held in memory
    // before its size is judged; then unpacked.
    precheck(open()?, Caps::BUNDLE).map_err(refused)?;
    let dir = tempfile::Builder::new()
        .prefix("drill-verify-bundle-")
        .tempdir()
        .map_err(|e| {
            format!(
                "cannot make a temp folder to unpack {} into ({e}): check TMPDIR",
                shown(bundle)
            )
        })?;
    let files = unpack_into(open()?, dir.path(), Caps::BUNDLE).map_err(refused)?;
    Ok(Unpacked { dir, files })
}

/// The largest long name or pax header an entry may have: the tar reader holds one
/// whole in memory (a hostile one could be gigabytes of zeros, compressed to little).
pub const EXTENSION_CAP: u64 = 64 * 1024;

/// Walks the raw headers of `archive` without keeping any data: every long-name or pax
/// header within [`EXTENSION_CAP`], every file within the caps, the entry count too.
pub fn precheck(archive: impl Read, caps: Caps) -> Result<(), String> {
    let mut archive = tar::Archive::new(archive);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive ({e})"))?
        .raw(true);
    let (mut count, mut total) = (0usize, 0u64);
    for entry in entries {
        let entry = entry.map_err(|e| format!("cut off or not a .tar.gz ({e})"))?;
        count += 1;
        // A file may take up to three raw entries (a long name, a long link, itself).
        if count > caps.entries.saturating_mul(3) {
            return Err(format!("more than {} entries", caps.entries));
        }
        let size = entry
            .header()
            .entry_size()
            .map_err(|e| format!("a header is unreadable ({e})"))?;
        match entry.header().entry_type() {
            tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink
            | tar::EntryType::XHeader
            | tar::EntryType::XGlobalHeader => {
                if size > EXTENSION_CAP {
                    return Err(format!(
                        "a long-name or pax header of {size} bytes, over the {EXTENSION_CAP}-byte cap"
                    ));
                }
            }
            _ => {
                if size > caps.file {
                    return Err(format!(
                        "an entry of {size} bytes, over the {}-byte cap of a file",
                        caps.file
                    ));
                }
                total += size;
                if total > caps.total {
                    return Err(format!("more than {} bytes in all", caps.total));
                }
            }
        }
    }
    Ok(())
}

/// Unpacks the tar stream `archive` into the empty folder `into`; returns how many files.
pub fn unpack_into(archive: impl Read, into: &Path, caps: Caps) -> Result<usize, String> {
    let mut archive = tar::Archive::new(archive);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive ({e})"))?;
    let (mut files, mut count, mut total) = (0usize, 0usize, 0u64);
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("cut off or not a .tar.gz ({e})"))?;
        count += 1;
        if count > caps.entries {
            return Err(format!("more than {} entries", caps.entries));
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        let rel = confined(&raw, caps.depth).map_err(|why| format!("entry `{name}` {why}"))?;
        match kind {
            tar::EntryType::Directory => {
                if let Some(rel) = rel {
                    make_dirs(into, &rel)?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let rel = rel.ok_or_else(|| format!("entry `{name}`: a file with no name"))?;
                let size = entry
                    .header()
                    .size()
                    .map_err(|e| format!("entry `{name}`: {e}"))?;
                if size > caps.file {
                    return Err(format!(
                        "entry `{name}` is {size} bytes, over the {}-byte cap of a file",
                        caps.file
                    ));
                }
                total += size;
                if total > caps.total {
                    return Err(format!("more than {} bytes in all", caps.total));
                }
                write_file(into, &rel, &name, &mut entry, size)?;
                files += 1;
            }
            // pax's global header: metadata for the entries, no file of its own.
            tar::EntryType::XGlobalHeader => {}
            other => {
                return Err(format!(
                    "entry `{name}` is {}: only files and folders are unpacked",
                    what(other)
                ));
            }
        }
    }
    Ok(files)
}

/// The entry's path as plain names below the folder: `Ok(None)` for the folder itself
/// (`./`), an error for an absolute path, `..`, or a path deeper than `depth`.
fn confined(raw: &[u8], depth: usize) -> Result<Option<PathBuf>, &'static str> {
    use std::os::unix::ffi::OsStrExt;
    if raw.contains(&0) {
        return Err("holds a NUL byte");
    }
    let path = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut rel = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => rel.push(name),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
            Component::ParentDir => return Err("goes up with `..`"),
        }
    }
    if rel.components().count() > depth {
        return Err("is nested deeper than a run's folders");
    }
    Ok((!rel.as_os_str().is_empty()).then_some(rel))
}

/// The folders of `rel` below `into`, private to us. Only this module writes there, and
/// it never makes a link, so no folder on the way can lead out.
fn make_dirs(into: &Path, rel: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(into.join(rel))
        .map_err(|e| format!("cannot make folder `{}` ({e})", rel.display()))
}

/// Writes one file, new (a second entry of the same path is refused), at most `size`
/// bytes: the header's size is what the caps judged.
fn write_file(
    into: &Path,
    rel: &Path,
    name: &str,
    data: &mut impl Read,
    size: u64,
) -> Result<(), String> {
    if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        make_dirs(into, parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(into.join(rel))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("entry `{name}` appears twice (or is also a folder)")
            }
            _ => format!("cannot write entry `{name}` ({e})"),
        })?;
    let copied = std::io::copy(&mut data.take(size), &mut file)
        .map_err(|e| format!("entry `{name}`: cut off ({e})"))?;
    if copied != size {
        return Err(format!(
            "entry `{name}`: cut off ({copied} of {size} bytes)"
        ));
    }
    Ok(())
}

fn what(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        tar::EntryType::GNUSparse => "a sparse file",
        _ => "of an unknown kind",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar with one entry of `kind` named `name` (raw bytes, as a hostile tool writes).
    fn tar_with(name: &[u8], kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if kind == tar::EntryType::Symlink || kind == tar::EntryType::Link {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap()
    }

    fn unpack_bytes(bytes: &[u8], caps: Caps) -> (tempfile::TempDir, Result<usize, String>) {
        let dir = tempfile::tempdir().unwrap();
        let result = unpack_into(bytes, dir.path(), caps);
        (dir, result)
    }

    #[test]
    fn files_and_folders_unpack_below_the_folder() {
        let bytes = tar_with(
            b"es_down_connect/20260101T000000/_logs/w.log",
            tar::EntryType::Regular,
            b"line\n",
        );
        let (dir, result) = unpack_bytes(&bytes, Caps::BUNDLE);
        assert_eq!(result, Ok(1));
        let text = std::fs::read_to_string(
            dir.path()
                .join("es_down_connect/20260101T000000/_logs/w.log"),
        )
        .unwrap();
        assert_eq!(text, "line\n");
    }

    #[test]
    fn a_path_leaving_the_folder_or_a_link_or_device_is_refused_and_nothing_written_outside() {
        let outside = tempfile::tempdir().unwrap();
        let cases: [(&[u8], tar::EntryType, &str); 6] = [
            (b"/tmp/evil", tar::EntryType::Regular, "is an absolute path"),
            (
                b"run/../../evil",
                tar::EntryType::Regular,
                "goes up with `..`",
            ),
            (b"run/link", tar::EntryType::Symlink, "is a symbolic link"),
            (b"run/hard", tar::EntryType::Link, "is a hard link"),
            (b"run/dev", tar::EntryType::Char, "is a character device"),
            (b"run/fifo", tar::EntryType::Fifo, "is a FIFO"),
        ];
        for (name, kind, why) in cases {
            let bytes = tar_with(name, kind, b"");
            let (dir, result) = unpack_bytes(&bytes, Caps::BUNDLE);
            let error = result.unwrap_err();
            assert!(error.contains(why), "{error}");
            assert!(
                error.contains(&String::from_utf8_lossy(name).into_owned()),
                "{error}"
            );
            assert!(
                std::fs::read_dir(dir.path()).unwrap().next().is_none(),
                "{why}"
            );
        }
        assert!(!outside.path().join("evil").exists());
    }

    #[test]
    fn the_caps_on_a_file_the_total_and_the_entries_hold() {
        let caps = Caps {
            file: 4,
            total: 6,
            entries: 2,
            depth: 3,
        };
        let big = tar_with(b"run/big", tar::EntryType::Regular, b"12345");
        assert!(
            unpack_bytes(&big, caps)
                .1
                .unwrap_err()
                .contains("over the 4-byte cap")
        );
        let mut builder = tar::Builder::new(Vec::new());
        for name in ["run/a", "run/b", "run/c"] {
            let mut header = tar::Header::new_gnu();
            header.set_size(3);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, &b"abc"[..]).unwrap();
        }
        let three = builder.into_inner().unwrap();
        let many = Caps {
            entries: 10,
            ..caps
        };
        assert!(
            unpack_bytes(&three, many)
                .1
                .unwrap_err()
                .contains("more than 6 bytes")
        );
        let roomy = Caps { total: 100, ..caps };
        assert!(
            unpack_bytes(&three, roomy)
                .1
                .unwrap_err()
                .contains("more than 2 entries")
        );
        let deep = tar_with(b"a/b/c/d", tar::EntryType::Regular, b"");
        assert!(unpack_bytes(&deep, caps).1.unwrap_err().contains("deeper"));
    }

    #[test]
    fn a_huge_long_name_is_refused_before_it_is_read() {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(EXTENSION_CAP + 1);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.resize(
            bytes.len() + (EXTENSION_CAP as usize + 1).next_multiple_of(512),
            b'a',
        );
        let error = precheck(&bytes[..], Caps::BUNDLE).unwrap_err();
        assert!(error.contains("long-name or pax header"), "{error}");
    }

    #[test]
    fn an_entry_twice_is_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        for _ in 0..2 {
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, "run/a", &b"x"[..])
                .unwrap();
        }
        let bytes = builder.into_inner().unwrap();
        assert!(
            unpack_bytes(&bytes, Caps::BUNDLE)
                .1
                .unwrap_err()
                .contains("appears twice")
        );
    }
}
