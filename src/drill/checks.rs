//! The acceptance checks of `es_down_connect` (runbook §3, CONTRACT.md §6).

use serde::Serialize;
use serde_json::{Value, json};

use super::observations::Observations;
use super::scenario::{Check, Counter, Ends, LogLine, Scenario, Series};
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
    /// What the evidence shows beyond the checks, in sentences a worker's author can act
    /// on: how an invariant held, a worker's reporting that does not match what happened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

pub(crate) fn outcome(
    id: &'static str,
    title: &'static str,
    passed: bool,
    observed: String,
) -> CheckOutcome {
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

/// A metric delta over the scenario's reasons.
#[allow(clippy::too_many_arguments)]
fn delta_check(
    id: &'static str,
    title: &'static str,
    metric: &str,
    filter: crate::prom::LabelFilter<'_>,
    obs: &Observations,
    mode: Missing,
    pass: impl Fn(f64) -> bool,
    rule: &str,
) -> CheckOutcome {
    let (Some(before), Some(after)) = (&obs.metrics_before, &obs.metrics_after) else {
        return missing(id, title, mode, "metrics before and after");
    };
    // A page with no outbox series at all (another exporter, an HTML page that parsed
    // as nothing) shows nothing about the drill: not a Δ of 0, no evidence.
    for (which, samples) in [("before", before), ("after", after)] {
        if !samples.has_prefix("outbox_") {
            return missing(
                id,
                title,
                mode,
                &format!(
                    "the {which} scrape has no outbox_* series (is it the worker's /metrics?)"
                ),
            );
        }
    }
    let value = |samples: &Samples| samples.sum(metric, filter);
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

/// A span counts for the drill when it carries no schema tag or the contract's one.
fn of_our_schema(span: &crate::jaeger::SpanSummary) -> bool {
    span.tags
        .get("wordloom.obs_schema")
        .is_none_or(|schema| schema == super::OBS_SCHEMA)
}

/// A trace or span id as comparable text: lower-case hex without leading zeros (Jaeger
/// drops them from 128-bit ids whose upper half is zero; logs keep all 32 digits).
fn hex_id(id: &str) -> String {
    let trimmed = id.trim().trim_start_matches('0').to_ascii_lowercase();
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed
    }
}

/// D's end: exactly one of the drill's rows `failed` with `reason`, every other `done`.
fn one_poisoned(obs: &Observations, reason: &str) -> (bool, String) {
    let rows = obs.drill_rows.as_deref().unwrap_or(&[]);
    let poisoned = rows
        .iter()
        .filter(|r| r.status == "failed" && r.reason.as_deref() == Some(reason))
        .count();
    let done = rows.iter().filter(|r| r.status == "done").count();
    let seen: Vec<String> = rows
        .iter()
        .map(|r| match &r.reason {
            Some(why) if r.status != "done" => format!("{} {why}", r.status),
            _ => r.status.clone(),
        })
        .collect();
    (
        rows.len() >= 2 && poisoned == 1 && done == rows.len() - 1,
        format!("{} row(s): {}", rows.len(), seen.join(", ")),
    )
}

/// E's invariant, from the database: every row of the drill ends `done` (finalized,
/// and by the fenced finalize only once: a late finalize of a lost lease matches no row).
fn finalized_once(obs: &Observations, mode: Missing) -> CheckOutcome {
    const TITLE: &str = "every row of the drill ends done, finalized once";
    let Some(rows) = &obs.drill_rows else {
        return missing("finalized_once", TITLE, mode, "the drill's rows");
    };
    let done = rows.iter().filter(|r| r.status == "done").count();
    let mut check = outcome(
        "finalized_once",
        TITLE,
        done == rows.len(),
        format!("{done} of {} row(s) done", rows.len()),
    );
    if mode == Missing::Pending && check.status == CheckStatus::Failed {
        check.status = CheckStatus::Pending;
    }
    check
}

/// E's reporting, when the row ended right but the worker did not say it lost a lease:
/// the defect in words its author can act on (and the over-count that goes with it).
fn lost_lease_reporting(obs: &Observations, checks: &[CheckOutcome]) -> Option<String> {
    let mismatch = checks.iter().find(|c| c.id == "owner_mismatch_delta")?;
    let invariant = checks.iter().find(|c| c.id == "finalized_once")?;
    if mismatch.status != CheckStatus::Failed || invariant.status != CheckStatus::Passed {
        return None;
    }
    let (before, after, rows) = (
        obs.metrics_before.as_ref()?,
        obs.metrics_after.as_ref()?,
        obs.drill_rows.as_ref()?,
    );
    let processed = delta(
        before.sum("outbox_processed_total", &[]),
        after.sum("outbox_processed_total", &[]),
    );
    let over_count = if processed > rows.len() as f64 {
        format!(
            " It also over-counted: outbox_processed_total Δ{processed} for {} event(s) — a finalize that matched no row was counted as processed.",
            rows.len()
        )
    } else {
        String::new()
    };
    Some(format!(
        "The invariant held: {}. The worker did not report the lost lease: outbox_owner_mismatch_skips_total Δ{} (the contract counts every finalize that finds its lease gone).{over_count}",
        invariant.observed,
        mismatch.delta.unwrap_or(0.0)
    ))
}

/// H's trigger: the drill's chain was delivered, the stale replay last, and it ended
/// done (a control run, without the replay, fails here).
fn replay_done(scenario: &Scenario, obs: &Observations, mode: Missing) -> CheckOutcome {
    const TITLE: &str = "the stale replay was delivered after the newer version and ends done";
    let Some(rows) = &obs.drill_rows else {
        return missing("replay_done", TITLE, mode, "the drill's rows");
    };
    let wanted = scenario.versions.len();
    let versions: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "v{} {}",
                r.version.map_or("?".into(), |v| v.to_string()),
                r.status
            )
        })
        .collect();
    let last_is_stale = rows.len() >= 2
        && matches!((rows[rows.len() - 2].version, rows[rows.len() - 1].version), (Some(newer), Some(stale)) if stale < newer);
    let passed =
        rows.len() >= wanted && last_is_stale && rows.last().is_some_and(|r| r.status == "done");
    let mut check = outcome(
        "replay_done",
        TITLE,
        passed,
        format!(
            "{} of {wanted} event(s) of the chain: {}",
            rows.len(),
            versions.join(", ")
        ),
    );
    if !passed && mode == Missing::Pending {
        check.status = CheckStatus::Pending;
    }
    check
}

