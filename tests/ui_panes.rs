//! Every pane rendered into a `TestBackend` buffer, in healthy, degraded and failed
//! states, compared with reviewed snapshots (tests/snapshots/). Times are fixed.

use std::collections::VecDeque;

use chrono::TimeZone;
use drill_cockpit::cockpit::engine::{SetupStep, Snapshot, StepState};
use drill_cockpit::config::{LoadOptions, Profile};
use drill_cockpit::db::outbox::{OutboxRow, QueueSummary};
use drill_cockpit::docker::ServiceState;
use drill_cockpit::drill::{Missing, Observations, grade};
use drill_cockpit::jaeger::parse_traces;
use drill_cockpit::prom::Samples;
use drill_cockpit::sources::worker_proc::{LogTail, WorkerState};
use drill_cockpit::ui::keymap::Keymap;
use drill_cockpit::ui::{App, Confirm, Overlay, Pane};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(testkit::env::fixtures_dir().join(path)).unwrap()
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 2, 14, 10, 43, 0)
        .unwrap()
}

fn app() -> App {
    let profile = Profile::load(&LoadOptions {
        config_path: None,
        overrides: vec![],
        environment: Some(Default::default()),
    })
    .unwrap();
    let mut app = App::new(Keymap::from_profile(&profile));
    app.now = now();
    app
}

fn service(name: &str, state: &str, health: Option<&str>) -> ServiceState {
    ServiceState {
        service: name.into(),
        container: format!("drill-cockpit-{name}-1"),
        state: state.into(),
        health: health.map(str::to_string),
        started_at: (state == "running").then(|| "2026-02-14T10:30:00Z".to_string()),
        exit_code: (state != "running").then_some(143),
    }
}

const EVENT: &str = "8722f068-7acd-4223-986c-d49fc8ca02cf";

fn base_snapshot() -> Snapshot {
    Snapshot {
        run_dir: "snapshots/es_down_connect/20260214T104133".into(),
        scenario: "es_down_connect".into(),
        project: "drill-cockpit".into(),
        es_service: "es".into(),
        metrics_url: "http://127.0.0.1:9109/metrics".into(),
        jaeger_url: "http://localhost:16686".into(),
        worker_command: "drill-cockpit worker".into(),
        batch_sent: 100,
        batch_reported: Some(100),
        ..Snapshot::default()
    }
}

