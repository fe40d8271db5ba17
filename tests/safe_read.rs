//! Crafted run directories (issue 18) that stalled or exhausted `verify`, `report --html`
//! and the manifest: links to `.` under `_exports`, a log that is `/dev/zero` or a FIFO,
//! a link to a file outside the run. Each is planted in a copy of the upstream fixture
//! and the binary runs under a deadline: a regression fails instead of hanging.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// A writable copy of the upstream fixture at `<tmp>/es_down_connect/<run_id>`.
fn base_run(tmp: &Path) -> PathBuf {
    let dir = tmp.join("es_down_connect").join("20260214T184133");
    common::copy_dir(
        &testkit::env::fixtures_dir().join("upstream-run-es_down_connect"),
        &dir,
    );
    dir
}

struct Finished {
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs the binary with `args`, killed when it outlives [`DEADLINE`] (then the test
/// fails naming the command).
fn run_bin(tmp: &Path, args: &[&str]) -> Finished {
    let (out, err) = (tmp.join("stdout"), tmp.join("stderr"));
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("drill-cockpit {args:?} still running after {DEADLINE:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Finished {
        stdout: String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err).unwrap()).into_owned(),
        took: started.elapsed(),
    }
}

fn verify(tmp: &Path, run: &Path) -> Finished {
    run_bin(tmp, &["verify", &run.display().to_string()])
}

/// `report --html`: the page's text.
fn report(tmp: &Path, run: &Path) -> String {
    let page = tmp.join("report.html");
    let _ = std::fs::remove_file(&page);
    let done = run_bin(
        tmp,
        &[
            "report",
            &run.display().to_string(),
            "--html",
            "--out",
            &page.display().to_string(),
        ],
    );
    assert!(page.is_file(), "no page: {}\n{}", done.stdout, done.stderr);
    std::fs::read_to_string(page).unwrap()
}

#[test]
fn two_links_to_the_run_under_exports_neither_loop_nor_reach_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let run = base_run(tmp.path());
    symlink(".", run.join("_exports/a")).unwrap();
    symlink(".", run.join("_exports/b")).unwrap();

    let done = verify(tmp.path(), &run);
    assert!(
        done.took < Duration::from_secs(5),
        "verify took {:?}",
        done.took
    );
    assert!(done.stdout.contains("verdict: PASSED"), "{}", done.stdout);
    assert!(
        done.stdout
            .contains("`_exports/a`: a symbolic link (to .): not followed, skipped"),
        "{}",
        done.stdout
    );

    let page = report(tmp.path(), &run);
    assert!(
        !page.contains("_exports/a/"),
        "a path through a link is listed"
    );
    assert!(
        !page.contains("_exports/b/"),
        "a path through a link is listed"
    );

    let manifest = drill_cockpit::evidence::manifest::manifest(&run, &[]);
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"_logs/worker-20260214T184133-A3.log"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .all(|p| !p.starts_with("_exports/a") && !p.starts_with("_exports/b")),
        "{paths:?}"
    );
    assert_eq!(
        manifest["skipped"].as_array().unwrap().len(),
        2,
        "{manifest:#}"
    );
}

#[test]
fn a_log_that_is_dev_zero_or_a_fifo_is_skipped_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let run = base_run(tmp.path());
    symlink("/dev/zero", run.join("_logs/worker-x.log")).unwrap();
    let fifo = run.join("_logs/worker-fifo.log");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());

    let done = verify(tmp.path(), &run);
    assert!(
        done.took < Duration::from_secs(5),
        "verify took {:?}",
        done.took
    );
    for named in [
        "warning: `_logs/worker-x.log`: a symbolic link (to /dev/zero): not followed, skipped",
        "warning: `_logs/worker-fifo.log`: not a regular file (FIFO): skipped",
    ] {
        assert!(done.stdout.contains(named), "{named}\n{}", done.stdout);
    }
    // The run's own log is still read: its verdict stands.
    assert!(done.stdout.contains("verdict: PASSED"), "{}", done.stdout);

    let page = report(tmp.path(), &run);
    assert!(
        page.contains("not a regular file (FIFO): skipped"),
        "{page}"
    );
}

#[test]
fn a_link_to_a_file_outside_the_run_never_shows_its_text() {
    let tmp = tempfile::tempdir().unwrap();
    let run = base_run(tmp.path());
    let outside = tmp.path().join("outside.txt");
    std::fs::write(&outside, "SECRET-OUTSIDE\n").unwrap();
    std::fs::remove_file(run.join("_outbox_event_id.txt")).unwrap();
    symlink(&outside, run.join("_outbox_event_id.txt")).unwrap();

    let done = verify(tmp.path(), &run);
    assert!(!done.stdout.contains("SECRET-OUTSIDE"), "{}", done.stdout);
    assert!(!done.stderr.contains("SECRET-OUTSIDE"), "{}", done.stderr);
    assert!(
        done.stdout
            .contains("`_outbox_event_id.txt`: a symbolic link"),
        "{}",
        done.stdout
    );
    let json = run_bin(
        tmp.path(),
        &["verify", "--json", &run.display().to_string()],
    );
    assert!(!json.stdout.contains("SECRET-OUTSIDE"), "{}", json.stdout);

    let page = report(tmp.path(), &run);
    assert!(!page.contains("SECRET-OUTSIDE"));
}

#[test]
fn a_folder_of_runs_does_not_enter_a_link_to_itself() {
    let tmp = tempfile::tempdir().unwrap();
    base_run(tmp.path());
    symlink(tmp.path(), tmp.path().join("es_down_connect/loop")).unwrap();
    let done = run_bin(tmp.path(), &["verify", &tmp.path().display().to_string()]);
    assert!(
        done.stdout.contains("1 run(s): 1 passed"),
        "{}",
        done.stdout
    );
}

#[test]
fn a_ten_gib_sparse_log_is_read_up_to_its_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let run = base_run(tmp.path());
    let log = std::fs::File::create(run.join("_logs/worker-zz.log")).unwrap();
    log.set_len(10 << 30).unwrap();
    let done = verify(tmp.path(), &run);
    assert!(
        done.stdout
            .contains("warning: `_logs/worker-zz.log`: 10240 MiB or more, over the 64 MiB cap: read its first 64 MiB only"),
        "{}",
        done.stdout
    );
    assert!(done.stdout.contains("verdict: PASSED"), "{}", done.stdout);
}
