//! `report.md`: the verdict table, the key log lines with their trace ids, and the
//! Jaeger links — what a reviewer reads first. Each section is one function; every
//! text from evidence goes through `markdown` for the spot it lands in.

use std::collections::BTreeSet;

use serde_json::Value;

use super::markdown::{cell, code, code_cell, words};
use crate::drill::{Observations, Verdict};
use crate::jaeger::model::TraceSummary;

/// The log lines a reviewer reads first: errors, warnings and the tracing set-up.
const KEY_LOG_LINES: usize = 20;

pub fn render(
    run_id: &str,
    verdict: &Verdict,
    obs: &Observations,
    jaeger_base: &str,
    timeline: &[Value],
) -> String {
    let sections = [
        heading(run_id, verdict),
        event_under_drill(obs),
        checks_table(verdict),
        findings(verdict),
        failed_actions(timeline),
        key_log_lines(obs, jaeger_base),
        traces_table(obs, jaeger_base),
        story(timeline),
        timeline_list(timeline),
        "\n![timeline](timeline.svg)\n".to_string(),
    ];
    // Everything above came from evidence at some point: no escape or bidi code survives.
    crate::sanitize::strip_controls_per_line(&sections.concat())
}

fn heading(run_id: &str, verdict: &Verdict) -> String {
    format!(
        "# Drill `{}` — run `{}`: **{}**\n\n",
        code(&verdict.scenario, 80),
        code(run_id, 80),
        if verdict.ok { "PASSED" } else { "FAILED" }
    )
}

fn event_under_drill(obs: &Observations) -> String {
    let Some(event) = &obs.event_id else {
        return String::new();
    };
    let batch = obs
        .claim_batch_id()
        .map(|batch| format!(", claim batch `{}`", code(&batch, 200)))
        .unwrap_or_default();
    format!("Event under drill: `{}`{batch}\n\n", code(event, 200))
}

fn checks_table(verdict: &Verdict) -> String {
    let mut out = String::from("## Checks\n\n| check | status | observed |\n|---|---|---|\n");
    for check in &verdict.checks {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(check.title, 200),
            check.status.label(),
            cell(&check.observed, 600)
        ));
    }
    out
}

fn findings(verdict: &Verdict) -> String {
    if verdict.findings.is_empty() {
        return String::new();
    }
    let items: String = verdict
        .findings
        .iter()
        .map(|finding| format!("- {}\n", words(finding, 800)))
        .collect();
    format!("\n## Findings\n\n{items}")
}

/// A journal entry's text field, or "" when it has none.
fn text<'a>(entry: &'a Value, key: &str) -> &'a str {
    entry.get(key).and_then(Value::as_str).unwrap_or("")
}

