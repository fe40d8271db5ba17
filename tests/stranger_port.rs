//! Only our worker is graded: a process already listening on the worker's metrics port
//! (another cockpit's worker, a forgotten one) is never scraped as the drill's worker.
//! The stranger here serves a `/metrics` page whose counters grow on every scrape —
//! exactly what would pass duplicate_delivery if it were graded.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use testkit::docker::free_port;
use testkit::es::EsStandin;
use testkit::jaeger::JaegerStandin;

/// A stranger on `listener`: a plausible outbox worker page, counters growing per scrape.
fn serve_stranger(listener: TcpListener) -> Arc<AtomicU64> {
    let scrapes = Arc::new(AtomicU64::new(0));
    let seen = scrapes.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let n = seen.fetch_add(1, Ordering::SeqCst) as f64;
            let page = format!(
                "# TYPE outbox_processed_total counter\n\
                 outbox_processed_total{{projection=\"search_index_to_elastic\",op=\"delete\"}} {}\n\
                 outbox_idempotent_noop_total{{projection=\"search_index_to_elastic\",op=\"delete\",reason=\"es_404\"}} {n}\n\
                 outbox_failed_total{{projection=\"search_index_to_elastic\",op=\"delete\",reason=\"none\"}} 0\n",
                n * 3.0
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    scrapes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_on_the_workers_port_is_never_graded_and_the_drill_could_not_run() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    let es = EsStandin::start().await.unwrap();
    let jaeger = JaegerStandin::start().await.unwrap();
    let stranger = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stranger.local_addr().unwrap().port();
    let scrapes = serve_stranger(stranger);
    let snapshots = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["run", "duplicate_delivery", "--duration", "5s"])
        .args([
            "--set",
            &format!("cockpit.snapshots_dir={}", snapshots.path().display()),
        ])
        .args(["--set", "database.ours=true"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("DATABASE_URL", &db.url)
        .env("ELASTIC_URL", es.url())
        .env("JAEGER_URL", jaeger.url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.url())
        .env("OUTBOX_METRICS_PORT", port.to_string())
        .env("OUTBOX_HTTP_PORT", free_port().to_string())
        .env("WORDLOOM_ENV", "test")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "could not run:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "port {port} (worker.metrics_port) is already in use by pid {}",
            std::process::id()
        )),
        "names the port and its holder:\n{stderr}"
    );
    assert_eq!(
        scrapes.load(Ordering::SeqCst),
        0,
        "the stranger was scraped"
    );
    let dir = common::sandbox::run_dir(snapshots.path(), "duplicate_delivery");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_result.json")).unwrap()).unwrap();
    assert_eq!(result["ok"], false, "{result:#}");
    let verify = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &dir.display().to_string()])
        .output()
        .unwrap();
    assert_ne!(verify.status.code(), Some(0), "verify never passes it");
}

#[test]
fn a_stranger_that_takes_the_port_after_the_check_is_named_not_scraped() {
    // The check at scrape time: the listener is this test process, not the "worker".
    let stranger = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stranger.local_addr().unwrap().port();
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let verdict = drill_cockpit::sources::port_owner::served_by(port, child.id());
    let _ = child.kill();
    let _ = child.wait();
    let error = verdict.unwrap_err();
    assert!(
        error.contains(&format!("pid {}", std::process::id()))
            && error.contains(&format!(
                "not by the worker this drill started (pid {})",
                child.id()
            )),
        "{error}"
    );
}

#[test]
fn the_sandbox_chooses_free_worker_ports_even_when_the_defaults_are_taken() {
    if !common::sandbox::available() {
        return;
    }
    // Hold the contract's defaults if nobody else does (another run may).
    let _held: Vec<TcpListener> = [9109u16, 9111]
        .iter()
        .filter_map(|p| TcpListener::bind(("127.0.0.1", *p)).ok())
        .collect();
    let snapshots = tempfile::tempdir().unwrap();
    let output = common::sandbox::command(snapshots.path())
        .args(["run", "duplicate_delivery", "--sandbox"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let dir = common::sandbox::run_dir(snapshots.path(), "duplicate_delivery");
    let recipe: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_recipe.json")).unwrap()).unwrap();
    let port = recipe["worker"]["metrics_port"].as_u64().unwrap();
    assert!(port != 9109 && port != 9111, "{recipe:#}");
    let _ = std::io::stdout().flush();
}
