//! Every drill this process knows, and where each came from: the nine built-in files
//! (embedded), then the user's — `$XDG_CONFIG_HOME/drill-cockpit/drills/*.toml`,
//! `./drills/*.toml`, `--drill FILE` — each over the ones before it. A user file with a
//! built-in's id replaces it, and says so (`drill list`, and a note when loaded).
//! Drills are found here only: the built-in nine have no other way in.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::file;
use super::scenario::Scenario;

/// The built-in drills, in the lab's order (`run all`, the picker's letters).
const BUILT_IN: [(&str, &str); 9] = [
    (
        "es_down_connect",
        include_str!("../../assets/drills/es_down_connect.toml"),
    ),
    (
        "es_429_inject",
        include_str!("../../assets/drills/es_429_inject.toml"),
    ),
    (
        "es_write_block_4xx",
        include_str!("../../assets/drills/es_write_block_4xx.toml"),
    ),
    (
        "es_bulk_partial",
        include_str!("../../assets/drills/es_bulk_partial.toml"),
    ),
    (
        "db_claim_contention",
        include_str!("../../assets/drills/db_claim_contention.toml"),
    ),
    (
        "stuck_reclaim",
        include_str!("../../assets/drills/stuck_reclaim.toml"),
    ),
    (
        "duplicate_delivery",
        include_str!("../../assets/drills/duplicate_delivery.toml"),
    ),
    (
        "projection_version",
        include_str!("../../assets/drills/projection_version.toml"),
    ),
    (
        "collector_down",
        include_str!("../../assets/drills/collector_down.toml"),
    ),
];

/// The drill `--fault` runs when no drill is named: any fault through the gate, one
/// upsert, judged as a transient failure (docs/DRILLS.md, "Ad-hoc faults").
pub const ADHOC: &str = include_str!("../../assets/drills/adhoc.toml");

/// Where a drill came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    /// A user's file; `overrides` names the drill of the same id it replaced.
    File {
        path: PathBuf,
        overrides: Option<String>,
    },
    /// A drill with its fault replaced by `--fault`.
    Fault {
        base: String,
        line: String,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => write!(f, "built-in"),
            Origin::File {
                path,
                overrides: None,
            } => write!(f, "{}", crate::sanitize::path(path)),
            Origin::File {
                path,
                overrides: Some(what),
            } => write!(f, "{} (overrides {what})", crate::sanitize::path(path)),
            Origin::Fault { base, line } => write!(f, "{base} with --fault \"{line}\""),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub drill: &'static Scenario,
    pub origin: Origin,
}

/// The built-in drills as their files say. They are checked by the test suite; one that
/// does not load is a broken build, said with its file:line.
pub fn builtins() -> &'static [&'static Scenario] {
    static BUILT: OnceLock<Vec<&'static Scenario>> = OnceLock::new();
    BUILT.get_or_init(|| {
        BUILT_IN
            .iter()
            .map(|(id, text)| {
                file::load(&format!("assets/drills/{id}.toml"), text)
                    .unwrap_or_else(|error| panic!("a built-in drill does not load: {error}"))
            })
            .collect()
    })
}

/// The built-in drill of this id (what an old run without `_drill.toml` ran).
pub fn builtin(id: &str) -> Option<&'static Scenario> {
    builtins().iter().copied().find(|d| d.id == id)
}

static CATALOG: Mutex<Option<&'static [Entry]>> = Mutex::new(None);

/// The folders user drills are read from, lowest precedence first.
pub fn user_dirs(environment: &std::collections::BTreeMap<String, String>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = crate::xdg::user_config_file(environment)
        .and_then(|config| config.parent().map(|dir| dir.join("drills")))
        .into_iter()
        .collect();
    dirs.push(PathBuf::from("drills"));
    dirs
}

