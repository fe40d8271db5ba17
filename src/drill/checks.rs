//! The acceptance checks of `es_down_connect` (runbook §3, CONTRACT.md §6).

use serde::Serialize;
use serde_json::{Value, json};

use super::ES_DOWN_REASONS;
use super::observations::Observations;
use crate::prom::{Samples, delta};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    /// Live drill: the evidence has not arrived yet.
    Pending,
    /// Offline, another tool's run: the directory holds no evidence for this check.
    NotRecorded,
}

impl CheckStatus {
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "FAILED",
            CheckStatus::Pending => "pending",
            CheckStatus::NotRecorded => "not recorded",
        }
    }
}

/// What a check with no evidence becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The live checklist: wait for it.
    Pending,
    /// A directory written by another tool: it does not decide the verdict.
    NotRecorded,
    /// A run of our own must carry every piece of evidence.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckOutcome {
    pub id: &'static str,
    pub title: &'static str,
    pub status: CheckStatus,
    /// What was seen, in words (or why nothing was).
    pub observed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub scenario: String,
    pub checks: Vec<CheckOutcome>,
    pub ok: bool,
}

fn outcome(id: &'static str, title: &'static str, passed: bool, observed: String) -> CheckOutcome {
    CheckOutcome {
        id,
        title,
        status: if passed {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        },
        observed,
        before: None,
        after: None,
        delta: None,
    }
}

fn missing(id: &'static str, title: &'static str, mode: Missing, what: &str) -> CheckOutcome {
    let status = match mode {
        Missing::Pending => CheckStatus::Pending,
        Missing::NotRecorded => CheckStatus::NotRecorded,
        Missing::Failed => CheckStatus::Failed,
    };
    CheckOutcome {
        id,
        title,
        status,
        observed: format!("no evidence: {what}"),
        before: None,
        after: None,
        delta: None,
    }
}

/// A metric delta over the es-down reasons.
fn delta_check(
    id: &'static str,
    title: &'static str,
    metric: &str,
    obs: &Observations,
    mode: Missing,
    pass: impl Fn(f64) -> bool,
    rule: &str,
) -> CheckOutcome {
    let (Some(before), Some(after)) = (&obs.metrics_before, &obs.metrics_after) else {
        return missing(id, title, mode, "metrics before and after");
    };
    let value = |samples: &Samples| samples.sum(metric, &[("reason", ES_DOWN_REASONS)]);
    let (b, a) = (value(before), value(after));
    let d = delta(b, a);
    let mut check = outcome(
        id,
        title,
        pass(d),
        format!("Δ={d} ({b} → {a}); expected {rule}"),
    );
    // Live, a delta of 0 may still grow: that is pending, not failed, until the drill ends.
    if mode == Missing::Pending && check.status == CheckStatus::Failed && rule.contains('≥') {
        check.status = CheckStatus::Pending;
    }
    check.before = Some(b);
    check.after = Some(a);
    check.delta = Some(d);
    check
}

