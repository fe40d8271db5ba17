//! Fuzzing (proptest) of everything that reads input from outside: the `/metrics`
//! parser, the Jaeger decoder (legacy and `/api/v3`), the log-line renderer and the log
//! pane, the config loader, and the run-directory readers and graders. The property is
//! the same everywhere: any input gives a value or an error, never a panic, and text
//! meant for a terminal carries no control, escape or bidi character.
//!
//! Cases per property: `PROPTEST_CASES` (CI's default run uses the number below).

use std::collections::BTreeMap;

use drill_cockpit::config::{LoadOptions, Profile};
use drill_cockpit::jaeger::parse_traces;
use drill_cockpit::prom::Samples;
use drill_cockpit::sources::worker_proc::LogTail;
use drill_cockpit::ui::log_view::{LogView, render_line};
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 1_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(CASES),
        ..ProptestConfig::default()
    }
}

/// Pieces the parsers care about, so random text reaches their branches often.
fn metrics_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("outbox_failed_total".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("reason=\"es_connect\"".to_string()),
        Just(",".to_string()),
        Just("\\\"".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("# TYPE x counter\n".to_string()),
        Just("NaN".to_string()),
        Just("+Inf".to_string()),
        Just("<!DOCTYPE html>".to_string()),
        Just("1e308".to_string()),
        "[0-9.eE+-]{1,8}",
        "\\PC{0,12}",
    ];
    prop::collection::vec(token, 0..60).prop_map(|parts| parts.concat())
}

/// Arbitrary JSON, with the keys a Jaeger answer has, so the decoder goes deep.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("data"),
        Just("result"),
        Just("resourceSpans"),
        Just("scopeSpans"),
        Just("spans"),
        Just("traceID"),
        Just("traceId"),
        Just("spanID"),
        Just("spanId"),
        Just("references"),
        Just("tags"),
        Just("attributes"),
        Just("key"),
        Just("value"),
        Just("stringValue"),
        Just("startTime"),
        Just("startTimeUnixNano"),
        Just("duration"),
        Just("processes"),
        Just("processID"),
        Just("status"),
        Just("logs"),
        Just("x"),
    ]
    .prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Log lines as hostile workers print them.
fn log_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{\"level\":\"ERROR\",\"message\":\"".to_string()),
        Just("\"}".to_string()),
        Just("\u{1b}[31m".to_string()),
        Just("\u{1b}]52;c;aGk=\u{7}".to_string()),
        Just("\u{9b}2J".to_string()),
        Just("\u{202e}\u{2066}\u{200b}".to_string()),
        Just("\t".to_string()),
        Just("\"trace_id\":\"abc\",".to_string()),
        prop::collection::vec(any::<u8>(), 0..24)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        "\\PC{0,20}",
    ];
    prop::collection::vec(piece, 0..30).prop_map(|parts| parts.concat())
}

fn is_clean(text: &str) -> bool {
    !text.chars().any(|c| {
        c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}')
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metrics_parser_never_panics(text in metrics_text()) {
        if let Ok(samples) = Samples::parse(&text) {
            let _ = samples.sum("outbox_failed_total", &[("reason", &["es_connect"])]);
        }
    }

    #[test]
    fn jaeger_decoder_never_panics(value in json_value()) {
        if let Ok(traces) = parse_traces(&value) {
            for trace in traces {
                let _ = (trace.failed(), trace.duration_us(), trace.start_us());
            }
        }
    }

    #[test]
    fn rendered_log_lines_are_clean(line in log_line()) {
        let (text, _) = render_line(&line);
        prop_assert!(is_clean(&text), "{text:?}");
    }

    #[test]
    fn the_log_pane_shapes_any_tail(lines in prop::collection::vec(log_line(), 0..40), height in 0usize..30, filter in "[a-z]{0,3}", fold in any::<bool>(), paused in any::<bool>()) {
        let mut tail = LogTail::default();
        for line in lines {
            tail.push(line);
        }
        let mut view = LogView { fold, seen_total: tail.total, ..LogView::default() };
        view.set_filter(&filter);
        if paused {
            view.toggle_follow();
            tail.push("later".into());
        }
        let shown = view.visible(&tail, height);
        prop_assert!(shown.len() <= height.max(1) + 1);
        for line in shown {
            prop_assert!(is_clean(&line.text), "{:?}", line.text);
        }
    }

    #[test]
    fn the_config_loader_answers_every_file_and_flag(toml in "\\PC{0,200}", key in "[a-z_.]{0,24}", value in "\\PC{0,24}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drill-cockpit.toml");
        std::fs::write(&path, &toml).unwrap();
        let _ = Profile::load(&LoadOptions {
            config_path: Some(path),
            overrides: vec![format!("{key}={value}")],
            environment: Some(BTreeMap::new()),
        });
    }
}

/// The run-directory readers on random directories: random known file names with
/// random (often near-valid) contents.
fn run_file() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("_recipe.json"),
        Just("_result.json"),
        Just("manifest.json"),
        Just("_outbox_event_id.txt"),
        Just("_metrics/metrics-before.txt"),
        Just("_metrics/metrics-after.txt"),
        Just("_metrics/metrics-after-2.txt"),
        Just("_logs/worker2-x.log"),
        Just("_exports/jaeger-traces-outbox_event_id-x-1.json"),
        Just("_probe_entry_v2.json"),
        Just("_inject_jaeger_stop.exitcode.txt"),
        Just("_outbox-1.json"),
    ]
    .prop_map(str::to_string);
    let content = prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        metrics_text(),
        log_line(),
        Just("{\"scenario\":\"stuck_reclaim\",\"tool\":\"drill-cockpit\"}".to_string()),
        Just(
            "{\"scenario\":\"projection_version\",\"checks\":{\"retry_delta_ge\":\"x\"}}"
                .to_string()
        ),
        Just("scrape_failed: boom".to_string()),
    ];
    (name, content)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: config().cases / 4, ..config() })]

    #[test]
    fn run_directory_readers_never_panic(files in prop::collection::vec(run_file(), 0..10)) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("stuck_reclaim").join("r1");
        for (name, content) in &files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        std::fs::create_dir_all(dir.join("_metrics")).unwrap();
        let _ = drill_cockpit::verify::grade_run(&dir).map(|run| {
            let _ = drill_cockpit::verify::render_one(&run, true);
            run.json()
        });
        let _ = drill_cockpit::verify::render_table(root.path(), &[drill_cockpit::verify::grade_run(&dir)]);
    }
}

#[test]
fn a_one_mebibyte_line_renders_cut_and_clean() {
    let line = format!(
        "{{\"level\":\"ERROR\",\"message\":\"\\u001b[2J{}\"}}",
        "x".repeat(1 << 20)
    );
    let (text, level) = render_line(&line);
    assert_eq!(level.as_deref(), Some("ERROR"));
    assert!(text.chars().count() < 2_000);
    assert!(is_clean(&text));
}
