//! `drill-cockpit export <run> [--out FILE]`: the run as one evidence bundle to attach
//! to a ticket or keep as a CI artifact — a gzip'd tar holding the run directory as it
//! is (its `manifest.json` included) under `<scenario>/<run_id>/`, and the HTML report
//! beside it as `report.html`. Read-only on the run (every file is read through a
//! [`RunReader`]: no link followed, no special file opened); never over an existing
//! file. A `manifest.json` beside them lists every file of the bundle with its size and
//! sha256. `verify` takes the bundle back ([`super::unpack`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::safe_read::{HASH_BUDGET, HASH_CAP, RunReader};
use crate::sanitize::path as shown;

/// The file names a bundle may have; `export` writes gzip, nothing else.
pub const EXTENSIONS: [&str; 2] = [".tar.gz", ".tgz"];

/// The HTML report's name inside the bundle, beside the run's folder (inside it, it
/// would be a file added after the run's manifest).
pub const REPORT_NAME: &str = "report.html";

/// The bundle's own manifest, beside the run's folder: every file of the bundle (the
/// run's and the report) with its size and sha256 as archived, in `manifest.json`'s
/// shape, so `verify` checks a bundle of any run — one without a manifest of its own
/// too (another tool's) — and its report.
pub const MANIFEST_NAME: &str = "manifest.json";

/// What `export` wrote.
#[derive(Debug)]
pub struct Exported {
    pub path: PathBuf,
    /// The run's files in the bundle (the report not counted).
    pub files: usize,
    /// What the walk of the run skipped (a link, a special file), in words.
    pub skipped: Vec<String>,
}

/// Whether `path` names a bundle by its extension.
pub fn has_bundle_extension(path: &Path) -> bool {
    let name = path.to_string_lossy();
    EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

/// Why a file named `path` cannot be a bundle of ours, with the fix; `None` when it can.
pub fn refuse_extension(path: &Path) -> Option<String> {
    let name = path.to_string_lossy();
    if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
        return Some(format!(
            "{}: zstd bundles are not supported (drill-cockpit is built without a zstd codec): `export` writes .tar.gz (use --out NAME.tar.gz); to verify a .tar.zst, unpack it (tar --zstd -xf FILE) and verify the run folder",
            shown(path)
        ));
    }
    if !has_bundle_extension(path) {
        return Some(format!(
            "{}: an evidence bundle is a gzip'd tar: name it *.tar.gz (or *.tgz)",
            shown(path)
        ));
    }
    None
}

/// `<scenario>/<run_id>`: the run's last two path components, the bundle's folder for it
/// (foreign runs may take their scenario from the folder's name, so it is kept).
fn bundle_folder(run_dir: &Path) -> Result<PathBuf, String> {
    let absolute = std::fs::canonicalize(run_dir)
        .map_err(|e| format!("{} cannot be resolved ({e})", shown(run_dir)))?;
    let run_id = absolute
        .file_name()
        .ok_or_else(|| format!("{}: the root folder is not a run directory", shown(run_dir)))?;
    let scenario = absolute
        .parent()
        .and_then(Path::file_name)
        .unwrap_or(std::ffi::OsStr::new("run"));
    Ok(Path::new(scenario).join(run_id))
}

/// `./evidence-<scenario>-<run_id>.tar.gz`.
pub fn default_out(run_dir: &Path) -> Result<PathBuf, String> {
    let folder = bundle_folder(run_dir)?;
    let name: Vec<String> = folder
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(PathBuf::from(format!("evidence-{}.tar.gz", name.join("-"))))
}

/// Refuses an `out` inside the run: the run is read-only, and the bundle would be a
/// file added after its manifest.
fn outside_the_run(run_dir: &Path, out: &Path) -> Result<(), String> {
    let run = std::fs::canonicalize(run_dir)
        .map_err(|e| format!("{} cannot be resolved ({e})", shown(run_dir)))?;
    let folder = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let folder = std::fs::canonicalize(&folder).map_err(|_| {
        format!(
            "cannot write {}: its folder does not exist; create it or choose another --out path",
            shown(out)
        )
    })?;
    if folder.starts_with(&run) {
        return Err(format!(
            "{} is inside the run it exports; export never writes into a run: choose an --out path outside {}",
            shown(out),
            shown(run_dir)
        ));
    }
    Ok(())
}