/// Loads the built-ins, the `.toml` files of `dirs` (in order, each over the ones
/// before) and `files` (`--drill`); returns every drill with its origin. A file that
/// does not load, or two files of one id at the same level, is an error naming them.
pub fn load(dirs: &[PathBuf], files: &[PathBuf]) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = builtins()
        .iter()
        .map(|&drill| Entry {
            drill,
            origin: Origin::BuiltIn,
        })
        .collect();
    let mut levels: Vec<Vec<PathBuf>> = Vec::new();
    for dir in dirs {
        levels.push(toml_files(dir)?);
    }
    levels.push(files.to_vec());
    for level in levels {
        let mut seen: Vec<(&'static str, PathBuf)> = Vec::new();
        for path in level {
            let drill = load_file(&path)?;
            if let Some((_, first)) = seen.iter().find(|(id, _)| *id == drill.id) {
                return Err(format!(
                    "{} and {} both define drill `{}`: rename one (its id = \"…\") or remove it",
                    crate::sanitize::path(first),
                    crate::sanitize::path(&path),
                    drill.id
                ));
            }
            seen.push((drill.id, path.clone()));
            place(
                &mut entries,
                Entry {
                    drill,
                    origin: Origin::File {
                        path,
                        overrides: None,
                    },
                },
            );
        }
    }
    Ok(entries)
}

/// Adds `entry`, replacing a drill of its id (and saying which, on a file's origin).
fn place(entries: &mut Vec<Entry>, mut entry: Entry) {
    match entries.iter().position(|e| e.drill.id == entry.drill.id) {
        Some(at) => {
            if let Origin::File { overrides, .. } = &mut entry.origin {
                *overrides = Some(match &entries[at].origin {
                    Origin::BuiltIn => "built-in".to_string(),
                    other => other.to_string(),
                });
            }
            entries[at] = entry;
        }
        None => entries.push(entry),
    }
}

/// The `.toml` files of a folder, by name; none when it does not exist.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(format!(
                "cannot list the drills in {}: {error}",
                crate::sanitize::path(dir)
            ));
        }
    };
    let mut files: Vec<PathBuf> = listing
        .flatten()
        .map(|entry| entry.path())
        // Every `.toml` is meant as a drill: one that is a folder or a link to nothing is
        // said when it is read, not skipped in silence.
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The most a drill file may hold: the lab's run to a few KiB. The cap stops a
/// mistaken path (`/dev/zero`, a log, a dump) from eating the machine's memory.
pub const MAX_DRILL_FILE_BYTES: u64 = 1024 * 1024;

/// A drill file's text, refused past [`MAX_DRILL_FILE_BYTES`] or when not UTF-8.
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_DRILL_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DRILL_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is over {} KiB, and a drill file is a few KiB: is this the file you meant?",
            MAX_DRILL_FILE_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::other("it is not UTF-8 text; a drill file is TOML (docs/DRILLS.md)")
    })
}

/// One drill file from disk.
pub fn load_file(path: &Path) -> Result<&'static Scenario, String> {
    let text = read_capped(path).map_err(|error| {
        format!(
            "cannot read the drill file {}: {error}",
            crate::sanitize::path(path)
        )
    })?;
    file::load(&path.display().to_string(), &text).map_err(|error| error.to_string())
}

/// Loads the catalog this process uses (the user's folders from the environment, and
/// `--drill` files); returns a note for each drill that replaced another.
pub fn init(files: &[PathBuf]) -> Result<Vec<String>, String> {
    let entries = load(&user_dirs(&crate::xdg::process_environment()), files)?;
    let notes = entries
        .iter()
        .filter_map(|entry| match &entry.origin {
            Origin::File {
                path,
                overrides: Some(what),
            } => Some(format!(
                "drill `{}` from {} overrides the {what} one",
                entry.drill.id,
                crate::sanitize::path(path)
            )),
            _ => None,
        })
        .collect();
    set(entries);
    Ok(notes)
}

fn set(entries: Vec<Entry>) {
    let leaked: &'static [Entry] = Box::leak(entries.into_boxed_slice());
    if let Ok(mut catalog) = CATALOG.lock() {
        *catalog = Some(leaked);
    }
}

/// Adds a drill made here (`--fault`), over any of its id.
pub fn add(drill: &'static Scenario, origin: Origin) {
    let mut all = entries().to_vec();
    place(&mut all, Entry { drill, origin });
    set(all);
}

/// Every drill, built-ins first in the lab's order, then the user's own. Without
/// [`init`] (a library user, a test): the built-ins and the user's folders, or the
/// built-ins alone when a user file does not load (the CLI reports that one).
pub fn entries() -> &'static [Entry] {
    if let Ok(catalog) = CATALOG.lock()
        && let Some(entries) = *catalog
    {
        return entries;
    }
    let entries = load(&user_dirs(&crate::xdg::process_environment()), &[])
        .unwrap_or_else(|_| load(&[], &[]).unwrap_or_default());
    set(entries);
    entries_set()
}

