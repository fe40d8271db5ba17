//! A freeze is all-or-nothing, even when the process is killed in the middle of one;
//! and a freeze taken while the worker floods its output is complete and consistent.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use drill_cockpit::config::redact::Redactor;
use drill_cockpit::config::{LoadOptions, Profile};
use drill_cockpit::evidence::write::{RunWriter, recover};
use drill_cockpit::session::Session;

const CHILD_ENV: &str = "DRILL_FREEZE_CHILD_DIR";
const FILES_PER_FREEZE: usize = 12;

/// Run as a child by the test below: freezes as fast as it can until killed.
#[test]
fn child_freezes_until_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let run = RunWriter::create(
        std::path::Path::new(&dir),
        "es_down_connect",
        Redactor::default(),
    )
    .unwrap();
    let payload = vec![b'x'; 256 * 1024];
    for label in 0.. {
        let files: Vec<(String, Vec<u8>)> = (0..FILES_PER_FREEZE)
            .map(|i| (format!("_exports/f-{label}-{i}.json"), payload.clone()))
            .collect();
        run.freeze(&label.to_string(), &files).unwrap();
    }
}

#[test]
fn killing_the_process_mid_freeze_leaves_whole_freezes_or_none() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_freezes_until_killed", "--exact", "--nocapture"])
            .env(CHILD_ENV, dir.path())
            .spawn()
            .unwrap();
        // Kill it at a different point of its freezes each round, but only once it has
        // frozen at least once (a loaded machine may take a while to start the child).
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let frozen = std::fs::read_dir(dir.path().join("es_down_connect"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|run| {
                    std::fs::read_dir(run.path().join("_exports"))
                        .is_ok_and(|mut files| files.next().is_some())
                });
            if frozen {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(13 * round));
        child.kill().unwrap();
        child.wait().unwrap();

        let run_dir = std::fs::read_dir(dir.path().join("es_down_connect"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        recover(&run_dir);
        let mut per_freeze: BTreeMap<String, usize> = BTreeMap::new();
        for entry in std::fs::read_dir(run_dir.join("_exports"))
            .unwrap()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let label = name.split('-').nth(1).unwrap().to_string();
            assert_eq!(
                entry.metadata().unwrap().len(),
                256 * 1024,
                "{name} is whole"
            );
            *per_freeze.entry(label).or_default() += 1;
        }
        assert!(
            !per_freeze.is_empty(),
            "round {round}: the child froze nothing before it was killed"
        );
        for (label, count) in &per_freeze {
            assert_eq!(
                *count, FILES_PER_FREEZE,
                "round {round}: freeze {label} is partial"
            );
        }
        let leftovers = std::fs::read_dir(&run_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
            .count();
        assert_eq!(leftovers, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_during_a_log_flood_is_complete_and_consistent() {
    let snapshots = tempfile::tempdir().unwrap();
    // A "worker" that floods its output (and serves no /metrics: recorded as unavailable).
    let flood = r#"i=0; while true; do echo "{\"level\":\"INFO\",\"message\":\"flood line $i\"}"; i=$((i+1)); done"#;
    let profile = Profile::load(&LoadOptions {
        config_path: None,
        overrides: vec![
            format!("cockpit.snapshots_dir={}", snapshots.path().display()),
            format!("worker.command=sh -c '{flood}'"),
            format!("worker.metrics_port={}", testkit::docker::free_port()),
            "jaeger.url=http://127.0.0.1:1".into(),
        ],
        environment: Some(Default::default()),
    })
    .unwrap();
    let mut session = Session::create(
        profile,
        drill_cockpit::drill::catalog::builtin("es_down_connect").unwrap(),
    )
    .unwrap();
    session.start_worker().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Two freezes in the same second get distinct labels (…T010203 and …T010203-2).
    session
        .freeze(false)
        .await
        .expect("a first freeze during the flood");
    let started = std::time::Instant::now();
    let (dir, _) = session
        .freeze(true)
        .await
        .expect("a second freeze in the same second succeeds");
    let containers = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("_containers-"))
        .count();
    assert_eq!(containers, 2);
    let took = started.elapsed();
    // Closing stops the worker, ends the journal and writes manifest.json last.
    session.close().await.expect("close writes the manifest");

    // Every file the manifest lists exists with its size and digest.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    for entry in files {
        let path = dir.join(entry["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        let digest: String = sha2_hex(&bytes);
        // The manifest is the last word: the log and the journal too are as it lists them.
        assert_eq!(
            bytes.len() as u64,
            entry["size"].as_u64().unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(
            digest,
            entry["sha256"].as_str().unwrap(),
            "{}",
            path.display()
        );
    }
    assert_eq!(
        drill_cockpit::evidence::manifest::verify(&dir).unwrap(),
        Vec::<String>::new()
    );
    let names: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    for expected in ["_result.json", "report.md", "timeline.svg", "_recipe.json"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("_metrics/unavailable-")),
        "the down /metrics is recorded as down: {names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("_exports/unavailable-jaeger-services")),
        "{names:?}"
    );
    let log = std::fs::read_to_string(dir.join(format!("_logs/worker-{}.log", session.run.run_id)))
        .unwrap();
    assert!(log.lines().count() > 1_000, "the flood was captured");
    let torn: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with("{\"level\":\"INFO\",\"message\":\"flood line "))
        .collect();
    assert!(torn.is_empty(), "torn lines in the log: {torn:?}");
    eprintln!("freeze during the flood took {took:?}");
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