/// Grades `es_down_connect`.
pub fn grade(obs: &Observations, mode: Missing) -> Verdict {
    let mut checks = Vec::new();

    checks.push(match &obs.log {
        Some(lines) => {
            let marker = lines
                .iter()
                .find(|l| l.contains("Observability schema: labs-009-v2"));
            match (marker, mode) {
                (Some(line), _) => {
                    // A JSON line shows its message; a plain one as it is.
                    let message = serde_json::from_str::<Value>(line)
                        .ok()
                        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                        .unwrap_or_else(|| line.clone());
                    outcome(
                        "schema_marker",
                        "schema marker in the log",
                        true,
                        crate::sanitize::one_line(&message, 100),
                    )
                }
                // Another tool's worker may run at a level that hides it (upstream's LOG_LEVEL=WARNING).
                (None, Missing::NotRecorded) => missing(
                    "schema_marker",
                    "schema marker in the log",
                    mode,
                    "the log has no marker line (worker log level hides it)",
                ),
                (None, Missing::Pending) => missing(
                    "schema_marker",
                    "schema marker in the log",
                    mode,
                    "marker line not seen yet",
                ),
                (None, Missing::Failed) => outcome(
                    "schema_marker",
                    "schema marker in the log",
                    false,
                    format!(
                        "no `Observability schema: labs-009-v2` line in {} log lines",
                        lines.len()
                    ),
                ),
            }
        }
        None => missing(
            "schema_marker",
            "schema marker in the log",
            mode,
            "worker log",
        ),
    });

    checks.push(delta_check(
        "retry_delta",
        "retry_scheduled{es_connect|es_unreachable} Δ≥1",
        "outbox_retry_scheduled_total",
        obs,
        mode,
        |d| d >= 1.0,
        "≥1",
    ));
    checks.push(delta_check(
        "failed_delta",
        "failed{es_connect|es_unreachable} Δ≥1",
        "outbox_failed_total",
        obs,
        mode,
        |d| d >= 1.0,
        "≥1",
    ));
    checks.push(delta_check(
        "terminal_delta",
        "terminal_failed{es_connect|es_unreachable} Δ=0",
        "outbox_terminal_failed_total",
        obs,
        mode,
        |d| d <= 0.0,
        "=0",
    ));

    let event_id = obs.event_id.clone();
    checks.push(match (&event_id, &obs.traces_by_event) {
        (Some(id), Some(traces)) => {
            let hits = traces
                .iter()
                .filter(|t| {
                    t.spans.iter().any(|s| {
                        s.operation == "outbox.process"
                            && s.tags.get("wordloom.outbox_event_id") == Some(id)
                    })
                })
                .count();
            let mut check = outcome(
                "trace_by_event",
                "outbox.process found by outbox_event_id",
                hits > 0,
                format!("{hits} trace(s) for event {id}"),
            );
            if hits == 0 && mode == Missing::Pending {
                check.status = CheckStatus::Pending;
            }
            check
        }
        (None, _) => missing(
            "trace_by_event",
            "outbox.process found by outbox_event_id",
            mode,
            "event id",
        ),
        (_, None) => missing(
            "trace_by_event",
            "outbox.process found by outbox_event_id",
            mode,
            "Jaeger export by event id",
        ),
    });

    let batch_id = obs.claim_batch_id();
    checks.push(match (&batch_id, &obs.traces_by_batch) {
        (Some(id), Some(traces)) => {
            let batch_spans: Vec<_> = traces
                .iter()
                .flat_map(|t| t.spans.iter())
                .filter(|s| {
                    s.operation == "projection.process_batch"
                        && s.tags.get("wordloom.claim_batch_id") == Some(id)
                })
                .collect();
            let result = batch_spans
                .first()
                .and_then(|s| s.tags.get("result"))
                .cloned()
                .unwrap_or_default();
            let mut check = outcome(
                "trace_by_batch",
                "projection.process_batch found by claim_batch_id",
                !batch_spans.is_empty(),
                format!(
                    "{} span(s) for batch {id}; result={result}",
                    batch_spans.len()
                ),
            );
            if batch_spans.is_empty() && mode == Missing::Pending {
                check.status = CheckStatus::Pending;
            }
            check
        }
        (None, _) => missing(
            "trace_by_batch",
            "projection.process_batch found by claim_batch_id",
            mode,
            "claim batch id (from the event's span or the log)",
        ),
        (_, None) => missing(
            "trace_by_batch",
            "projection.process_batch found by claim_batch_id",
            mode,
            "Jaeger export by claim batch id",
        ),
    });

    checks.push(match (&obs.log, &obs.traces_by_event) {
        (Some(_), Some(traces)) => {
            let exported: Vec<&str> = traces.iter().map(|t| t.trace_id.as_str()).collect();
            let error_ids: Vec<String> = obs
                .log_json()
                .filter(|line| line.get("level").and_then(Value::as_str) == Some("ERROR"))
                .filter_map(|line| {
                    line.get("trace_id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            let linked = error_ids.iter().find(|id| exported.contains(&id.as_str()));
            let mut check = match linked {
                Some(id) => outcome(
                    "log_trace_link",
                    "an error log line's trace_id is in the exported traces",
                    true,
                    format!("trace {id}"),
                ),
                None => outcome(
                    "log_trace_link",
                    "an error log line's trace_id is in the exported traces",
                    false,
                    format!(
                        "{} error line(s) with trace ids, none among {} exported trace(s)",
                        error_ids.len(),
                        exported.len()
                    ),
                ),
            };
            if linked.is_none() && mode == Missing::Pending {
                check.status = CheckStatus::Pending;
            }
            check
        }
        _ => missing(
            "log_trace_link",
            "an error log line's trace_id is in the exported traces",
            mode,
            "log and Jaeger export",
        ),
    });

    checks.push(match &obs.status_after_recovery {
        Some(status) => {
            let mut check = outcome(
                "recovered",
                "after `start es` the event reaches done",
                status == "done",
                format!("status {status}"),
            );
            if status != "done" && mode == Missing::Pending {
                check.status = CheckStatus::Pending;
            }
            check
        }
        None => missing(
            "recovered",
            "after `start es` the event reaches done",
            mode,
            "outbox state after ES was started again",
        ),
    });

    let decided: Vec<&CheckOutcome> = checks
        .iter()
        .filter(|c| c.status != CheckStatus::NotRecorded)
        .collect();
    let metrics_decided = checks
        .iter()
        .any(|c| c.id == "retry_delta" && c.status == CheckStatus::Passed);
    let ok = metrics_decided && decided.iter().all(|c| c.status == CheckStatus::Passed);
    Verdict {
        scenario: "es_down_connect".into(),
        checks,
        ok,
    }
}

impl Verdict {
    /// `_result.json`: upstream's keys (`checks`, `observed`, `ok`) so its tooling reads
    /// ours, plus the per-check table.
    pub fn result_json(&self, run_dir: &str) -> Value {
        let observed_key = |metric: &str| format!("{metric}_reason_es_connect_or_unreachable");
        let mut observed = serde_json::Map::new();
        for (id, metric) in [
            ("retry_delta", "outbox_retry_scheduled_total"),
            ("failed_delta", "outbox_failed_total"),
            ("terminal_delta", "outbox_terminal_failed_total"),
        ] {
            if let Some(check) = self.checks.iter().find(|c| c.id == id)
                && let (Some(before), Some(after), Some(delta)) =
                    (check.before, check.after, check.delta)
            {
                observed.insert(
                    observed_key(metric),
                    json!({"before": before, "after": after, "delta": delta}),
                );
            }
        }
        json!({
            "scenario": self.scenario,
            "run_dir": run_dir,
            "tool": "drill-cockpit",
            "checks": {"reasons": ES_DOWN_REASONS, "retry_delta_ge": 1.0, "failed_delta_ge": 1.0, "terminal_delta_le": 0.0},
            "observed": observed,
            "verdict": self.checks,
            "ok": self.ok
        })
    }

    /// A fixed-width table for the terminal and the report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self
            .checks
            .iter()
            .map(|c| c.title.chars().count())
            .max()
            .unwrap_or(10);
        for check in &self.checks {
            out.push_str(&format!(
                "{:<13} {:<width$}  {}\n",
                check.status.label(),
                check.title,
                check.observed
            ));
        }
        out.push_str(&format!(
            "verdict: {}\n",
            if self.ok { "PASSED" } else { "FAILED" }
        ));
        out
    }
}