fn tail() -> LogTail {
    let lines: VecDeque<String> = fixture("upstream-run-es_down_connect/_logs/worker-20260214T184133-A3.log")
        .lines()
        .map(str::to_string)
        .chain([r#"{"ts":"2026-02-14T10:42:30.000000+00:00","level":"INFO","message":"Observability schema: labs-009-v2 (file=worker.py)"}"#.to_string(), "\u{1b}[31mescape\u{1b}[0m sequences are stripped".to_string()])
        .collect();
    LogTail {
        total: lines.len() as u64,
        lines,
        ..LogTail::default()
    }
}

fn outbox_row(status: &str, attempts: i32) -> OutboxRow {
    OutboxRow {
        id: EVENT.parse().unwrap(),
        entity_id: "066d3f68-c7b8-498b-87e7-ef5bad81f2e9".parse().unwrap(),
        op: "delete".into(),
        event_version: 1,
        status: status.into(),
        attempts,
        owner: None,
        lease_until: None,
        next_retry_at: (status == "pending").then(|| now() + chrono::Duration::seconds(5)),
        processed_at: None,
        error_reason: Some("es_connect".into()),
        error: Some("connection refused".into()),
        created_at: now() - chrono::Duration::seconds(30),
    }
}

fn healthy() -> Snapshot {
    let before = Samples::parse(&fixture(
        "upstream-run-es_down_connect/_metrics/metrics-before.txt",
    ))
    .unwrap();
    let after = Samples::parse(&fixture(
        "upstream-run-es_down_connect/_metrics/metrics-after.txt",
    ))
    .unwrap();
    let export: serde_json::Value = serde_json::from_str(&fixture(
        "upstream-run-es_down_connect/_exports/jaeger-traces-outbox_event_id-8722f068-7acd-4223-986c-d49fc8ca02cf-20260214T104255.json",
    ))
    .unwrap();
    let traces = parse_traces(&export).unwrap();
    // The batch under drill, as the cockpit picks it (a failed attempt's batch).
    let batch_id = Observations {
        event_id: Some(EVENT.into()),
        traces_by_event: Some(traces.clone()),
        ..Observations::default()
    }
    .claim_batch_id()
    .unwrap();
    let batch_traces: Vec<_> = traces
        .iter()
        .filter(|t| {
            t.spans
                .iter()
                .any(|s| s.tags.get("wordloom.claim_batch_id") == Some(&batch_id))
        })
        .cloned()
        .collect();
    let mut snapshot = base_snapshot();
    snapshot.counters.set_baseline(before.clone());
    snapshot.counters.update(&after);
    let tail = tail();
    let observations = Observations {
        metrics_before: Some(before),
        metrics_after: Some(after),
        log: Some(tail.lines.iter().cloned().collect()),
        event_id: Some(EVENT.into()),
        traces_by_event: Some(traces.clone()),
        traces_by_batch: Some(batch_traces.clone()),
        status_after_recovery: None,
        event_reason: None,
        document_version: None,
        ..Observations::default()
    };
    snapshot.checklist = Some(grade(
        drill_cockpit::drill::catalog::builtin("es_down_connect").unwrap(),
        &observations,
        Missing::Pending,
    ));
    snapshot.containers = Some(Ok(vec![
        service("es", "exited", None),
        service("jaeger", "running", Some("healthy")),
        service("postgres", "running", Some("healthy")),
    ]));
    snapshot.worker = Some(WorkerState::Running { pid: 4242 });
    snapshot.event_id = Some(EVENT.into());
    snapshot.event_traces = Some(Ok(traces));
    snapshot.batch_id = Some(batch_id);
    snapshot.batch_traces = Some(Ok(batch_traces));
    snapshot.outbox = Some(Ok((
        QueueSummary {
            pending: 1,
            processing: 0,
            done: 12,
            failed: 0,
            oldest_pending_age_seconds: Some(30.0),
        },
        vec![outbox_row("pending", 4)],
    )));
    snapshot.status = Some(("stopped `es`".into(), false));
    snapshot.es_stopped = true;
    snapshot
}

fn degraded() -> Snapshot {
    let mut snapshot = healthy();
    snapshot.metrics_error = Some(
        "cannot reach the worker's metrics at http://127.0.0.1:9109/metrics: connection refused"
            .into(),
    );
    snapshot.event_traces = Some(Err(
        "cannot reach Jaeger at http://localhost:16686: connection refused".into(),
    ));
    snapshot.batch_traces = None;
    snapshot.batch_id = None;
    snapshot.worker = Some(WorkerState::Exited {
        code: None,
        signal: Some(9),
    });
    snapshot.status = Some(("worker killed (SIGKILL)".into(), false));
    snapshot.elastic = Some(Err("cannot reach Elasticsearch at http://localhost:9200: error sending request: tcp connect error: Connection refused. Start it (S) or check ELASTIC_URL".into()));
    snapshot
}

fn failed() -> Snapshot {
    let mut snapshot = base_snapshot();
    snapshot.containers = Some(Err("cannot reach Docker at unix:///var/run/docker.sock: connection refused. Is the daemon running? Set DOCKER_HOST to use another engine".into()));
    snapshot.setup = vec![
        SetupStep { name: "docker", state: StepState::Failed("cannot reach Docker at unix:///var/run/docker.sock".into()) },
        SetupStep { name: "database", state: StepState::Failed("cannot connect to Postgres at postgresql+psycopg://wordloom:***@localhost:5435/wordloom_test".into()) },
        SetupStep { name: "worker", state: StepState::Failed("cannot start `python worker.py`: No such file or directory".into()) },
    ];
    snapshot.worker = Some(WorkerState::FailedToStart { message: "cannot start `python worker.py`: No such file or directory (os error 2). Check worker.command".into() });
    snapshot.jaeger_error = Some("cannot reach Jaeger at http://localhost:16686: connection refused. Is it running? Start it with `docker compose -f docker-compose.infra.yml up -d jaeger`, or set jaeger.url".into());
    snapshot.metrics_error = Some(
        "cannot reach the worker's metrics at http://127.0.0.1:9109/metrics: connection refused"
            .into(),
    );
    snapshot.outbox = Some(Err(
        "cannot read search_outbox_events: pool timed out while waiting for an open connection"
            .into(),
    ));
    snapshot.status = Some(("Docker is not connected".into(), true));
    snapshot
}

fn render(app: &App, snapshot: &Snapshot, tail: &LogTail) -> String {
    render_at(200, 60, app, snapshot, tail)
}

fn render_at(width: u16, height: u16, app: &App, snapshot: &Snapshot, tail: &LogTail) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| drill_cockpit::ui::draw::draw(frame, app, snapshot, tail))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn healthy_drill_in_progress() {
    let screen = render(&app(), &healthy(), &tail());
    assert!(
        screen.contains("retry_scheduled  es_connect delete"),
        "{screen}"
    );
    assert!(screen.contains("escape sequences are stripped"));
    assert!(!screen.contains('\u{1b}'));
    insta::assert_snapshot!(screen);
}

#[test]
fn degraded_sources_say_why_in_their_panes() {
    let screen = render(&app(), &degraded(), &tail());
    assert!(screen.contains("stale: cannot reach the worker's metrics"));
    assert!(screen.contains("cannot reach Jaeger"));
    assert!(screen.contains("killed   signal 9"));
    assert!(screen.contains("es http   cannot reach Elasticsearch"));
    insta::assert_snapshot!(screen);
}

#[test]
fn failed_start_shows_each_reason_and_fix() {
    let screen = render(&app(), &failed(), &LogTail::default());
    assert!(
        screen.contains("DOCKER_HOST to use another engine"),
        "{screen}"
    );
    assert!(screen.contains("Check worker.command"), "{screen}");
    assert!(screen.contains("pool timed out"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn help_overlay_lists_every_binding() {
    let mut app = app();
    app.overlay = Overlay::Help { scroll: 0 };
    let screen = render(&app, &healthy(), &tail());
    for binding in &app.keymap.bindings {
        assert!(
            screen.contains(&binding.label),
            "help lacks {}",
            binding.label
        );
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn span_tree_and_confirmation_overlays() {
    let mut app = app();
    app.focus = Pane::Traces;
    app.overlay = Overlay::SpanTree { scroll: 0 };
    let tree = render(&app, &healthy(), &tail());
    assert!(
        tree.contains("Jaeger UI: http://localhost:16686/trace/070ce4007f73a4f295ba023d5a365ac7")
    );
    assert!(tree.contains("wordloom.outbox_event_id = 8722f068"));
    insta::assert_snapshot!("span_tree", tree);
    app.overlay = Overlay::Confirm(Confirm::QuitWithEsStopped);
    let confirm = render(&app, &healthy(), &tail());
    assert!(confirm.contains("`es` is still stopped. Start it before quitting?"));
}

#[test]
fn filtered_log_keeps_context_and_highlights_matches() {
    let mut app = app();
    app.log.set_filter("8722f068");
    let screen = render(&app, &healthy(), &tail());
    assert!(screen.contains("filter \"8722f068\""));
    insta::assert_snapshot!(screen);
}

/// A two-worker drill through the gate (claim contention): the Faults pane with the
/// gate's fault and its newest requests, worker 2's row, each worker's share of the
/// counters, and the keys generated from the scenario (help and status bar).
fn contention() -> (App, Snapshot) {
    use drill_cockpit::cockpit::engine::GateView;
    use drill_cockpit::faults::{EsOp, GateRecord};
    let profile = Profile::load(&LoadOptions {
        config_path: None,
        overrides: vec!["cockpit.scenario=db_claim_contention".into()],
        environment: Some(Default::default()),
    })
    .unwrap();
    let mut app = App::new(Keymap::for_drill(
        &profile,
        drill_cockpit::drill::catalog::builtin("db_claim_contention").unwrap(),
    ));
    app.now = now();
    app.scenario = "db_claim_contention".into();
    let mut snapshot = healthy();
    snapshot.scenario = "db_claim_contention".into();
    snapshot.checklist = None;
    snapshot.fault_in = true;
    snapshot.worker2 = Some((
        "w-labs009-expA-w2".into(),
        9127,
        WorkerState::Running { pid: 4243 },
    ));
    snapshot.per_worker = vec![(1, 0.0, 0.0, 0.0), (2, 1.0, 0.0, 0.0)];
    let at = now().timestamp_millis();
    let record = |offset: i64, status: u16, injected: Option<&str>, elapsed_ms: u64| GateRecord {
        at_unix_ms: at + offset,
        method: "PUT".parse().unwrap(),
        path: "/wordloom-test-search-index/_doc/7b1c?version=1&version_type=external".into(),
        op: EsOp::Upsert,
        status: Some(status),
        injected: injected.map(str::to_string),
        elapsed_ms,
    };
    snapshot.gates = vec![GateView {
        role: "Elasticsearch",
        url: "http://127.0.0.1:41234".into(),
        upstream: "http://127.0.0.1:9200".into(),
        fault: "latency 3000–3000 ms on upsert+delete+bulk, the first 1 only".into(),
        total: 2,
        injected: 1,
        recent: vec![
            record(0, 201, Some("latency 3000–3000 ms"), 3004),
            record(1200, 201, None, 3),
        ],
    }];
    (app, snapshot)
}

#[test]
fn a_gate_drill_with_two_workers_shows_its_faults_and_both_workers() {
    let (app, snapshot) = contention();
    let screen = render(&app, &snapshot, &tail());
    assert!(
        screen.contains("Faults · the drill's fault is IN"),
        "{screen}"
    );
    assert!(
        screen.contains("latency 3000–3000 ms on upsert+delete+bulk, the first 1 only"),
        "{screen}"
    );
    assert!(screen.contains("2 request(s), 1 hit"), "{screen}");
    assert!(screen.contains("worker 2  running  pid 4243"), "{screen}");
    assert!(screen.contains("w2: processed Δ1 failed Δ0"), "{screen}");
    assert!(
        screen.contains("x fault in X fault out i next event l worker log D pick another drill"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn the_drill_picker_lists_every_drill_and_marks_the_current_one() {
    let (mut app, snapshot) = contention();
    app.overlay = Overlay::Picker { selected: 5 };
    let screen = render(&app, &snapshot, &tail());
    for drill in drill_cockpit::drill::scenario::lab() {
        assert!(screen.contains(drill.id), "{}", drill.id);
    }
    assert!(screen.contains("● db_claim_contention"), "{screen}");
    // Enter on another drill asks the engine to switch; on the current one, nothing.
    let enter = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    );
    assert_eq!(
        app.on_key(enter, &snapshot),
        Some(drill_cockpit::cockpit::engine::Command::SwitchScenario(
            "stuck_reclaim"
        ))
    );
    app.overlay = Overlay::Picker { selected: 4 };
    assert_eq!(app.on_key(enter, &snapshot), None);
}

/// The timeline strip tells the drill's story (fault in, first retry, a marker, fault
/// out, recovery), and `m` asks for a marker's note then hands it to the engine.
#[test]
fn the_timeline_strip_and_a_marker() {
    use drill_cockpit::evidence::moments::moments;
    let journal: Vec<serde_json::Value> = [
        r#"{"ts":"2026-02-14T10:42:00Z","kind":"counters","retry_scheduled":0,"terminal_failed":0}"#,
        r#"{"ts":"2026-02-14T10:42:05Z","kind":"container","service":"es","action":"stop","by":"drill"}"#,
        r#"{"ts":"2026-02-14T10:42:09Z","kind":"counters","retry_scheduled":1,"terminal_failed":0}"#,
        r#"{"ts":"2026-02-14T10:42:20Z","kind":"marker","note":"the room sees the retries"}"#,
        r#"{"ts":"2026-02-14T10:42:40Z","kind":"container","service":"es","action":"start","by":"drill"}"#,
        r#"{"ts":"2026-02-14T10:42:42Z","kind":"check","id":"recovered","status":"passed"}"#,
    ]
    .iter()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let mut snapshot = healthy();
    snapshot.moments = moments(&journal);
    snapshot.elapsed = 60.0;
    let mut app = app();
    let screen = render(&app, &snapshot, &tail());
    let strip = screen.lines().nth(1).unwrap();
    for glyph in ['▼', 'r', 'm', '▲', '✓'] {
        assert!(strip.contains(glyph), "{glyph}: {strip}");
    }
    assert!(
        strip.contains("m +20s the room sees the retries"),
        "{strip}"
    );
    insta::assert_snapshot!(screen);

    let key = |code| crossterm::event::KeyEvent::new(code, crossterm::event::KeyModifiers::NONE);
    use crossterm::event::KeyCode;
    assert_eq!(app.on_key(key(KeyCode::Char('m')), &snapshot), None);
    for c in "ES back".chars() {
        app.on_key(key(KeyCode::Char(c)), &snapshot);
    }
    let prompt = render(&app, &snapshot, &tail());
    assert!(prompt.contains("✎ ES back"), "{prompt}");
    assert_eq!(
        app.on_key(key(KeyCode::Enter), &snapshot),
        Some(drill_cockpit::cockpit::engine::Command::Marker(
            "ES back".into()
        ))
    );
}

/// 80×24: every pane still there, each with fewer rows (the strip, the services, the
/// main counters, the first checks, the log, the outbox's summary).
#[test]
fn a_small_terminal_keeps_every_pane() {
    let screen = render_at(80, 24, &app(), &healthy(), &tail());
    for title in [
        "Timeline",
        "Containers",
        "Counters",
        "Checks 7/8 · 1 pending",
        "log",
        "Traces",
        "Outbox",
    ] {
        assert!(screen.contains(title), "{title}:\n{screen}");
    }
    assert_eq!(screen.lines().count(), 24);
    insta::assert_snapshot!(screen);
    let (app, snapshot) = contention();
    let screen = render_at(80, 24, &app, &snapshot, &tail());
    assert!(screen.contains("Faults"), "{screen}");
    insta::assert_snapshot!("small_with_faults", screen);
}

/// `z` shows the focused pane full screen, at both sizes; again, back.
#[test]
fn zoom_fills_the_screen_with_the_focused_pane() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = app();
    let snapshot = healthy();
    app.on_key(
        KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE),
        &snapshot,
    );
    assert!(app.zoomed);
    let big = render(&app, &snapshot, &tail());
    assert!(big.starts_with("┏ Worker log"), "{big}");
    assert!(!big.contains("Containers ·"));
    insta::assert_snapshot!("zoomed_log", big);
    app.focus = Pane::Checklist;
    let small = render_at(80, 24, &app, &snapshot, &tail());
    assert!(small.starts_with("┏ Checklist"), "{small}");
    insta::assert_snapshot!("zoomed_checklist_small", small);
    app.on_key(
        KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE),
        &snapshot,
    );
    assert!(!app.zoomed);
    assert!(render(&app, &snapshot, &tail()).contains("Containers ·"));
}

/// `q` asks one question at a time: the stopped ES first (`y` starts it, then the
/// pending question follows), then the pending checks by name. `w` waits with a
/// countdown in the status bar and quits once they are decided or the time is up;
/// `q` at the question quits anyway. After `S` the status bar says when the event
/// retries.
#[test]
fn quitting_asks_about_a_stopped_es_then_about_the_pending_checks() {
    use drill_cockpit::cockpit::engine::Command;
    use drill_cockpit::drill::CheckStatus;
    let key = |c| {
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        )
    };
    let mut snapshot = healthy();
    let mut app = app();
    assert_eq!(app.on_key(key('q'), &snapshot), None);
    assert_eq!(app.overlay, Overlay::Confirm(Confirm::QuitWithEsStopped));
    assert_eq!(app.on_key(key('y'), &snapshot), Some(Command::StartEs));
    assert_eq!(
        app.overlay,
        Overlay::Confirm(Confirm::QuitWithPendingChecks)
    );
    snapshot.es_stopped = false;
    let question = render(&app, &snapshot, &tail());
    assert!(question.contains("check(s) still pending"), "{question}");
    assert!(
        question.contains("after `start es` the event reaches done"),
        "{question}"
    );
    assert!(question.contains("q: quit anyway"), "{question}");

    assert_eq!(app.on_key(key('w'), &snapshot), None);
    // The event retries in 5 s: the wait is that and a 15 s margin.
    let waiting = render(&app, &snapshot, &tail());
    assert!(
        waiting.contains("quitting once decided, at the latest in 20 s"),
        "{waiting}"
    );
    assert_eq!(app.quit_when_decided(&snapshot, now()), None);
    let mut decided = snapshot.clone();
    if let Some(verdict) = decided.checklist.as_mut() {
        for check in &mut verdict.checks {
            check.status = CheckStatus::Passed;
        }
    }
    assert_eq!(
        app.quit_when_decided(&decided, now()),
        Some(Command::Quit { start_es: false })
    );

    // Time up: the waited quit goes anyway.
    let mut app = self::app();
    app.on_key(key('q'), &snapshot);
    app.on_key(key('w'), &snapshot);
    assert_eq!(
        app.quit_when_decided(&snapshot, now() + chrono::Duration::seconds(21)),
        Some(Command::Quit { start_es: false })
    );

    // `w` on an outbox read a poll old, from while the first attempt was in flight:
    // the next read shows the retry the worker scheduled, and the wait follows it.
    let mut app = self::app();
    app.on_key(key('q'), &snapshot);
    let mut in_flight = snapshot.clone();
    let mut retried = snapshot.clone();
    if let (Some(Ok((_, claimed))), Some(Ok((_, scheduled)))) =
        (in_flight.outbox.as_mut(), retried.outbox.as_mut())
    {
        claimed[0].status = "processing".into();
        scheduled[0].next_retry_at = Some(now() + chrono::Duration::seconds(18));
    }
    app.on_key(key('w'), &in_flight);
    let one_later = now() + chrono::Duration::seconds(1);
    assert_eq!(app.quit_when_decided(&retried, one_later), None);
    let waiting = render(&app, &retried, &tail());
    assert!(
        waiting.contains("quitting once decided, at the latest in 33 s"),
        "{waiting}"
    );
    assert_eq!(
        app.quit_when_decided(&retried, now() + chrono::Duration::seconds(21)),
        None
    );

    // `q` at the question: quit anyway.
    let mut app = self::app();
    let retry = render(&app, &snapshot, &tail());
    assert!(
        retry.contains("the event retries in 5 s (next_retry_at 10:43:05 UTC)"),
        "{retry}"
    );
    assert_eq!(app.on_key(key('q'), &snapshot), None);
    assert_eq!(
        app.on_key(key('q'), &snapshot),
        Some(Command::Quit { start_es: false })
    );
}

/// Each drill's main screen at the three sizes a room meets (a laptop's 80×24, a
/// split screen's 120×40, a projector's 200×60): the worker's row, counters with their
/// numbers, the checklist's tally and the status bar's way to the rest of the keys
/// are on every one of them.
#[test]
fn every_drills_main_screen_at_three_sizes() {
    let profile = Profile::load(&LoadOptions {
        config_path: None,
        overrides: vec![],
        environment: Some(Default::default()),
    })
    .unwrap();
    for drill in drill_cockpit::drill::scenario::lab() {
        let mut app = App::new(Keymap::for_drill(&profile, drill));
        app.now = now();
        let mut snapshot = healthy();
        snapshot.scenario = drill.id.into();
        snapshot.run_dir = format!("snapshots/{}/20260214T104133", drill.id);
        let graded = snapshot.checklist.take().unwrap();
        let observations = Observations {
            metrics_before: Some(
                Samples::parse(&fixture(
                    "upstream-run-es_down_connect/_metrics/metrics-before.txt",
                ))
                .unwrap(),
            ),
            metrics_after: Some(
                Samples::parse(&fixture(
                    "upstream-run-es_down_connect/_metrics/metrics-after.txt",
                ))
                .unwrap(),
            ),
            log: Some(tail().lines.iter().cloned().collect()),
            event_id: Some(EVENT.into()),
            ..Observations::default()
        };
        drop(graded);
        snapshot.checklist = Some(grade(drill, &observations, Missing::Pending));
        if drill.worker_count() == 2 {
            snapshot.worker2 = Some((
                "drill-cockpit-w2".into(),
                40123,
                WorkerState::Running { pid: 4243 },
            ));
        }
        for (width, height) in [(80, 24), (120, 40), (200, 60)] {
            let screen = render_at(width, height, &app, &snapshot, &tail());
            let at = format!("{} at {width}×{height}:\n{screen}", drill.id);
            assert!(
                screen.contains("running pid 4242") || screen.contains("running  pid 4242"),
                "worker row, {at}"
            );
            assert!(screen.contains("retry"), "counters, {at}");
            assert!(screen.contains("Δ"), "counter deltas, {at}");
            assert!(
                screen.contains("Checks ") || screen.contains("Checklist · "),
                "tally, {at}"
            );
            let status = screen.lines().last().unwrap();
            assert!(
                status.ends_with("? more") || status.contains("q quit"),
                "the status bar leads to every key, {at}"
            );
            insta::assert_snapshot!(format!("main_{}_{width}x{height}", drill.id), screen);
        }
    }
}

/// 80×24: the help lists more keys than the screen has rows; scrolling (↓, j, PgDn,
/// G) shows every one of them, and the title says which part is shown.
#[test]
fn help_scrolls_to_every_binding_on_a_small_terminal() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = app();
    let snapshot = healthy();
    let press = |app: &mut App, code| {
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE), &snapshot);
    };
    press(&mut app, KeyCode::Char('?'));
    let first = render_at(80, 24, &app, &snapshot, &tail());
    assert!(first.contains("Help · 1–"), "{first}");
    assert!(first.contains("scroll"), "{first}");
    let mut seen = first.clone();
    for _ in 0..40 {
        press(&mut app, KeyCode::Char('j'));
        seen.push_str(&render_at(80, 24, &app, &snapshot, &tail()));
    }
    assert!(
        matches!(app.overlay, Overlay::Help { .. }),
        "j scrolls, it does not close"
    );
    for label in [
        "fault in",
        "kill -9 worker",
        "zoom",
        "log: next filter match",
        "to the end",
    ] {
        assert!(seen.contains(label), "{label} never shown");
    }
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(
        render_at(80, 24, &app, &snapshot, &tail()),
        first,
        "g: back to the top"
    );
    press(&mut app, KeyCode::Char('G'));
    let last = render_at(80, 24, &app, &snapshot, &tail());
    assert!(last.contains("keys are remapped"), "{last}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

/// The filter and marker prompts take readline's keys: Ctrl-U clears, Ctrl-W deletes
/// a word, and no Ctrl key is ever typed as its letter.
#[test]
fn prompts_take_readline_keys() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = app();
    let snapshot = healthy();
    let type_text = |app: &mut App, text: &str| {
        for c in text.chars() {
            app.on_key(
                KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
                &snapshot,
            );
        }
    };
    let ctrl = |app: &mut App, c| {
        app.on_key(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            &snapshot,
        );
    };
    app.on_key(
        KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE),
        &snapshot,
    );
    type_text(&mut app, "attempt=5 reason");
    ctrl(&mut app, 'w');
    assert_eq!(app.overlay, Overlay::FilterInput("attempt=5 ".into()));
    ctrl(&mut app, 'u');
    assert_eq!(app.overlay, Overlay::FilterInput(String::new()));
    type_text(&mut app, "es_connect");
    ctrl(&mut app, 'a');
    ctrl(&mut app, 'h');
    assert_eq!(app.overlay, Overlay::FilterInput("es_connec".into()));
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &snapshot);
    assert_eq!(app.log.filter, "es_connec");
    app.on_key(
        KeyEvent::new(KeyCode::Char('m'), KeyModifiers::NONE),
        &snapshot,
    );
    type_text(&mut app, "ES back up");
    ctrl(&mut app, 'w');
    ctrl(&mut app, 'w');
    assert_eq!(app.overlay, Overlay::MarkerInput("ES ".into()));
}

