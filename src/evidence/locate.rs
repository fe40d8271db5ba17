//! The one run a command takes (`replay`, `report`): checked before anything else
//! happens, and when the path is not a run, the error says what it is instead, what
//! the command takes, and the run the user most likely meant (the latest one).

use std::path::{Path, PathBuf};

use super::foreign::{find_runs, is_run_dir};
use crate::exit::CouldNotRun;
use crate::sanitize::path as shown;

/// `Ok` when `path` is a run directory; else what it is, what `command` takes, and a
/// run to pass: the latest below `path` when it is a folder of runs, else the latest
/// under `snapshots_dir`.
pub fn one_run(path: &Path, command: &str, snapshots_dir: &Path) -> Result<(), CouldNotRun> {
    if path.is_dir() && is_run_dir(path) {
        return Ok(());
    }
    let takes = format!("`{command}` takes one run directory, snapshots/<scenario>/<run_id>");
    let message = match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => format!(
            "{} does not exist: {takes}{}",
            shown(path),
            latest_in(snapshots_dir)
        ),
        Err(error) => format!(
            "{} cannot be read ({error}): check that you may read it; {takes}",
            shown(path)
        ),
        Ok(metadata) if !metadata.is_dir() => {
            let holder = path.parent().filter(|p| p.is_dir() && is_run_dir(p));
            match holder {
                Some(run) => format!(
                    "{} is a file of a run: {takes}: pass {}",
                    shown(path),
                    shown(run)
                ),
                None => format!("{} is a file, not a run directory: {takes}", shown(path)),
            }
        }
        Ok(_) => match latest(path) {
            Some((latest, count)) => format!(
                "{} is a folder of {count} run(s), not one run: {takes}, e.g. {} (the latest). `drill-cockpit verify` grades a whole folder",
                shown(path),
                shown(&latest)
            ),
            None => format!(
                "{} is not a run directory (neither _recipe.json, _result.json nor _metrics/ in it) and holds none: {takes}{}",
                shown(path),
                latest_in(snapshots_dir)
            ),
        },
    };
    Err(CouldNotRun(message))
}

/// `; the latest is snapshots/x/y`, or how to make one when there is none.
fn latest_in(snapshots_dir: &Path) -> String {
    match latest(snapshots_dir) {
        Some((run, _)) => format!("; the latest run is {}", shown(&run)),
        None => format!(
            "; there is no run under {} yet: `drill-cockpit run es_down_connect --sandbox` records one",
            shown(snapshots_dir)
        ),
    }
}

/// The run below `root` changed last (a run directory's time is its newest entry's),
/// and how many runs are there.
fn latest(root: &Path) -> Option<(PathBuf, usize)> {
    if !root.is_dir() {
        return None;
    }
    let runs = find_runs(root);
    let count = runs.len();
    let newest = runs.into_iter().max_by_key(|run| {
        let modified = std::fs::metadata(run).and_then(|m| m.modified()).ok();
        (modified, run.clone())
    })?;
    Some((newest, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(root: &Path, scenario: &str, id: &str) -> PathBuf {
        let dir = root.join(scenario).join(id);
        std::fs::create_dir_all(dir.join("_metrics")).unwrap();
        std::fs::write(dir.join("_recipe.json"), "{}").unwrap();
        dir
    }

    #[test]
    fn a_run_directory_is_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = run(tmp.path(), "es_down_connect", "20260101T000000");
        assert_eq!(one_run(&dir, "replay", tmp.path()), Ok(()));
    }

    #[test]
    fn a_missing_path_names_what_the_command_takes_and_the_latest_run() {
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), "es_down_connect", "20260101T000000");
        let newest = run(tmp.path(), "es_429_inject", "20260102T000000");
        // The newest by time, whatever the names sort as.
        let filetime = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        std::fs::File::open(&newest)
            .unwrap()
            .set_modified(filetime)
            .unwrap();
        let error = one_run(Path::new("/nonexistent"), "replay", tmp.path())
            .unwrap_err()
            .0;
        assert!(error.starts_with("/nonexistent does not exist: `replay` takes one run directory, snapshots/<scenario>/<run_id>"), "{error}");
        assert!(
            error.ends_with(&format!("; the latest run is {}", newest.display())),
            "{error}"
        );
    }

    #[test]
    fn with_no_run_anywhere_it_says_how_to_record_one() {
        let tmp = tempfile::tempdir().unwrap();
        let error = one_run(Path::new("/nonexistent"), "report", tmp.path())
            .unwrap_err()
            .0;
        assert!(
            error.contains("no run under")
                && error.contains("yet: `drill-cockpit run es_down_connect --sandbox` records one"),
            "{error}"
        );
    }

    #[test]
    fn a_folder_of_runs_is_not_one_run_and_its_latest_is_offered() {
        let tmp = tempfile::tempdir().unwrap();
        let only = run(tmp.path(), "es_down_connect", "20260101T000000");
        let error = one_run(tmp.path(), "replay", Path::new("/none"))
            .unwrap_err()
            .0;
        assert!(
            error.contains("is a folder of 1 run(s), not one run"),
            "{error}"
        );
        assert!(
            error.contains(&format!("e.g. {} (the latest)", only.display())),
            "{error}"
        );
    }

    #[test]
    fn a_file_of_a_run_points_at_its_run() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = run(tmp.path(), "es_down_connect", "20260101T000000");
        let error = one_run(&dir.join("_recipe.json"), "report", tmp.path())
            .unwrap_err()
            .0;
        assert!(
            error.ends_with(&format!("pass {}", dir.display())),
            "{error}"
        );
    }
}
