//! `report.md`: the verdict table, the key log lines with their trace ids, and the
//! Jaeger links — what a reviewer reads first.

use serde_json::Value;

use crate::drill::{Observations, Verdict};

pub fn render(
    run_id: &str,
    verdict: &Verdict,
    obs: &Observations,
    jaeger_base: &str,
    timeline: &[Value],
) -> String {
    let mut out = format!(
        "# Drill `{}` — run `{run_id}`: **{}**\n\n",
        verdict.scenario,
        if verdict.ok { "PASSED" } else { "FAILED" }
    );
    let clean = |text: &str| crate::sanitize::one_line(text, 200).replace('`', "'");
    if let Some(event) = &obs.event_id {
        out.push_str(&format!("Event under drill: `{}`", clean(event)));
        if let Some(batch) = obs.claim_batch_id() {
            out.push_str(&format!(", claim batch `{}`", clean(&batch)));
        }
        out.push_str("\n\n");
    }
    out.push_str("## Checks\n\n| check | status | observed |\n|---|---|---|\n");
    for check in &verdict.checks {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            check.title.replace('|', "\\|"),
            check.status.label(),
            crate::sanitize::one_line(&check.observed, 600).replace('|', "\\|")
        ));
    }
    if !verdict.findings.is_empty() {
        out.push_str("\n## Findings\n\n");
        for finding in &verdict.findings {
            out.push_str(&format!("- {}\n", crate::sanitize::one_line(finding, 800)));
        }
    }

    let failed: Vec<&Value> = timeline
        .iter()
        .filter(|e| e.get("kind").and_then(Value::as_str) == Some("action_failed"))
        .collect();
    if !failed.is_empty() {
        out.push_str("\n## Failed actions\n\n");
        for entry in failed {
            let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!(
                "- `{}` **{}** failed: {}\n",
                text("ts"),
                crate::sanitize::one_line(text("action"), 80),
                crate::sanitize::one_line(text("error"), 400)
            ));
        }
    }

    out.push_str("\n## Key log lines\n\n");
    let key_lines: Vec<Value> = obs
        .log_json()
        .filter(|line| {
            matches!(
                line.get("level").and_then(Value::as_str),
                Some("ERROR" | "WARNING")
            ) || line.get("event").is_some_and(|e| e == "tracing.config")
        })
        .take(20)
        .collect();
    if key_lines.is_empty() {
        out.push_str("(none)\n");
    }
    for line in key_lines {
        let text = |key: &str| {
            line.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let trace = text("trace_id");
        let link = if trace.is_empty() {
            String::new()
        } else {
            format!(
                " — [trace {trace}]({})",
                crate::jaeger::trace_link(jaeger_base, &trace)
            )
        };
        out.push_str(&format!(
            "- `{}` {} {}{}{}\n",
            text("ts"),
            text("level"),
            crate::sanitize::one_line(&text("message"), 160),
            line.get("reason")
                .and_then(Value::as_str)
                .map(|r| format!(" (reason={r})"))
                .unwrap_or_default(),
            link
        ));
    }

    out.push_str(
        "\n## Traces\n\n| trace | operation | result / reason | Jaeger |\n|---|---|---|---|\n",
    );
    let traces = obs
        .traces_by_event
        .iter()
        .flatten()
        .chain(obs.traces_by_batch.iter().flatten());
    let mut seen = std::collections::BTreeSet::new();
    for trace in traces {
        if !seen.insert(trace.trace_id.clone()) {
            continue;
        }
        let batch = trace.span("projection.process_batch");
        let result = batch
            .map(|s| {
                format!(
                    "{} / {}",
                    s.tags.get("result").map(String::as_str).unwrap_or("?"),
                    s.tags.get("reason").map(String::as_str).unwrap_or("?")
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {result} | {} |\n",
            clean(&trace.trace_id),
            trace
                .spans
                .iter()
                .map(|s| s.operation.as_str())
                .filter(|o| o.contains('.'))
                .collect::<Vec<_>>()
                .join(", "),
            crate::jaeger::trace_link(jaeger_base, &trace.trace_id)
        ));
    }

    let story = crate::evidence::moments::moments(timeline);
    if !story.is_empty() {
        out.push_str("\n## The drill's story\n\n");
        for moment in &story {
            out.push_str(&format!(
                "- +{:.1} s {} {}\n",
                moment.at,
                moment.kind.glyph(),
                moment.label
            ));
        }
    }

    out.push_str("\n## Timeline\n\n");
    for entry in timeline
        .iter()
        .filter(|e| e.get("kind").and_then(Value::as_str) != Some("counters"))
    {
        let mut fields = entry.as_object().cloned().unwrap_or_default();
        let ts = fields
            .remove("ts")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let kind = fields
            .remove("kind")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let detail: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect();
        out.push_str(&format!("- `{ts}` **{kind}** {}\n", detail.join(" ")));
    }
    out.push_str("\n![timeline](timeline.svg)\n");
    // Everything above came from evidence at some point: no escape or bidi code survives.
    crate::sanitize::strip_controls_per_line(&out)
}