/// j/k/g/G move like the arrows and Home/End in lists; the picker takes the README's
/// letters (C moves to drill C) and shows them.
#[test]
fn vi_keys_and_picker_letters() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = app();
    let mut snapshot = healthy();
    let press = |app: &mut App, snapshot: &Snapshot, c| {
        app.on_key(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
            snapshot,
        )
    };
    snapshot.outbox = Some(Ok((
        QueueSummary::default(),
        (0..5).map(|_| outbox_row("pending", 1)).collect(),
    )));
    app.focus = Pane::Outbox;
    press(&mut app, &snapshot, 'j');
    press(&mut app, &snapshot, 'j');
    assert_eq!(app.outbox_selected, 2);
    press(&mut app, &snapshot, 'k');
    assert_eq!(app.outbox_selected, 1);
    press(&mut app, &snapshot, 'G');
    assert_eq!(app.outbox_selected, 4);
    press(&mut app, &snapshot, 'g');
    assert_eq!(app.outbox_selected, 0);

    press(&mut app, &snapshot, 'D');
    let screen = render_at(120, 40, &app, &snapshot, &tail());
    for (letter, id) in [
        ('A', "es_down_connect"),
        ('E', "db_claim_contention"),
        ('I', "collector_down"),
    ] {
        assert!(screen.contains(&format!("{letter} ")), "{screen}");
        assert!(screen.contains(id), "{screen}");
    }
    press(&mut app, &snapshot, 'c');
    assert_eq!(app.overlay, Overlay::Picker { selected: 2 });
    let chosen = app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &snapshot);
    assert_eq!(
        chosen,
        Some(drill_cockpit::cockpit::engine::Command::SwitchScenario(
            "es_write_block_4xx"
        ))
    );
}

