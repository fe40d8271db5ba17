//! Property test (issue 18) over generated run directories: names with control
//! characters and invalid UTF-8, symlinks (to `.`, `..`, absolute paths, a file outside
//! the run, nowhere), FIFOs, folders, sizes, JSON nested 10 000 deep, invalid UTF-8
//! contents. Every reader of a run (`read_run_dir`, `foreign::read`, `grade_run` and its
//! renderings, the manifest and its check, the HTML page, the replay's recording, the
//! folder discovery) must return in bounded time without a panic, and never show the
//! text of a file outside the run.
//!
//! Cases: `DRILL_FUZZ_CASES` (default below; `DRILL_FUZZ_CASES=10000` for the long run).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;

const CASES: u32 = 1_000;
/// One case's readers, all together: a hang detector (a FIFO read blocks forever), not
/// a speed test. The issue's case takes ~4 s on a quiet machine in a debug build and
/// was seen at 31 s with the machine's two cores loaded 4×; speed is measured by the
/// benches, so the deadline leaves room for any load.
const CASE_DEADLINE: Duration = Duration::from_secs(180);
const SECRET: &str = "SECRET-OUTSIDE";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("DRILL_FUZZ_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
enum Target {
    Dot,
    DotDot,
    Absolute(&'static str),
    /// The file outside the run holding [`SECRET`].
    Outside,
    Dangling,
}

#[derive(Debug, Clone)]
enum Plant {
    Bytes(Vec<u8>),
    Text(String),
    /// `[` repeated.
    DeepJson(usize),
    /// A sparse file of this many bytes.
    Sparse(u64),
    Link(Target),
    Folder,
    Fifo,
}

fn folder() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(""),
        Just("_logs"),
        Just("_metrics"),
        Just("_exports"),
        Just("_exports/x"),
    ]
}

/// A file name: one the readers look for, or any bytes but `/` and NUL.
fn name() -> impl Strategy<Value = OsString> {
    let known = prop_oneof![
        Just("_recipe.json"),
        Just("_result.json"),
        Just("manifest.json"),
        Just("_outbox_event_id.txt"),
        Just("_timeline.jsonl"),
        Just("metrics-before.txt"),
        Just("metrics-after.txt"),
        Just("metrics-20260214T104255.txt"),
        Just("worker-x.log"),
        Just("worker2-x.log"),
        Just("jaeger-traces-outbox_event_id-x-20260214T104255.json"),
        Just("_outbox-20260214T104255.json"),
        Just("_es_document-20260214T104255.json"),
        Just("_probe_entry_v2.json"),
        Just("_inject_es_stop.exitcode.txt"),
        Just("_logs"),
        Just("_metrics"),
        Just("_exports"),
        Just("\u{1b}[2J\n.log"),
    ]
    .prop_map(OsString::from);
    let raw = prop::collection::vec(
        any::<u8>().prop_filter("no / nor NUL", |b| *b != b'/' && *b != 0),
        1..24,
    )
    .prop_filter("not . nor ..", |b| b != b"." && b != b"..")
    .prop_map(OsString::from_vec);
    prop_oneof![3 => known, 1 => raw]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{\"scenario\":\"es_down_connect\",\"tool\":\"drill-cockpit\"}".to_string()),
        Just("{\"scenario\":\"es_down_connect\"}".to_string()),
        Just("{\"scenario\":\"stuck_reclaim\",\"control\":true}".to_string()),
        Just(
            "{\"files\":[{\"path\":\"_logs/worker-x.log\",\"size\":1,\"sha256\":\"00\"}]}"
                .to_string()
        ),
        Just(
            "{\"rows\":[{\"id\":\"e\",\"status\":\"failed\"}],\"fault_restored\":true}".to_string()
        ),
        Just("{\"data\":[{\"traceID\":\"ab\",\"spans\":[]}]}".to_string()),
        Just("outbox_retry_scheduled_total{reason=\"es_connect\"} 4\n".to_string()),
        Just("scrape_failed: boom".to_string()),
        Just("{\"ts\":1771066975.0,\"level\":\"ERROR\",\"message\":\"x\"}\n".to_string()),
        "\\PC{0,200}",
    ]
}

fn plant() -> impl Strategy<Value = Plant> {
    let target = prop_oneof![
        Just(Target::Dot),
        Just(Target::DotDot),
        Just(Target::Absolute("/")),
        Just(Target::Absolute("/dev/zero")),
        Just(Target::Absolute("/dev/null")),
        Just(Target::Absolute("/etc/passwd")),
        Just(Target::Outside),
        Just(Target::Dangling),
    ];
    prop_oneof![
        4 => text().prop_map(Plant::Text),
        2 => prop::collection::vec(any::<u8>(), 0..600).prop_map(Plant::Bytes),
        1 => prop_oneof![Just(200usize), Just(10_000usize)].prop_map(Plant::DeepJson),
        1 => (0u64..(1 << 20)).prop_map(Plant::Sparse),
        3 => target.prop_map(Plant::Link),
        1 => Just(Plant::Folder),
        1 => Just(Plant::Fifo),
    ]
}

