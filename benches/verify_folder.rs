//! `verify` of a folder of 1 000 runs (`cargo bench --bench verify_folder`): the runs are
//! generated from the upstream fixture runs (`shared/fixtures/`), 125 copies of each of
//! the eight, then the release binary grades the folder; the wall time is what a user
//! waits. Under `cargo test` (no `--bench`) it grades 40 runs once as a smoke test.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create run copy");
    for entry in std::fs::read_dir(from).expect("read fixture").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// `count` runs below `root`, `<scenario>/<run>-<n>`, copied round-robin from the fixtures.
fn generate(root: &Path, count: usize) {
    let fixtures = testkit::env::fixtures_dir();
    let mut sources = vec![(
        "es_down_connect".to_string(),
        fixtures.join("upstream-run-es_down_connect"),
    )];
    for scenario in std::fs::read_dir(fixtures.join("upstream-runs"))
        .expect("shared/fixtures/upstream-runs")
        .flatten()
    {
        for run in std::fs::read_dir(scenario.path()).expect("runs").flatten() {
            sources.push((
                scenario.file_name().to_string_lossy().into_owned(),
                run.path(),
            ));
        }
    }
    for n in 0..count {
        let (scenario, run) = &sources[n % sources.len()];
        copy_dir(run, &root.join(scenario).join(format!("run-{n:05}")));
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let count = if bench { 1_000 } else { 40 };
    let root = tempfile::tempdir().expect("tempdir");
    generate(root.path(), count);
    let mut best = f64::MAX;
    for _ in 0..if bench { 3 } else { 1 } {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .args(["verify", &root.path().display().to_string()])
            .output()
            .expect("run drill-cockpit verify");
        let elapsed = started.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains(&format!("{count} run(s): {count} passed")),
            "{stdout}"
        );
        best = best.min(elapsed);
    }
    println!(
        "verify of a folder of {count} runs (8 scenarios): best of runs {best:.2} s ({:.2} ms per run)",
        best * 1e3 / count as f64
    );
}