/// Enter in the log opens the span tree of the lowest line on screen that names a
/// trace (underlined, and named in the title); a trace the cockpit has not loaded is
/// said in the status bar instead.
#[test]
fn enter_on_the_log_opens_the_trace_its_line_names() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = app();
    let mut snapshot = healthy();
    app.focus = Pane::Log;
    let screen = render(&app, &snapshot, &tail());
    assert!(screen.contains("Enter: trace 070ce400"), "{screen}");
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &snapshot);
    assert_eq!(app.overlay, Overlay::SpanTree { scroll: 0 });
    assert_eq!(app.focus, Pane::Traces);
    let list = drill_cockpit::ui::traces_list(&snapshot);
    assert!(list[app.trace_selected].trace_id.starts_with("070ce400"));
    let tree = render(&app, &snapshot, &tail());
    assert!(tree.contains("070ce400"), "{tree}");

    // Not loaded: said, nothing opened.
    app.overlay = Overlay::None;
    app.focus = Pane::Log;
    snapshot.event_traces = Some(Ok(vec![]));
    snapshot.batch_traces = Some(Ok(vec![]));
    render(&app, &snapshot, &tail());
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &snapshot);
    assert_eq!(app.overlay, Overlay::None);
    let screen = render(&app, &snapshot, &tail());
    assert!(screen.contains("trace 070ce400 is not among"), "{screen}");
}