/// How a replay drill's document kept the newer version: by ES refusing the stale write
/// (external versions: 409, counted as a no-op), or by a worker that wrote the current
/// row again.
fn how_the_document_held(obs: &Observations) -> Option<String> {
    let (before, after) = (obs.metrics_before.as_ref()?, obs.metrics_after.as_ref()?);
    obs.document_version?;
    let noop_409 = delta(
        before.sum("outbox_idempotent_noop_total", &[("reason", &["es_409"])]),
        after.sum("outbox_idempotent_noop_total", &[("reason", &["es_409"])]),
    );
    Some(if noop_409 >= 1.0 {
        format!(
            "How the document held: ES refused the stale write (external versions: 409, idempotent_noop{{es_409}} Δ{noop_409})."
        )
    } else {
        "How the document held: no 409 (idempotent_noop{es_409} Δ0) — the worker wrote the entity's current row again, so the replay could not bring the older content back.".to_string()
    })
}

/// collector_down's fault had its effect: the collector's gate turned the worker's
/// export away at least once (tracing on, and the worker did try).
fn collector_refused(obs: &Observations, mode: Missing) -> CheckOutcome {
    const TITLE: &str = "the collector's gate turned the worker's span export away";
    match obs.collector_refusals {
        Some(refused) => {
            let mut check = outcome(
                "collector_refused",
                TITLE,
                refused >= 1,
                if refused >= 1 {
                    format!("{refused} connection(s) to the collector turned away")
                } else {
                    "no export attempt reached the collector's gate: is tracing on (tracing.enabled, WORDLOOM_TRACING_ENABLED=1)?".into()
                },
            );
            if refused == 0 && mode == Missing::Pending {
                check.status = CheckStatus::Pending;
            }
            check
        }
        None => missing(
            "collector_refused",
            TITLE,
            mode,
            "the collector gate's record",
        ),
    }
}