/// Plants `what` at `<run>/<folder>/<name>`. The harness never writes through a link
/// nor into anything it planted before: a folder on the way that is not a real folder,
/// or a name already taken, leaves the case as it is.
fn put(run: &Path, outside: &Path, folder: &str, name: &OsString, what: &Plant) {
    let Some(dir) = real_folder(run, folder) else {
        return;
    };
    let path = dir.join(name);
    if std::fs::symlink_metadata(&path).is_ok() {
        return;
    }
    let new_file = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
    };
    let _ = match what {
        Plant::Bytes(bytes) => new_file().and_then(|mut f| f.write_all(bytes)),
        Plant::Text(text) => new_file().and_then(|mut f| f.write_all(text.as_bytes())),
        Plant::DeepJson(depth) => {
            new_file().and_then(|mut f| f.write_all("[".repeat(*depth).as_bytes()))
        }
        Plant::Sparse(len) => new_file().and_then(|f| f.set_len(*len)),
        Plant::Folder => std::fs::create_dir(&path),
        Plant::Fifo => fifo(&path),
        Plant::Link(target) => symlink(
            match target {
                Target::Dot => PathBuf::from("."),
                Target::DotDot => PathBuf::from(".."),
                Target::Absolute(to) => PathBuf::from(to),
                Target::Outside => outside.to_path_buf(),
                Target::Dangling => PathBuf::from("nowhere/at/all"),
            },
            &path,
        ),
    };
}

/// `<run>/<folder>`, made one real folder at a time; `None` when a step on the way is
/// a link, a file or anything but a folder.
fn real_folder(run: &Path, folder: &str) -> Option<PathBuf> {
    let mut at = run.to_path_buf();
    for part in Path::new(folder).components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => return None,
            Err(_) => std::fs::create_dir(&at).ok()?,
        }
    }
    Some(at)
}

fn fifo(path: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    match unsafe { libc::mkfifo(c.as_ptr(), 0o600) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Every reader of a run on `run` (and the folder discovery on `root`); the text they
/// would show anyone.
fn read_everything(root: &Path, run: &Path) -> String {
    use drill_cockpit::evidence::{foreign, html, manifest, read};
    let mut shown = String::new();
    if let Ok(dir) = read::read_run_dir(run) {
        shown.push_str(&format!("{:?}", dir.observations.event_id));
        shown.push_str(&dir.problems.join("\n"));
    }
    let foreign = foreign::read(run);
    shown.push_str(&foreign.problems.join("\n"));
    if let Ok(graded) = drill_cockpit::verify::grade_run(run) {
        shown.push_str(&drill_cockpit::verify::render_one(&graded, true));
        shown.push_str(&graded.json().to_string());
    }
    shown.push_str(&manifest::manifest(run, &[]).to_string());
    shown.push_str(&format!("{:?}", manifest::verify(run)));
    shown.push_str(&html::render_run(run).unwrap_or_default());
    if let Ok(recording) = drill_cockpit::replay::recording::Recording::load(run) {
        for at in [0.0, recording.duration / 2.0, recording.duration] {
            let (_, tail) = recording.at(at);
            shown.push_str(&format!("{}", tail.total));
        }
    }
    shown.push_str(&format!("{:?}", foreign::find_runs(root)));
    shown
}

/// [`read_everything`] on another thread: a hang fails the case instead of the suite.
fn within_deadline(root: &Path, run: &Path) -> String {
    let (send, receive) = mpsc::channel();
    let (root, run) = (root.to_path_buf(), run.to_path_buf());
    std::thread::spawn(move || {
        let _ = send.send(read_everything(&root, &run));
    });
    match receive.recv_timeout(CASE_DEADLINE) {
        Ok(shown) => shown,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the readers ran past {CASE_DEADLINE:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("a reader panicked"),
    }
}

/// A generated run at `<tmp>/runs/es_down_connect/r1`, its `_metrics/` made first (so it
/// is a run), and a file outside it holding [`SECRET`].
fn check(plants: &[(&'static str, OsString, Plant)]) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("o.txt");
    std::fs::write(&outside, format!("{SECRET}\n")).unwrap();
    let root = tmp.path().join("runs");
    let run = root.join("es_down_connect").join("r1");
    std::fs::create_dir_all(run.join("_metrics")).unwrap();
    for (folder, name, what) in plants {
        put(&run, &outside, folder, name, what);
    }
    let shown = within_deadline(&root, &run);
    prop_assert!(!shown.contains(SECRET), "the outside file's text was shown");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn run_readers_end_without_panic_and_stay_inside(
        plants in prop::collection::vec((folder(), name(), plant()), 0..12)
    ) {
        check(&plants)?;
    }
}

/// The issue's inputs together, as a fixed case.
#[test]
fn the_issue_inputs_together() {
    let plants = vec![
        ("_exports", OsString::from("a"), Plant::Link(Target::Dot)),
        ("_exports", OsString::from("b"), Plant::Link(Target::Dot)),
        (
            "_logs",
            OsString::from("worker-x.log"),
            Plant::Link(Target::Absolute("/dev/zero")),
        ),
        ("_logs", OsString::from("worker-f.log"), Plant::Fifo),
        (
            "",
            OsString::from("_outbox_event_id.txt"),
            Plant::Link(Target::Outside),
        ),
        ("", OsString::from("_recipe.json"), Plant::DeepJson(10_000)),
        (
            "_metrics",
            OsString::from("metrics-after.txt"),
            Plant::Sparse(100 << 20),
        ),
    ];
    check(&plants).unwrap();
}
