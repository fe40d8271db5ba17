//! Cockpit benchmarks (`cargo bench --bench cockpit`):
//! - frame render time at 200×60 with every pane full;
//! - the log firehose: a child printing 100 000 lines/s for 10 s, once to /dev/null and
//!   once captured by the cockpit's worker-output path (redaction, the run's log file,
//!   the in-memory tail). Reports the child's achieved rate both ways, whether every
//!   line reached the file, and this process's peak RSS.
//!
//! The bench re-executes itself as the firehose child (`DRILL_FIREHOSE=rate:seconds:report`).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drill_cockpit::cockpit::counters::CounterBoard;
use drill_cockpit::cockpit::engine::Snapshot;
use drill_cockpit::config::redact::Redactor;
use drill_cockpit::config::{LoadOptions, Profile};
use drill_cockpit::db::outbox::{OutboxRow, QueueSummary};
use drill_cockpit::docker::ServiceState;
use drill_cockpit::jaeger::{SpanSummary, TraceSummary};
use drill_cockpit::prom::Samples;
use drill_cockpit::sources::worker_proc::{LogTail, WorkerProcess, WorkerState};
use drill_cockpit::ui::App;
use drill_cockpit::ui::keymap::Keymap;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn firehose(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let rate: u64 = parts[0].parse().unwrap_or(100_000);
    let seconds: u64 = parts[1].parse().unwrap_or(10);
    let report = parts[2];
    let total = rate * seconds;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let started = Instant::now();
    for i in 0..total {
        let _ = writeln!(
            out,
            r#"{{"ts":"2026-11-28T00:00:00.000000+00:00","level":"INFO","logger":"firehose","message":"line {i}","claim_batch_id":"d76da081-ed66-4c26-bd35-b5b88f4d6bef"}}"#
        );
        // Pace to the target rate, checking the clock every 1 000 lines.
        if i % 1_000 == 999 {
            let due = Duration::from_secs_f64((i + 1) as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                let _ = out.flush();
                std::thread::sleep(ahead);
            }
        }
    }
    let _ = out.flush();
    let elapsed = started.elapsed().as_secs_f64();
    let _ = std::fs::write(report, format!("{total} {elapsed}"));
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn full_snapshot() -> (Snapshot, LogTail) {
    let mut text = String::new();
    for reason in [
        "es_connect",
        "es_429",
        "es_5xx",
        "es_4xx",
        "es_timeout",
        "es_404",
    ] {
        for op in ["upsert", "delete"] {
            for metric in [
                "outbox_retry_scheduled_total",
                "outbox_failed_total",
                "outbox_terminal_failed_total",
                "outbox_idempotent_noop_total",
            ] {
                text.push_str(&format!(
                    "{metric}{{op=\"{op}\",projection=\"p\",reason=\"{reason}\"}} 7\n"
                ));
            }
        }
    }
    text.push_str("outbox_processed_total{op=\"upsert\",projection=\"p\"} 1000\noutbox_lag_events{projection=\"p\"} 3\n");
    let samples = Samples::parse(&text).unwrap();
    let mut counters = CounterBoard::default();
    counters.set_baseline(Samples::default());
    for _ in 0..60 {
        counters.update(&samples);
    }
    let span = |op: &str, i: usize| SpanSummary {
        span_id: format!("{i:016x}"),
        parent_span_id: None,
        operation: op.into(),
        service: "wordloom-search-outbox-worker".into(),
        start_us: 1_771_065_767_000_000 + i as i64,
        duration_us: 2_000,
        tags: [
            ("result", "retry"),
            ("reason", "es_connect"),
            ("wordloom.outbox_attempts", "3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        error: true,
        events: vec![],
    };
    let traces: Vec<TraceSummary> = (0..30)
        .map(|i| TraceSummary {
            trace_id: format!("{i:032x}"),
            spans: vec![
                span("outbox.process", i),
                span("projection.process_batch", i),
            ],
        })
        .collect();
    let rows: Vec<OutboxRow> = (0..20)
        .map(|_| OutboxRow {
            id: uuid::Uuid::new_v4(),
            entity_id: uuid::Uuid::new_v4(),
            op: "delete".into(),
            event_version: 1,
            status: "pending".into(),
            attempts: 3,
            owner: Some("w-labs009-expA".into()),
            lease_until: Some(chrono::Utc::now()),
            next_retry_at: Some(chrono::Utc::now()),
            processed_at: None,
            error_reason: Some("es_connect".into()),
            error: None,
            created_at: chrono::Utc::now(),
        })
        .collect();
    let snapshot = Snapshot {
        scenario: "es_down_connect".into(),
        project: "drill-cockpit".into(),
        containers: Some(Ok(["es", "jaeger", "postgres"]
            .iter()
            .map(|s| ServiceState {
                service: s.to_string(),
                container: s.to_string(),
                state: "running".into(),
                health: Some("healthy".into()),
                started_at: Some("2026-11-28T00:00:00Z".into()),
                exit_code: None,
            })
            .collect())),
        worker: Some(WorkerState::Running { pid: 1 }),
        counters,
        event_id: Some("8722f068-7acd-4223-986c-d49fc8ca02cf".into()),
        event_traces: Some(Ok(traces.clone())),
        batch_id: Some("d76da081".into()),
        batch_traces: Some(Ok(traces)),
        outbox: Some(Ok((
            QueueSummary {
                pending: 20,
                processing: 0,
                done: 5,
                failed: 0,
                oldest_pending_age_seconds: Some(3.0),
            },
            rows,
        ))),
        ..Snapshot::default()
    };
    let lines: VecDeque<String> = (0..5_000)
        .map(|i| format!(r#"{{"ts":"2026-11-28T00:00:00.000000+00:00","level":"ERROR","message":"Failed to process outbox event {i}","reason":"es_connect","attempt":2,"outbox_event_id":"8722f068-7acd-4223-986c-d49fc8ca02cf","trace_id":"18bef09d08385a0cfe337a13949b1ed4"}}"#))
        .collect();
    (
        snapshot,
        LogTail {
            total: lines.len() as u64,
            lines,
            ..LogTail::default()
        },
    )
}

fn profile(overrides: &[String]) -> Profile {
    Profile::load(&LoadOptions {
        config_path: None,
        overrides: overrides.to_vec(),
        environment: Some(Default::default()),
    })
    .unwrap()
}

fn bench_render(rounds: usize) {
    let (snapshot, tail) = full_snapshot();
    let mut app = App::new(Keymap::from_profile(&profile(&[])));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut times = Vec::new();
    let warm_up = rounds / 11;
    for round in 0..rounds {
        if round == rounds / 2 {
            app.log.set_filter("8722f068");
        }
        let started = Instant::now();
        terminal
            .draw(|frame| drill_cockpit::ui::draw::draw(frame, &app, &snapshot, &tail))
            .unwrap();
        if round >= warm_up {
            times.push(started.elapsed());
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "## Frame render, 200×60, every pane full (5 000-line tail, 30+30 traces, 20 outbox rows)\n"
    );
    println!("| frames | mean | p50 | p99 |\n|---|---|---|---|");
    println!(
        "| {} | {:.2} ms | {:.2} ms | {:.2} ms |\n",
        times.len(),
        mean.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 99 / 100].as_secs_f64() * 1e3
    );
}

async fn bench_firehose(rate: u64, seconds: u64) {
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Baseline: the child alone, writing to /dev/null.
    let report = dir.path().join("alone.txt");
    let status = std::process::Command::new(&exe)
        .env(
            "DRILL_FIREHOSE",
            format!("{rate}:{seconds}:{}", report.display()),
        )
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let alone: Vec<f64> = std::fs::read_to_string(&report)
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();

    // The same child captured by the cockpit's worker-output path.
    let report = dir.path().join("captured.txt");
    let log = dir.path().join("worker.log");
    let command = format!(
        "env DRILL_FIREHOSE={rate}:{seconds}:{} {}",
        report.display(),
        exe.display()
    );
    let profile = profile(&[format!("worker.command={command}")]);
    let tail = Arc::new(Mutex::new(LogTail::default()));
    let rss_before = rss_kib();
    let mut process = WorkerProcess::spawn(
        &profile,
        &[],
        &log,
        Redactor::new(&profile.database_url, &Default::default()),
        tail.clone(),
    )
    .await;
    let mut peak_tail = 0;
    let mut peak_rss = rss_before;
    while matches!(process.poll(), WorkerState::Running { .. }) {
        peak_tail = peak_tail.max(tail.lock().unwrap().lines.len());
        peak_rss = peak_rss.max(rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the writer drain what the child printed last.
    let expected = rate * seconds;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tail.lock().unwrap().total < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let captured: Vec<f64> = std::fs::read_to_string(&report)
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    peak_rss = peak_rss.max(rss_kib());
    // Counted by streaming, so counting does not inflate the memory figure.
    let in_file =
        std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(&log).unwrap()))
            .count();
    let total_seen = tail.lock().unwrap().total;

    let alone_rate = alone[0] / alone[1];
    let captured_rate = captured[0] / captured[1];
    println!("## Log firehose: a child printing {rate} lines/s for {seconds} s\n");
    println!(
        "| child output | child's achieved lines/s | lines in the run's log file | tail lines kept (max) | RSS of the capturing process (peak, sampled every 100 ms) |\n|---|---|---|---|---|"
    );
    println!("| /dev/null | {alone_rate:.0} | - | - | - |");
    println!(
        "| captured by the cockpit | {captured_rate:.0} ({:.1} % of /dev/null) | {in_file} of {expected} | {peak_tail} | {} MiB (was {} MiB before) |\n",
        100.0 * captured_rate / alone_rate,
        peak_rss / 1024,
        rss_before / 1024
    );
    assert_eq!(total_seen, expected, "every line reached the capture");
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var("DRILL_FIREHOSE") {
        firehose(&spec);
        return;
    }
    // `cargo test --all-targets` runs this without `--bench`: a quick smoke of the same code.
    let smoke = !std::env::args().any(|a| a == "--bench");
    bench_render(if smoke { 20 } else { 2_200 });
    if smoke {
        bench_firehose(2_000, 1).await;
    } else {
        bench_firehose(100_000, 10).await;
    }
}