fn failed_actions(timeline: &[Value]) -> String {
    let items: String = timeline
        .iter()
        .filter(|entry| text(entry, "kind") == "action_failed")
        .map(|entry| {
            format!(
                "- `{}` **{}** failed: {}\n",
                code(text(entry, "ts"), 40),
                words(text(entry, "action"), 80),
                words(text(entry, "error"), 400)
            )
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!("\n## Failed actions\n\n{items}")
}

fn is_key_log_line(line: &Value) -> bool {
    matches!(text(line, "level"), "ERROR" | "WARNING")
        || line.get("event").is_some_and(|e| e == "tracing.config")
}

/// A trace id as written by a worker: hex only, so it is safe in a link's target.
fn trace_id(line: &Value) -> Option<&str> {
    Some(text(line, "trace_id"))
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
}

fn key_log_line(line: &Value, jaeger_base: &str) -> String {
    let reason = line
        .get("reason")
        .and_then(Value::as_str)
        .map(|reason| format!(" (reason={})", words(reason, 80)))
        .unwrap_or_default();
    let link = trace_id(line)
        .map(|trace| {
            format!(
                " — [trace {trace}]({})",
                crate::jaeger::trace_link(jaeger_base, trace)
            )
        })
        .unwrap_or_default();
    format!(
        "- `{}` {} {}{reason}{link}\n",
        code(text(line, "ts"), 40),
        words(text(line, "level"), 10),
        words(text(line, "message"), 160),
    )
}

fn key_log_lines(obs: &Observations, jaeger_base: &str) -> String {
    let items: String = obs
        .log_json()
        .filter(is_key_log_line)
        .take(KEY_LOG_LINES)
        .map(|line| key_log_line(&line, jaeger_base))
        .collect();
    let items = if items.is_empty() {
        "(none)\n".to_string()
    } else {
        items
    };
    format!("\n## Key log lines\n\n{items}")
}

/// `result / reason` of the trace's batch span, or "" without one.
fn batch_result(trace: &TraceSummary) -> String {
    let Some(batch) = trace.span("projection.process_batch") else {
        return String::new();
    };
    let tag = |key: &str| batch.tags.get(key).map(String::as_str).unwrap_or("?");
    format!("{} / {}", tag("result"), tag("reason"))
}

/// The trace's own operations (`outbox.process`, …), not the library's.
fn operations(trace: &TraceSummary) -> String {
    trace
        .spans
        .iter()
        .map(|s| s.operation.as_str())
        .filter(|o| o.contains('.'))
        .collect::<Vec<_>>()
        .join(", ")
}

fn trace_row(trace: &TraceSummary, jaeger_base: &str) -> String {
    format!(
        "| `{}` | {} | {} | {} |\n",
        code_cell(&trace.trace_id, 80),
        cell(&operations(trace), 400),
        cell(&batch_result(trace), 120),
        cell(
            &crate::jaeger::trace_link(jaeger_base, &trace.trace_id),
            300
        )
    )
}

fn traces_table(obs: &Observations, jaeger_base: &str) -> String {
    let mut out = String::from(
        "\n## Traces\n\n| trace | operation | result / reason | Jaeger |\n|---|---|---|---|\n",
    );
    let traces = obs
        .traces_by_event
        .iter()
        .flatten()
        .chain(obs.traces_by_batch.iter().flatten());
    let mut seen = BTreeSet::new();
    for trace in traces {
        if seen.insert(trace.trace_id.clone()) {
            out.push_str(&trace_row(trace, jaeger_base));
        }
    }
    out
}

fn story(timeline: &[Value]) -> String {
    let items: String = crate::evidence::moments::moments(timeline)
        .iter()
        .map(|moment| {
            format!(
                "- +{:.1} s {} {}\n",
                moment.at,
                moment.kind.glyph(),
                words(&moment.label, 80)
            )
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!("\n## The drill's story\n\n{items}")
}

/// A journal value in words: text as it is, a number or flag as written, anything
/// else (a list, an object) as compact JSON — never Rust's debug form.
fn detail_value(value: &Value) -> String {
    match value {
        Value::String(text) => words(text, 200),
        other => words(&other.to_string(), 200),
    }
}

/// One journal entry (not counters: the SVG draws those) as a list item.
fn timeline_item(entry: &Value) -> String {
    let detail: Vec<String> = entry
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| !matches!(key.as_str(), "ts" | "kind"))
        .map(|(key, value)| format!("{}={}", words(key, 60), detail_value(value)))
        .collect();
    format!(
        "- `{}` **{}** {}\n",
        code(text(entry, "ts"), 40),
        words(text(entry, "kind"), 40),
        detail.join(" ")
    )
}

fn timeline_list(timeline: &[Value]) -> String {
    let items: String = timeline
        .iter()
        .filter(|entry| text(entry, "kind") != "counters")
        .map(timeline_item)
        .collect();
    format!("\n## Timeline\n\n{items}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::{CheckOutcome, CheckStatus};
    use serde_json::json;

    fn verdict(title: &'static str, observed: &str) -> Verdict {
        Verdict {
            scenario: "es_down_connect".into(),
            checks: vec![CheckOutcome {
                id: "retry_delta",
                title,
                status: CheckStatus::Passed,
                observed: observed.into(),
                before: Some(0.0),
                after: Some(1.0),
                delta: Some(1.0),
            }],
            ok: true,
            findings: vec![],
        }
    }

    /// The table's rows, each split on its unescaped `|` into cells.
    fn cells_of_rows(report: &str, header: &str) -> Vec<Vec<String>> {
        let table = report.split(header).nth(1).unwrap_or("");
        table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|row| {
                let mut cells = vec![String::new()];
                let mut chars = row.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if chars.peek() == Some(&'|') => {
                            cells.last_mut().unwrap().push('|');
                            chars.next();
                        }
                        '|' => cells.push(String::new()),
                        c => cells.last_mut().unwrap().push(c),
                    }
                }
                cells
                    .into_iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_pipe_in_a_checks_title_or_observation_keeps_the_table_three_columns() {
        let report = render(
            "r1",
            &verdict(
                "retry_scheduled{es_connect|es_unreachable} Δ≥1",
                "Δ=1 (0 → 1)\nreason=a|b",
            ),
            &Observations::default(),
            "http://localhost:16686",
            &[],
        );
        let rows = cells_of_rows(&report, "| check | status | observed |");
        assert_eq!(
            rows,
            vec![vec![
                "retry_scheduled{es_connect|es_unreachable} Δ≥1".to_string(),
                "passed".to_string(),
                "Δ=1 (0 → 1) reason=a|b".to_string(),
            ]],
            "{report}"
        );
    }

    #[test]
    fn a_killed_workers_entry_reads_in_words_and_a_note_stays_one_item() {
        let timeline = vec![
            json!({"ts": "2026-01-01T00:00:00Z", "kind": "worker", "action": "kill -9", "worker": 1, "state": "killed by signal 9"}),
            json!({"ts": "2026-01-01T00:00:01Z", "kind": "marker", "note": "ES back\n## not a heading"}),
            json!({"ts": "2026-01-01T00:00:02Z", "kind": "insert", "together": 2, "of_the_drill": true}),
        ];
        let report = render(
            "r1",
            &verdict("t", "o"),
            &Observations::default(),
            "http://localhost:16686",
            &timeline,
        );
        assert!(
            report.contains(
                "- `2026-01-01T00:00:00Z` **worker** action=kill -9 state=killed by signal 9 worker=1\n"
            ),
            "{report}"
        );
        assert!(
            report.contains("**marker** note=ES back ## not a heading\n"),
            "{report}"
        );
        assert!(report.contains("of_the_drill=true together=2"), "{report}");
        for debug in ["Exited {", "Some(", "None"] {
            assert!(!report.contains(debug), "{debug}: {report}");
        }
    }

    #[test]
    fn a_log_lines_trace_id_links_only_when_it_is_hex() {
        let obs = Observations {
            log: Some(vec![
                json!({"ts": "t1", "level": "ERROR", "message": "boom", "trace_id": "abc123", "reason": "es_connect"}).to_string(),
                json!({"ts": "t2", "level": "ERROR", "message": "evil", "trace_id": "x)](javascript:alert(1)"}).to_string(),
            ]),
            ..Observations::default()
        };
        let report = render("r1", &verdict("t", "o"), &obs, "http://j:16686", &[]);
        assert!(
            report.contains(
                "- `t1` ERROR boom (reason=es_connect) — [trace abc123](http://j:16686/trace/abc123)\n"
            ),
            "{report}"
        );
        assert!(report.contains("- `t2` ERROR evil\n"), "{report}");
        assert!(!report.contains("javascript"), "{report}");
    }
}