/// collector_down: Jaeger holds no span of the event — the collector really was down
/// (a run whose spans got through did not drill anything).
fn no_traces(obs: &Observations, mode: Missing) -> CheckOutcome {
    const TITLE: &str = "no span of the event reached Jaeger (the collector was down)";
    match (&obs.event_id, &obs.traces_by_event) {
        (Some(id), Some(traces)) => {
            let hits = traces
                .iter()
                .filter(|t| {
                    t.spans
                        .iter()
                        .any(|s| s.tags.get("wordloom.outbox_event_id") == Some(id))
                })
                .count();
            outcome(
                "no_traces",
                TITLE,
                hits == 0,
                format!("{hits} trace(s) for event {id} in Jaeger"),
            )
        }
        (None, _) => missing("no_traces", TITLE, mode, "event id"),
        (_, None) => missing("no_traces", TITLE, mode, "Jaeger search by event id"),
    }
}

/// A line some worker logged, matched by `line.pattern` (first group: a count ≥ 1).
fn log_line(line: &LogLine, obs: &Observations, mode: Missing) -> CheckOutcome {
    let (lines, whose) = if line.worker2 {
        (&obs.worker2_log, "worker 2's log")
    } else {
        (&obs.log, "the workers' logs")
    };
    let Some(lines) = lines else {
        return missing(line.id, line.title, mode, whose);
    };
    // The patterns are checked when their drill file loads: they always compile.
    let Some(re) = crate::drill::patterns::compiled(line.pattern) else {
        return outcome(
            line.id,
            line.title,
            false,
            "the pattern does not compile".into(),
        );
    };
    // is_match first: it rejects a line far faster than captures, and few lines match.
    let found = lines.iter().filter(|l| re.is_match(l)).find_map(|l| {
        let count: u64 = re.captures(l)?.get(1)?.as_str().parse().ok()?;
        (count >= 1).then_some(count)
    });
    let mut check = outcome(
        line.id,
        line.title,
        found.is_some(),
        match found {
            Some(count) => format!("count {count}"),
            None => format!("no matching line in {} line(s) of {whose}", lines.len()),
        },
    );
    if found.is_none() && mode == Missing::Pending {
        check.status = CheckStatus::Pending;
    }
    check
}

/// The contract's schema marker line in the worker's log.
fn schema_marker(obs: &Observations, mode: Missing) -> CheckOutcome {
    match &obs.log {
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
    }
}

/// A counter's Δ over the series it names, held against its bound.
fn counter_check(
    scenario: &Scenario,
    counter: &Counter,
    obs: &Observations,
    mode: Missing,
) -> CheckOutcome {
    let (bound, at_least) = (counter.bound, counter.at_least);
    let rule = if at_least {
        format!("≥{bound}")
    } else if bound == 0.0 {
        "=0".to_string()
    } else {
        format!("≤{bound}")
    };
    let by_reason;
    let filter: crate::prom::LabelFilter<'_> = match counter.series {
        Series::ScenarioReasons => {
            by_reason = [("reason", scenario.reasons)];
            &by_reason
        }
        Series::Reasons(reasons) => {
            by_reason = [("reason", reasons)];
            &by_reason
        }
        Series::All => &[],
        Series::Labels(labels) => labels,
    };
    delta_check(
        counter.id,
        counter.title,
        counter.metric,
        filter,
        obs,
        mode,
        |d| if at_least { d >= bound } else { d <= bound },
        &rule,
    )
}