/// The mouse: a click focuses the pane under it, the wheel scrolls the pane under it
/// (three rows a notch) or the open overlay; a click outside the help closes it.
#[test]
fn a_click_focuses_and_the_wheel_scrolls_the_pane_under_the_pointer() {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let mouse = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    let mut app = app();
    let mut snapshot = healthy();
    snapshot.outbox = Some(Ok((
        QueueSummary::default(),
        (0..8).map(|_| outbox_row("pending", 1)).collect(),
    )));
    let screen = render_at(120, 40, &app, &snapshot, &tail());
    let (column, row) = screen
        .lines()
        .enumerate()
        .find_map(|(y, line)| line.find("Outbox").map(|x| (x as u16, y as u16 + 1)))
        .unwrap();
    app.on_mouse(
        mouse(MouseEventKind::Down(MouseButton::Left), column, row),
        &snapshot,
    );
    assert_eq!(app.focus, Pane::Outbox);
    app.on_mouse(mouse(MouseEventKind::ScrollDown, column, row), &snapshot);
    assert_eq!(app.outbox_selected, 3);
    // The wheel over the traces focuses them and moves their selection.
    let (tx, ty) = screen
        .lines()
        .enumerate()
        .find_map(|(y, line)| line.find("Traces").map(|x| (x as u16, y as u16 + 1)))
        .unwrap();
    app.on_mouse(mouse(MouseEventKind::ScrollDown, tx, ty), &snapshot);
    assert_eq!(app.focus, Pane::Traces);
    assert!(app.trace_selected > 0);
    // Help open: the wheel scrolls it, a click closes it.
    app.overlay = Overlay::Help { scroll: 0 };
    render_at(80, 24, &app, &snapshot, &tail());
    app.on_mouse(mouse(MouseEventKind::ScrollDown, 40, 12), &snapshot);
    assert_eq!(app.overlay, Overlay::Help { scroll: 1 });
    app.on_mouse(
        mouse(MouseEventKind::Down(MouseButton::Left), 1, 1),
        &snapshot,
    );
    assert_eq!(app.overlay, Overlay::None);
}