/// Writes the bundle of `run_dir` to `out` (default [`default_out`]).
pub fn export(run_dir: &Path, out: Option<&Path>) -> Result<Exported, String> {
    let target = match out {
        Some(out) => out.to_path_buf(),
        None => default_out(run_dir)?,
    };
    if let Some(refusal) = refuse_extension(&target) {
        return Err(refusal);
    }
    // Only a real `.lock` is tried: opening a link to a FIFO would hang here.
    let lock = run_dir.join(super::write::LOCK_FILE);
    if super::safe_read::is_regular_file(&lock) && super::write::held_by_live_session(run_dir) {
        return Err(format!(
            "{} is still being recorded (a live session holds its .lock): export it once the drill has ended",
            shown(run_dir)
        ));
    }
    outside_the_run(run_dir, &target)?;
    let folder = bundle_folder(run_dir)?;
    // Rendered (and so graded) before anything is written: a run that cannot be read
    // leaves no half-written bundle.
    let report = super::html::render_run(run_dir)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{} exists; drill-cockpit never overwrites evidence: choose another --out path or remove it",
                shown(&target)
            ),
            _ => format!(
                "cannot write {} ({e}): choose another --out path",
                shown(&target)
            ),
        })?;
    match write_bundle(run_dir, &folder, report.as_bytes(), file) {
        Ok((files, skipped)) => Ok(Exported {
            path: target,
            files,
            skipped,
        }),
        Err(error) => {
            // Never a partial bundle left behind looking like a whole one.
            let _ = std::fs::remove_file(&target);
            Err(format!("exporting {} failed: {error}", shown(run_dir)))
        }
    }
}

/// The archive itself: every file the safe walk finds, in path order, then the report.
fn write_bundle(
    run_dir: &Path,
    folder: &Path,
    report: &[u8],
    file: std::fs::File,
) -> Result<(usize, Vec<String>), String> {
    let reader = RunReader::with_budget(run_dir, HASH_BUDGET);
    let mut files = reader.walk();
    files.sort();
    let gzip = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gzip);
    let mut total = 0u64;
    let mut written = 0usize;
    let mut listed = Vec::new();
    for rel in &files {
        let Some((handle, metadata)) = reader.open(rel) else {
            continue; // refused and noted by the reader
        };
        let size = metadata.len();
        // The caps `verify` unpacks with: a bundle that exports always unpacks.
        if size > HASH_CAP {
            return Err(format!(
                "`{}` is {size} bytes, over the {HASH_CAP}-byte cap of a file in a bundle",
                rel.display()
            ));
        }
        total += size;
        if total > HASH_BUDGET {
            return Err(format!(
                "the run holds more than {HASH_BUDGET} bytes, the cap of a bundle"
            ));
        }
        let mtime = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let mut header = header(size, mtime);
        let name = folder.join(rel);
        // Hashed as archived: the bundle's manifest says what the bundle holds.
        let mut hashing = Hashing::new(std::io::Read::take(handle, size));
        // A file that shrinks while read fails here (its size is in the header).
        tar.append_data(&mut header, &name, &mut hashing)
            .map_err(|e| format!("`{}`: {e}", rel.display()))?;
        listed.push(hashing.entry(&name, size));
        written += 1;
    }
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let mut hashing = Hashing::new(report);
    tar.append_data(
        &mut header(report.len() as u64, now),
        REPORT_NAME,
        &mut hashing,
    )
    .map_err(|e| format!("{REPORT_NAME}: {e}"))?;
    listed.push(hashing.entry(Path::new(REPORT_NAME), report.len() as u64));
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "bundle_of": folder.display().to_string(),
        "exported_by": format!("drill-cockpit {}", env!("DRILL_COCKPIT_VERSION")),
        "files": listed,
    }))
    .map_err(|e| e.to_string())?;
    tar.append_data(
        &mut header(manifest.len() as u64, now),
        MANIFEST_NAME,
        &manifest[..],
    )
    .map_err(|e| format!("{MANIFEST_NAME}: {e}"))?;
    let gzip = tar.into_inner().map_err(|e| e.to_string())?;
    let mut buffered = gzip.finish().map_err(|e| e.to_string())?;
    buffered.flush().map_err(|e| e.to_string())?;
    let file = buffered.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    Ok((written, reader.problems()))
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: std::io::Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: sha2::Digest::new(),
        }
    }

    /// The manifest's entry of the file read through it.
    fn entry(self, name: &Path, size: u64) -> serde_json::Value {
        let sha256: String = sha2::Digest::finalize(self.hasher)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        serde_json::json!({"path": name.display().to_string(), "size": size, "sha256": sha256})
    }
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

/// A regular file's header: read-only for everyone but its owner, no owner recorded.
fn header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header
}