fn entries_set() -> &'static [Entry] {
    CATALOG
        .lock()
        .ok()
        .and_then(|catalog| *catalog)
        .unwrap_or_default()
}

/// The lab's drills in its order: each built-in id, as the user's file replaces it.
pub fn lab() -> Vec<&'static Scenario> {
    let all = entries();
    builtins()
        .iter()
        .filter_map(|b| all.iter().find(|e| e.drill.id == b.id).map(|e| e.drill))
        .collect()
}

/// The drill with this id, or an error naming the closest one and the ones there are.
pub fn find(id: &str) -> Result<&'static Scenario, String> {
    let all = entries();
    if let Some(entry) = all.iter().find(|e| e.drill.id == id) {
        return Ok(entry.drill);
    }
    let closest = all
        .iter()
        .map(|e| {
            (
                crate::config::spec::edit_distance(id, e.drill.id),
                e.drill.id,
            )
        })
        .filter(|(distance, _)| *distance <= 5)
        .min()
        .map(|(_, id)| format!(" Did you mean `{id}`?"))
        .unwrap_or_default();
    Err(format!(
        "scenario `{}` is not supported by this build.{closest} Supported: {} (or a drill file: --drill FILE, ./drills/, docs/DRILLS.md)",
        crate::sanitize::one_line(id, 80),
        all.iter()
            .map(|e| e.drill.id)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Where the drill of this id came from.
pub fn origin(id: &str) -> Option<Origin> {
    entries()
        .iter()
        .find(|e| e.drill.id == id)
        .map(|e| e.origin.clone())
}

/// The biggest drill file a run's `_drill.toml` may be (a drill is a few KiB).
const RUN_DRILL_CAP: u64 = 256 * 1024;

/// The drill a run of ours ran: its own `_drill.toml` (so a user's drill re-grades
/// without its file, and a later edit of the file does not change an old verdict),
/// else — a run from before runs recorded it — the built-in drill of its id. Read
/// through the run reader: a link or a device in its place is refused, not followed.
pub fn of_run(dir: &Path, scenario: &str) -> Result<&'static Scenario, String> {
    use crate::evidence::safe_read::{Kind, RunReader};
    let reader = RunReader::new(dir);
    let rel = Path::new("_drill.toml");
    let shown = crate::sanitize::path(&dir.join(rel));
    match reader.kind(rel) {
        Kind::Missing => builtin(scenario).ok_or_else(|| {
            format!(
                "{}: scenario `{}` has no _drill.toml and is not a built-in drill ({}): it cannot be graded",
                crate::sanitize::path(dir),
                crate::sanitize::one_line(scenario, 80),
                builtins().iter().map(|d| d.id).collect::<Vec<_>>().join(", ")
            )
        }),
        Kind::File => {
            let text = reader.text(rel, RUN_DRILL_CAP).ok_or_else(|| {
                format!(
                    "{shown} cannot be read: {}",
                    reader.problems().join("; ")
                )
            })?;
            if reader.problems().iter().any(|p| p.contains("cap")) {
                return Err(format!(
                    "{shown} is over {} KiB: not a drill this build wrote",
                    RUN_DRILL_CAP / 1024
                ));
            }
            file::load(&shown, &text).map_err(|error| {
                format!("the run's drill does not load, so the run cannot be graded by it: {error}")
            })
        }
        other => Err(format!(
            "{shown} is not a regular file ({other:?}): the run's drill cannot be read"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_in_a_drill_folder_that_is_no_file_is_said_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.toml"), dir.path().join("mine.toml"))
            .unwrap();
        let error = load(&[dir.path().to_path_buf()], &[]).unwrap_err();
        assert!(error.contains("mine.toml"), "{error}");
        std::fs::remove_file(dir.path().join("mine.toml")).unwrap();
        std::fs::create_dir(dir.path().join("folder.toml")).unwrap();
        let error = load(&[dir.path().to_path_buf()], &[]).unwrap_err();
        assert!(error.contains("folder.toml"), "{error}");
    }

    #[test]
    fn a_drill_file_over_the_cap_or_not_text_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        let mut text = builtin("es_429_inject").unwrap().file.to_string();
        text.push_str(&"#".repeat(MAX_DRILL_FILE_BYTES as usize));
        std::fs::write(&big, text).unwrap();
        let error = load_file(&big).unwrap_err();
        assert!(
            error.contains("big.toml") && error.contains("over 1024 KiB"),
            "{error}"
        );
        let garbage = dir.path().join("garbage.toml");
        std::fs::write(&garbage, [0xff, 0xfe, 0x00, 0x80]).unwrap();
        let error = load_file(&garbage).unwrap_err();
        assert!(
            error.contains("garbage.toml") && error.contains("not UTF-8"),
            "{error}"
        );
        // At the cap it still loads: the cap refuses only what is past it.
        let fits = dir.path().join("fits.toml");
        let file = builtin("es_429_inject").unwrap().file;
        let pad = MAX_DRILL_FILE_BYTES as usize - file.len() - 1;
        std::fs::write(&fits, format!("{file}\n{}", "#".repeat(pad))).unwrap();
        assert_eq!(
            std::fs::metadata(&fits).unwrap().len(),
            MAX_DRILL_FILE_BYTES
        );
        assert!(load_file(&fits).is_ok());
    }

    #[test]
    fn a_user_file_overrides_the_built_in_of_its_id_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let text = builtin("es_429_inject")
            .unwrap()
            .file
            .replace("title = \"", "title = \"mine: ");
        std::fs::write(dir.path().join("b.toml"), text).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a drill").unwrap();
        let entries = load(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(entries.len(), 9);
        let mine = entries
            .iter()
            .find(|e| e.drill.id == "es_429_inject")
            .unwrap();
        assert!(mine.drill.title.starts_with("mine: "));
        assert_eq!(
            mine.origin,
            Origin::File {
                path: dir.path().join("b.toml"),
                overrides: Some("built-in".into())
            }
        );
        assert!(mine.origin.to_string().ends_with("(overrides built-in)"));
    }

    #[test]
    fn a_broken_user_file_or_two_of_one_id_stop_the_load_with_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let text = builtin("es_429_inject").unwrap().file;
        std::fs::write(dir.path().join("a.toml"), text).unwrap();
        std::fs::write(dir.path().join("b.toml"), text).unwrap();
        let error = load(&[dir.path().to_path_buf()], &[]).unwrap_err();
        assert!(
            error.contains("a.toml and ") && error.contains("both define drill `es_429_inject`"),
            "{error}"
        );
        std::fs::write(dir.path().join("b.toml"), "id = 3\n").unwrap();
        let error = load(&[dir.path().to_path_buf()], &[]).unwrap_err();
        assert!(error.contains("b.toml:1:6: invalid type"), "{error}");
    }

    #[test]
    fn a_run_is_graded_by_the_drill_it_recorded_else_by_the_built_in_of_its_id() {
        let run = tempfile::tempdir().unwrap();
        // An old run: no _drill.toml, the built-in drill of its id.
        let old = of_run(run.path(), "es_429_inject").unwrap();
        assert!(std::ptr::eq(old, builtin("es_429_inject").unwrap()));
        let error = of_run(run.path(), "es_bulk_503").unwrap_err();
        assert!(
            error.contains("has no _drill.toml and is not a built-in drill"),
            "{error}"
        );
        // A run of a user's drill: its own file, wherever that file is now.
        let mine = builtin("es_429_inject")
            .unwrap()
            .file
            .replace("id = \"es_429_inject\"", "id = \"mine\"");
        std::fs::write(run.path().join("_drill.toml"), &mine).unwrap();
        assert_eq!(of_run(run.path(), "mine").unwrap().id, "mine");
        // A recorded drill that no longer loads is said, with its place.
        std::fs::write(run.path().join("_drill.toml"), "id = 1\n").unwrap();
        let error = of_run(run.path(), "mine").unwrap_err();
        assert!(error.contains("_drill.toml:1:6: invalid type"), "{error}");
        // A link in its place is not followed.
        std::fs::remove_file(run.path().join("_drill.toml")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", run.path().join("_drill.toml")).unwrap();
        let error = of_run(run.path(), "mine").unwrap_err();
        assert!(error.contains("is not a regular file"), "{error}");
    }

    #[test]
    fn an_unknown_scenario_gets_a_did_you_mean() {
        let error = find("es_down_conect").unwrap_err();
        assert!(error.contains("Did you mean `es_down_connect`?"), "{error}");
    }
}