/// F's gate holds worker 1's first write before the drill's fault (the kill) is in:
/// the Faults pane says the gate is armed, not that no fault is in.
#[test]
fn a_gate_armed_before_the_drills_fault_says_so() {
    let (app, mut snapshot) = contention();
    snapshot.fault_in = false;
    let screen = render(&app, &snapshot, &tail());
    assert!(
        screen.contains("Faults · the drill's fault is not in yet · a gate is armed for it"),
        "{screen}"
    );
    assert!(
        screen.contains("Elasticsearch gate armed: latency"),
        "{screen}"
    );
    assert!(!screen.contains("no fault in"), "{screen}");
}

/// Every cell of a screen: its symbol and its colours (foreground, background,
/// underline).
fn cells(
    app: &App,
    snapshot: &Snapshot,
    tail: &LogTail,
) -> Vec<(String, [ratatui::style::Color; 3])> {
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    terminal
        .draw(|frame| drill_cockpit::ui::draw::draw(frame, app, snapshot, tail))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    buffer
        .content()
        .iter()
        .map(|cell| {
            (
                cell.symbol().to_string(),
                [cell.fg, cell.bg, cell.underline_color],
            )
        })
        .collect()
}

/// `--theme mono` / `NO_COLOR`: no cell of any screen or overlay has a colour, while the
/// colour theme has some on each; and the two say the same in text and symbols (✓ ✗ …,
/// the states' words), so nothing colour said is lost.
#[test]
fn the_monochrome_theme_draws_no_colour_and_loses_no_information() {
    use drill_cockpit::ui::theme::{Theme, ThemeChoice};
    use ratatui::style::Color;
    let (gate_app, gate) = contention();
    let mut story = healthy();
    story.sandbox = Some(drill_cockpit::sandbox::BANNER);
    story.moments = drill_cockpit::evidence::moments::moments(
        &[
            r#"{"ts":"2026-02-14T10:42:05Z","kind":"container","service":"es","action":"stop","by":"drill"}"#,
            r#"{"ts":"2026-02-14T10:42:20Z","kind":"marker","note":"a note"}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect::<Vec<_>>(),
    );
    story.elapsed = 60.0;
    story.cursor = Some(20.0);
    let mut screens: Vec<(String, App, Snapshot)> = vec![
        ("healthy".into(), app(), story),
        ("degraded".into(), app(), degraded()),
        ("failed".into(), app(), failed()),
        ("gate".into(), gate_app, gate.clone()),
    ];
    for overlay in [
        Overlay::Help { scroll: 0 },
        Overlay::SpanTree { scroll: 0 },
        Overlay::Confirm(Confirm::StopEs),
        Overlay::FilterInput("8722".into()),
        Overlay::MarkerInput("note".into()),
    ] {
        let mut app = app();
        app.focus = Pane::Traces;
        app.log.set_filter("8722f068");
        app.overlay = overlay.clone();
        screens.push((format!("{overlay:?}"), app, healthy()));
    }
    let (mut picker, gate) = contention();
    picker.overlay = Overlay::Picker { selected: 2 };
    screens.push(("picker".into(), picker, gate));

    let mono = ThemeChoice::Auto.resolve(Some("1"));
    assert_eq!(mono, Theme::Mono);
    for (name, mut app, snapshot) in screens {
        app.theme = Theme::Colour;
        let coloured = cells(&app, &snapshot, &tail());
        app.theme = mono;
        let plain = cells(&app, &snapshot, &tail());
        assert!(
            coloured
                .iter()
                .any(|(_, colours)| colours.iter().any(|c| *c != Color::Reset)),
            "{name}: the colour theme drew no colour"
        );
        for (index, (symbol, colours)) in plain.iter().enumerate() {
            assert_eq!(
                *colours,
                [Color::Reset; 3],
                "{name}: cell {index} ({symbol:?}) has a colour in the mono theme"
            );
        }
        let text = |cells: &[(String, [Color; 3])]| -> String {
            cells.iter().map(|(symbol, _)| symbol.as_str()).collect()
        };
        assert_eq!(text(&plain), text(&coloured), "{name}: the text differs");
    }
    // What the colour said is in the text: checks by symbol, states by word.
    let mut app = app();
    app.theme = mono;
    let screen = render(&app, &degraded(), &tail());
    assert!(screen.contains('✓') && screen.contains('…'), "{screen}");
    assert!(
        screen.contains("exited") && screen.contains("running"),
        "{screen}"
    );
    assert!(screen.contains("killed   signal 9"), "{screen}");
}

/// A fleet (`--replicas 4` on E): every replica in the Containers pane, and each
/// worker's share in compact rows under the fleet's sums, a stopped one `down`.
#[test]
fn a_fleet_lists_every_replica_and_each_workers_share_in_compact_rows() {
    let (app, mut snapshot) = contention();
    snapshot.replicas = vec![
        (
            3,
            "w-labs009-expA-w3".into(),
            9131,
            WorkerState::Running { pid: 4250 },
        ),
        (
            4,
            "w-labs009-expA-w4".into(),
            9133,
            WorkerState::Exited {
                code: Some(0),
                signal: None,
            },
        ),
    ];
    snapshot.worker = Some(WorkerState::Running { pid: 4242 });
    snapshot.per_worker = vec![
        (1, 0.0, 0.0, 1.0),
        (2, 1.0, 0.0, 0.0),
        (3, 2.0, 0.0, 0.0),
        (4, 0.0, 0.0, 0.0),
    ];
    let screen = render(&app, &snapshot, &tail());
    assert!(screen.contains("worker 3  running  pid 4250"), "{screen}");
    assert!(screen.contains("w-labs009-expA-w3 · :9131"), "{screen}");
    assert!(screen.contains("worker 4  exited   code 0"), "{screen}");
    for share in [
        "w1 up p0 r1 f0",
        "w2 up p1 r0 f0",
        "w3 up p2 r0 f0",
        "w4 down p0 r0 f0",
    ] {
        assert!(screen.contains(share), "{share} in\n{screen}");
    }
}

/// The log pane names the replica whose lines it shows (`l` goes round the fleet).
#[test]
fn the_log_pane_names_the_replica_it_shows() {
    let (mut app, mut snapshot) = contention();
    snapshot.replicas = vec![(
        3,
        "w-labs009-expA-w3".into(),
        9131,
        WorkerState::Running { pid: 4250 },
    )];
    app.log_worker = 3;
    let screen = render(&app, &snapshot, &tail());
    assert!(screen.contains("Worker 3 log"), "{screen}");
}