/// The event's own `outbox.process` span, found by its id (the event pivot).
fn trace_by_event(obs: &Observations, mode: Missing) -> CheckOutcome {
    let event_id = obs.event_id.clone();
    match (&event_id, &obs.traces_by_event) {
        (Some(id), Some(traces)) => {
            let hits = traces
                .iter()
                .filter(|t| {
                    t.spans.iter().any(|s| {
                        s.operation == "outbox.process"
                            && s.tags.get("wordloom.outbox_event_id") == Some(id)
                            && of_our_schema(s)
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
    }
}

/// The claim batch's span, found by its id (the batch pivot); a result other than the
/// contract's is a finding where the drill does not require it.
fn trace_by_batch(
    scenario: &Scenario,
    obs: &Observations,
    mode: Missing,
    findings: &mut Vec<String>,
) -> CheckOutcome {
    let batch_id = obs.claim_batch_id();
    match (&batch_id, &obs.traces_by_batch) {
        (Some(id), Some(traces)) => {
            let batch_spans: Vec<_> = traces
                .iter()
                .flat_map(|t| t.spans.iter())
                .filter(|s| {
                    s.operation == "projection.process_batch"
                        && s.tags.get("wordloom.claim_batch_id") == Some(id)
                        && of_our_schema(s)
                })
                .collect();
            // The contract: the batch of a drill's failed attempt says result=retry
            // (result=failed for a deterministic failure).
            let retried = batch_spans
                .iter()
                .any(|s| s.tags.get("result").map(String::as_str) == Some(scenario.batch_result));
            let results: Vec<&str> = batch_spans
                .iter()
                .map(|s| s.tags.get("result").map(String::as_str).unwrap_or("-"))
                .collect();
            // A worker may say another result than the contract's (a finding, not a
            // failure) where the drill does not require it: the batch span decides.
            let found = if scenario.batch_result_required {
                retried
            } else {
                !batch_spans.is_empty()
            };
            let mut check = outcome(
                "trace_by_batch",
                match scenario.batch_result {
                    _ if !scenario.batch_result_required => {
                        "projection.process_batch found by claim_batch_id"
                    }
                    "retry" => "projection.process_batch with result=retry found by claim_batch_id",
                    "failed" => {
                        "projection.process_batch with result=failed found by claim_batch_id"
                    }
                    "partial" => {
                        "projection.process_batch with result=partial found by claim_batch_id"
                    }
                    _ => "projection.process_batch with result=ok found by claim_batch_id",
                },
                found,
                format!(
                    "{} span(s) for batch {id}; result={}",
                    batch_spans.len(),
                    results.join(",")
                ),
            );
            if found && !retried {
                findings.push(format!(
                "The batch span of claim batch {id} says result={} on a batch whose result was {} (the contract's value); the verdict does not depend on it, but a trace reader is misled. Upstream's worker sets these attributes after the span ended.",
                results.join(","),
                scenario.batch_result
            ));
            }
            if !found && mode == Missing::Pending {
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
    }
}

/// An error log line's trace and span ids name an exported span (log ↔ trace).
fn log_trace_link(obs: &Observations, mode: Missing) -> CheckOutcome {
    match (&obs.log, &obs.traces_by_event) {
        (Some(_), Some(traces)) => {
            // A link is the line's trace id *and* span id naming one exported span.
            let exported: Vec<(String, String)> = traces
                .iter()
                .flat_map(|t| {
                    t.spans
                        .iter()
                        .map(|s| (hex_id(&t.trace_id), hex_id(&s.span_id)))
                })
                .collect();
            let error_ids: Vec<(String, String)> = obs
                .log_json()
                .filter(|line| line.get("level").and_then(Value::as_str) == Some("ERROR"))
                .filter_map(|line| {
                    let text = |key: &str| line.get(key).and_then(Value::as_str).map(hex_id);
                    Some((text("trace_id")?, text("span_id")?))
                })
                .collect();
            let linked = error_ids.iter().find(|ids| exported.contains(ids));
            let mut check = match linked {
                Some((trace, span)) => outcome(
                    "log_trace_link",
                    "an error log line's trace_id is in the exported traces",
                    true,
                    format!("trace {trace} span {span}"),
                ),
                None => outcome(
                    "log_trace_link",
                    "an error log line's trace_id is in the exported traces",
                    false,
                    format!(
                        "{} error line(s) with trace and span ids, none among the {} span(s) of {} exported trace(s)",
                        error_ids.len(),
                        exported.len(),
                        traces.len()
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
    }
}

/// How the drilled event (or the drill's rows) ended.
fn end_state(scenario: &Scenario, obs: &Observations, mode: Missing) -> CheckOutcome {
    match &obs.status_after_recovery {
        Some(status) => {
            let (ended, seen) = match scenario.ends {
                Ends::Done => (status == "done", format!("status {status}")),
                Ends::Failed { reason } => {
                    let got = obs.event_reason.as_deref().unwrap_or("-");
                    (
                        status == "failed" && got == reason,
                        format!("status {status}, reason {got}"),
                    )
                }
                Ends::OnePoisoned { reason } => one_poisoned(obs, reason),
            };
            let mut check = outcome("recovered", scenario.end_title, ended, seen);
            if !ended && mode == Missing::Pending {
                check.status = CheckStatus::Pending;
            }
            check
        }
        None => missing(
            "recovered",
            scenario.end_title,
            mode,
            if scenario.recovers() {
                "outbox state after the fault was taken out"
            } else {
                "outbox state of the event"
            },
        ),
    }
}

/// A replay never regresses the document: it ends at the newer version.
fn document_kept(expected: i64, obs: &Observations, mode: Missing) -> CheckOutcome {
    match obs.document_version {
        Some(version) => {
            let mut check = outcome(
                "document_version",
                "the ES document keeps the newer version",
                version == expected,
                format!("the document holds version {version}; expected {expected}"),
            );
            if version < expected && mode == Missing::Pending {
                check.status = CheckStatus::Pending;
            }
            check
        }
        None => missing(
            "document_version",
            "the ES document keeps the newer version",
            mode,
            "the entity's ES document",
        ),
    }
}

/// Grades a drill of `scenario` (CONTRACT.md §6, our checks): each check the scenario
/// lists, by its own reader of the evidence; then the findings that compare checks.
pub fn grade(scenario: &Scenario, obs: &Observations, mode: Missing) -> Verdict {
    let mut findings = Vec::new();
    let mut checks: Vec<CheckOutcome> = Vec::new();
    for check in scenario.checks {
        match check {
            Check::SchemaMarker => checks.push(schema_marker(obs, mode)),
            Check::Counters => checks.extend(
                scenario
                    .counters
                    .iter()
                    .map(|counter| counter_check(scenario, counter, obs, mode)),
            ),
            Check::FinalizedOnce => checks.push(finalized_once(obs, mode)),
            Check::LogLine(line) => checks.push(log_line(line, obs, mode)),
            Check::TraceByEvent => checks.push(trace_by_event(obs, mode)),
            Check::TraceByBatch => checks.push(trace_by_batch(scenario, obs, mode, &mut findings)),
            Check::LogTraceLink => checks.push(log_trace_link(obs, mode)),
            Check::EndState => checks.push(end_state(scenario, obs, mode)),
            Check::ReplayDone => {
                checks.push(replay_done(scenario, obs, mode));
                findings.extend(how_the_document_held(obs));
            }
            Check::DocumentKept => {
                if let Some(expected) = scenario.document_version {
                    checks.push(document_kept(expected, obs, mode));
                }
            }
            Check::CollectorRefused => checks.push(collector_refused(obs, mode)),
            Check::NoTraces => checks.push(no_traces(obs, mode)),
        }
    }
    if let Some(defect) = lost_lease_reporting(obs, &checks) {
        if let Some(check) = checks.iter_mut().find(|c| c.id == "owner_mismatch_delta") {
            check.observed = format!("{} — {defect}", check.observed);
        }
        findings.push(defect);
    }

    let decided: Vec<&CheckOutcome> = checks
        .iter()
        .filter(|c| c.status != CheckStatus::NotRecorded)
        .collect();
    // The fault had its effect: the scenario's effect check passed.
    let effect_seen = checks
        .iter()
        .any(|c| c.id == scenario.effect && c.status == CheckStatus::Passed);
    let ok = effect_seen && decided.iter().all(|c| c.status == CheckStatus::Passed);
    Verdict {
        scenario: scenario.id.into(),
        checks,
        ok,
        findings,
    }
}

impl Verdict {
    /// `_result.json`: upstream's keys (`checks`, `observed`, `ok`) so its tooling reads
    /// ours, plus the per-check table.
    /// `scenario` is the drill it was graded by.
    pub fn result_json(&self, scenario: &Scenario, run_dir: &str) -> Value {
        let observed_key = |metric: &str| format!("{metric}_reason_{}", scenario.observed_suffix);
        let mut observed = serde_json::Map::new();
        for counter in scenario.counters {
            let (id, metric) = (counter.id, counter.metric);
            // Upstream's key: the metric alone for an unfiltered sum.
            let key = match counter.series {
                Series::All => metric.to_string(),
                _ => observed_key(metric),
            };
            if let Some(check) = self.checks.iter().find(|c| c.id == id)
                && let (Some(before), Some(after), Some(delta)) =
                    (check.before, check.after, check.delta)
            {
                observed.insert(
                    key,
                    json!({"before": before, "after": after, "delta": delta}),
                );
            }
        }
        // Upstream's threshold keys: `<metric>_delta_ge|le` (`retry_delta_ge`, …).
        let mut thresholds = serde_json::Map::new();
        thresholds.insert("reasons".into(), json!(scenario.reasons));
        for counter in scenario.counters {
            let side = if counter.at_least { "ge" } else { "le" };
            thresholds.insert(format!("{}_{side}", counter.id), json!(counter.bound));
        }
        let mut result = json!({
            "scenario": self.scenario,
            "run_dir": run_dir,
            "tool": "drill-cockpit",
            "checks": thresholds,
            "observed": observed,
            "verdict": self.checks,
            "findings": self.findings,
            "ok": self.ok
        });
        // A replay drill: the document version each `_probe_entry_v<N>.json` (taken once
        // event version N was done) must show — always the newer one.
        if let Some(kept) = scenario.document_version {
            result["expected"] = scenario
                .versions
                .iter()
                .map(|v| (format!("v{v}"), json!(kept)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        result
    }

    /// A fixed-width table for the terminal and the report: the checks, one a line,
    /// then the verdict line.
    pub fn table(&self) -> String {
        let mut out = self.checks_table();
        for finding in &self.findings {
            out.push_str(&format!(
                "finding: {}\n",
                crate::sanitize::one_line(finding, 600)
            ));
        }
        out.push_str(&format!(
            "verdict: {}\n",
            if self.ok { "PASSED" } else { "FAILED" }
        ));
        out
    }

    /// The checks, one a line (status, title, what was seen).
    pub fn checks_table(&self) -> String {
        let mut out = String::new();
        let width = self
            .checks
            .iter()
            .map(|c| c.title.chars().count())
            .max()
            .unwrap_or(10);
        for check in &self.checks {
            // What was seen comes from evidence (ids, tags, statuses): never raw to a terminal.
            out.push_str(&format!(
                "{:<13} {:<width$}  {}\n",
                check.status.label(),
                check.title,
                crate::sanitize::one_line(&check.observed, 400)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::scenario::Scenario;

    fn built_in(id: &str) -> &'static Scenario {
        crate::drill::catalog::builtin(id).unwrap()
    }
    use crate::jaeger::{SpanSummary, TraceSummary};

    const EVENT: &str = "8722f068-7acd-4223-986c-d49fc8ca02cf";
    const BATCH: &str = "b-1";

    fn samples(retry: f64) -> Samples {
        Samples::parse(&format!(
            "outbox_retry_scheduled_total{{op=\"delete\",reason=\"es_connect\"}} {retry}\noutbox_failed_total{{op=\"delete\",reason=\"es_connect\"}} {retry}\noutbox_terminal_failed_total{{op=\"delete\",reason=\"none\"}} 0\n"
        ))
        .unwrap()
    }

    fn span(id: &str, operation: &str, tags: &[(&str, &str)]) -> SpanSummary {
        SpanSummary {
            span_id: id.into(),
            parent_span_id: None,
            operation: operation.into(),
            service: "w".into(),
            start_us: 0,
            duration_us: 1,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            error: false,
            events: Vec::new(),
        }
    }

    /// A drill that passes every check; each test breaks one thing.
    fn passing(batch_result: &str, schema: &str, log_span: &str) -> Observations {
        let trace = TraceSummary {
            trace_id: "00000000000000000123456789abcdef".into(),
            spans: vec![
                span(
                    "aaaa",
                    "projection.process_batch",
                    &[
                        ("wordloom.claim_batch_id", BATCH),
                        ("result", batch_result),
                        ("wordloom.obs_schema", schema),
                    ],
                ),
                span(
                    "bbbb",
                    "outbox.process",
                    &[
                        ("wordloom.outbox_event_id", EVENT),
                        ("wordloom.claim_batch_id", BATCH),
                        ("wordloom.obs_schema", schema),
                    ],
                ),
            ],
        };
        Observations {
            metrics_before: Some(samples(0.0)),
            metrics_after: Some(samples(2.0)),
            log: Some(vec![
                "Observability schema: labs-009-v2 (file=w.py)".into(),
                format!(
                    r#"{{"level":"ERROR","message":"retry","trace_id":"123456789abcdef","span_id":"{log_span}","reason":"es_connect"}}"#
                ),
            ]),
            event_id: Some(EVENT.into()),
            traces_by_event: Some(vec![trace.clone()]),
            traces_by_batch: Some(vec![trace]),
            status_after_recovery: Some("done".into()),
            event_reason: None,
            document_version: None,
            ..Observations::default()
        }
    }

    fn status(verdict: &Verdict, id: &str) -> CheckStatus {
        verdict.checks.iter().find(|c| c.id == id).unwrap().status
    }

    #[test]
    fn the_reference_drill_passes() {
        let verdict = grade(
            built_in("es_down_connect"),
            &passing("retry", "labs-009-v2", "bbbb"),
            Missing::Failed,
        );
        assert!(verdict.ok, "{}", verdict.table());
    }

    #[test]
    fn a_batch_span_must_say_retry() {
        let verdict = grade(
            built_in("es_down_connect"),
            &passing("ok", "labs-009-v2", "bbbb"),
            Missing::Failed,
        );
        assert_eq!(status(&verdict, "trace_by_batch"), CheckStatus::Failed);
        assert!(!verdict.ok);
    }

    #[test]
    fn spans_of_another_schema_do_not_count() {
        let verdict = grade(
            built_in("es_down_connect"),
            &passing("retry", "labs-008", "bbbb"),
            Missing::NotRecorded,
        );
        assert_eq!(status(&verdict, "trace_by_event"), CheckStatus::Failed);
        assert_eq!(status(&verdict, "trace_by_batch"), CheckStatus::Failed);
    }

    #[test]
    fn a_log_line_links_by_trace_and_span_id() {
        let verdict = grade(
            built_in("es_down_connect"),
            &passing("retry", "labs-009-v2", "ffff"),
            Missing::Failed,
        );
        assert_eq!(status(&verdict, "log_trace_link"), CheckStatus::Failed);
    }

    #[test]
    fn a_scrape_without_outbox_series_is_no_evidence_not_a_zero_delta() {
        let mut obs = passing("retry", "labs-009-v2", "bbbb");
        let other = Samples::parse("go_goroutines 12\nprocess_cpu_seconds_total 3\n").unwrap();
        obs.metrics_before = Some(other.clone());
        obs.metrics_after = Some(other);
        for mode in [Missing::Failed, Missing::NotRecorded] {
            let verdict = grade(built_in("es_down_connect"), &obs, mode);
            let terminal = verdict
                .checks
                .iter()
                .find(|c| c.id == "terminal_delta")
                .unwrap();
            assert_ne!(terminal.status, CheckStatus::Passed, "{mode:?}");
            assert!(
                terminal.observed.starts_with("no evidence"),
                "{}",
                terminal.observed
            );
            assert!(!verdict.ok);
        }
    }

    fn row(status: &str, reason: Option<&str>) -> crate::drill::RowState {
        crate::drill::RowState {
            id: uuid::Uuid::new_v4().to_string(),
            status: status.into(),
            reason: reason.map(str::to_string),
            version: None,
        }
    }

    #[test]
    fn one_poisoned_row_means_exactly_one_failed_and_the_rest_done() {
        let mut obs = Observations::default();
        for (rows, ok) in [
            (vec![row("done", None), row("failed", Some("es_4xx"))], true),
            (vec![row("done", None), row("done", None)], false),
            (
                vec![row("failed", Some("es_4xx")), row("failed", Some("es_4xx"))],
                false,
            ),
            (
                vec![row("failed", Some("es_5xx")), row("done", None)],
                false,
            ),
            (vec![row("failed", Some("es_4xx"))], false),
        ] {
            obs.drill_rows = Some(rows.clone());
            assert_eq!(one_poisoned(&obs, "es_4xx").0, ok, "{rows:?}");
        }
    }

    #[test]
    fn finalized_once_is_the_rows_and_a_silent_lost_lease_is_named_as_a_defect() {
        let page = |processed: f64, mismatch: f64| {
            Samples::parse(&format!(
                "outbox_processed_total{{op=\"upsert\"}} {processed}\noutbox_owner_mismatch_skips_total {mismatch}\noutbox_failed_total{{op=\"upsert\",reason=\"none\"}} 0\n"
            ))
            .unwrap()
        };
        let mut obs = Observations {
            metrics_before: Some(page(0.0, 0.0)),
            metrics_after: Some(page(2.0, 0.0)),
            drill_rows: Some(vec![row("processing", None)]),
            ..Observations::default()
        };
        assert_eq!(
            finalized_once(&obs, Missing::Pending).status,
            CheckStatus::Pending
        );
        obs.drill_rows = Some(vec![row("done", None)]);
        assert_eq!(
            finalized_once(&obs, Missing::Failed).status,
            CheckStatus::Passed
        );
        // Upstream's worker: the row ended right, the lost lease went unreported and the
        // late finalize was counted — the verdict fails and says so in words.
        let verdict = grade(built_in("db_claim_contention"), &obs, Missing::Failed);
        assert!(!verdict.ok);
        let finding = verdict.findings.join(" ");
        assert!(
            finding.contains("The invariant held: 1 of 1 row(s) done"),
            "{finding}"
        );
        assert!(
            finding.contains("did not report the lost lease: outbox_owner_mismatch_skips_total Δ0"),
            "{finding}"
        );
        assert!(
            finding.contains("over-counted: outbox_processed_total Δ2 for 1 event(s)"),
            "{finding}"
        );
        let mismatch = verdict
            .checks
            .iter()
            .find(|c| c.id == "owner_mismatch_delta")
            .unwrap();
        assert_eq!(mismatch.status, CheckStatus::Failed);
        assert!(mismatch.observed.contains("did not report the lost lease"));
        // A worker that says it: no defect.
        obs.metrics_after = Some(page(1.0, 1.0));
        let verdict = grade(built_in("db_claim_contention"), &obs, Missing::Failed);
        assert!(verdict.findings.is_empty(), "{:?}", verdict.findings);
    }

    #[test]
    fn the_reclaim_must_be_in_worker_2s_log() {
        let line = built_in("stuck_reclaim")
            .checks
            .iter()
            .find_map(|c| match c {
                crate::drill::scenario::Check::LogLine(line) => Some(*line),
                _ => None,
            })
            .unwrap();
        let reclaimed =
            r#"{"level":"WARNING","message":"Reclaimed 1 stuck outbox events (lease expired)"}"#;
        let mut obs = Observations {
            log: Some(vec![reclaimed.into()]),
            ..Observations::default()
        };
        // Worker 1 reclaiming its own lease is not the drill: no worker 2, no pass.
        assert_eq!(
            log_line(&line, &obs, Missing::Failed).status,
            CheckStatus::Failed
        );
        obs.worker2_log = Some(vec!["Reclaimed 0 stuck outbox events".into()]);
        assert_eq!(
            log_line(&line, &obs, Missing::Failed).status,
            CheckStatus::Failed
        );
        obs.worker2_log = Some(vec![reclaimed.into()]);
        let check = log_line(&line, &obs, Missing::Failed);
        assert_eq!(check.status, CheckStatus::Passed);
        assert_eq!(check.observed, "count 1");
    }

    #[test]
    fn collector_down_fails_when_the_events_spans_reached_jaeger() {
        let mut obs = passing("ok", "labs-009-v2", "bbbb");
        assert_eq!(no_traces(&obs, Missing::Failed).status, CheckStatus::Failed);
        obs.traces_by_event = Some(Vec::new());
        assert_eq!(no_traces(&obs, Missing::Failed).status, CheckStatus::Passed);
        obs.traces_by_event = None;
        assert_eq!(no_traces(&obs, Missing::Failed).status, CheckStatus::Failed);
    }
}
