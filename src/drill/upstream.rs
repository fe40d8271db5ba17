//! Upstream's own grading rules for each of the nine drills (UPSTREAM-LABS.md), as pure
//! functions of a run's raw files. `verify` uses them on runs of another tool, so it
//! gives upstream's verdict from the files alone, with upstream's check ids and
//! observed keys (the two tools' results can be diffed), and never reads upstream's `ok`.
//!
//! Thresholds are upstream's defaults. A run's own `_result.json` may record others
//! under `checks` (its recipe): a value is used only when it makes the check harder to
//! pass (a higher `Δ ≥ n`, a lower `Δ ≤ n`, fewer reasons); a weaker, unreadable or
//! absurd value is ignored and said, so no file of a run can talk a drill into passing.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::checks::{CheckOutcome, CheckStatus};
use crate::evidence::foreign::{ForeignRun, MetricsFile};
use crate::prom::LabelFilter;

/// Every scenario upstream's tooling grades.
pub const SCENARIOS: [&str; 9] = [
    "es_down_connect",
    "es_429_inject",
    "es_write_block_4xx",
    "es_bulk_partial",
    "db_claim_contention",
    "stuck_reclaim",
    "duplicate_delivery",
    "projection_version",
    "collector_down",
];

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamGrade {
    pub scenario: String,
    pub checks: Vec<CheckOutcome>,
    /// The thresholds used, by upstream's check id.
    pub thresholds: Map<String, Value>,
    /// Threshold ids whose value came from the run's own `_result.json`, not the default.
    pub thresholds_from_run: Vec<String>,
    /// Thresholds the run records that would have made a check easier (or that are not
    /// thresholds at all): not used, and said.
    pub thresholds_ignored: Vec<IgnoredThreshold>,
    /// Upstream's observed keys and values.
    pub observed: Map<String, Value>,
    /// The numbers that decide, in one short line (for the folder table).
    pub deciding: String,
    pub ok: bool,
}

impl UpstreamGrade {
    /// `--json`: upstream's shape (`scenario`, `checks`, `observed`, `ok`) plus ours.
    pub fn to_json(&self, run_dir: &str) -> Value {
        json!({
            "scenario": self.scenario,
            "run_dir": run_dir,
            "graded_by": "upstream labs rules (drill-cockpit verify)",
            "checks": self.thresholds,
            "thresholds_from_run": self.thresholds_from_run,
            "thresholds_ignored": self.thresholds_ignored,
            "observed": self.observed,
            "verdict": self.checks,
            "ok": self.ok,
        })
    }
}

/// A recorded threshold `verify` did not use, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredThreshold {
    /// Where the run records it (`retry_delta_ge`, `expected.v1`, …).
    pub id: String,
    pub recorded: Value,
    /// What was used instead.
    pub used: Value,
    /// Why, in words (the tail of [`IgnoredThreshold::line`]).
    pub why: String,
}

impl IgnoredThreshold {
    /// "`retry_delta_ge` = 0 in the run's _result.json is weaker than upstream's default 1: ignored".
    pub fn line(&self) -> String {
        format!(
            "`{}` = {} in the run's _result.json {}",
            self.id,
            shown(&self.recorded),
            self.why
        )
    }
}

/// A recorded value as a person reads it: `0`, not `0.0`; `1e300` as JSON has it.
fn shown(value: &Value) -> String {
    match value.as_f64() {
        Some(number) if value.is_number() && number.abs() < 1e15 => number.to_string(),
        _ => value.to_string(),
    }
}

/// The largest count an f64 holds exactly (2^53): beyond it a threshold is not a count.
const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// A recorded value a counter's Δ can be held to: a finite number of at most 2^53.
fn count(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .filter(|n| n.is_finite() && n.abs() <= MAX_COUNT)
}

/// Which way a threshold makes its check harder to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// `Δ ≥ n`: a higher n is stricter.
    Floor,
    /// `Δ ≤ n`: a lower n is stricter.
    Ceiling,
}

impl Bound {
    fn symbol(self) -> &'static str {
        match self {
            Bound::Floor => "≥",
            Bound::Ceiling => "≤",
        }
    }

    /// Whether `recorded` asks less of a run than `default`.
    fn weaker(self, recorded: f64, default: f64) -> bool {
        match self {
            Bound::Floor => recorded < default,
            Bound::Ceiling => recorded > default,
        }
    }
}

/// The thresholds of one grading: upstream's default, or the run's recorded value when
/// that is stricter.
struct Thresholds<'a> {
    recorded: Option<&'a Map<String, Value>>,
    used: Map<String, Value>,
    from_run: Vec<String>,
    ignored: Vec<IgnoredThreshold>,
}

impl<'a> Thresholds<'a> {
    fn new(run: &'a ForeignRun) -> Thresholds<'a> {
        Thresholds::of(
            run.result
                .as_ref()
                .and_then(|r| r.get("checks"))
                .and_then(Value::as_object),
        )
    }

    fn of(recorded: Option<&'a Map<String, Value>>) -> Thresholds<'a> {
        Thresholds {
            recorded,
            used: Map::new(),
            from_run: Vec::new(),
            ignored: Vec::new(),
        }
    }

    fn recorded(&self, id: &str) -> Option<&'a Value> {
        self.recorded.and_then(|checks| checks.get(id))
    }

    fn ignore(&mut self, id: &str, recorded: &Value, used: Value, why: String) {
        self.ignored.push(IgnoredThreshold {
            id: id.to_string(),
            recorded: recorded.clone(),
            used,
            why,
        });
    }

    /// The threshold of a `Δ ≥ n` check: max(default, recorded).
    fn floor(&mut self, id: &str, default: f64) -> f64 {
        self.number(id, default, Bound::Floor)
    }

    /// The threshold of a `Δ ≤ n` check: min(default, recorded).
    fn ceiling(&mut self, id: &str, default: f64) -> f64 {
        self.number(id, default, Bound::Ceiling)
    }

    fn number(&mut self, id: &str, default: f64, bound: Bound) -> f64 {
        let value = match self.recorded(id) {
            None => default,
            Some(recorded) => self.stricter(id, recorded, default, bound),
        };
        self.used.insert(id.to_string(), json!(value));
        value
    }

    /// The recorded value when it is a count at least as strict as `default`; else
    /// `default`, and the recorded value is reported.
    fn stricter(&mut self, id: &str, recorded: &Value, default: f64, bound: Bound) -> f64 {
        let Some(number) = count(recorded) else {
            let why = format!(
                "is not a count (a finite number of at most 2^53): ignored, upstream's default {default} used"
            );
            self.ignore(id, recorded, json!(default), why);
            return default;
        };
        if bound.weaker(number, default) {
            let why = format!(
                "is weaker than upstream's default {default} for a `Δ {} n` check: ignored",
                bound.symbol()
            );
            self.ignore(id, recorded, json!(default), why);
            return default;
        }
        if number != default {
            self.from_run.push(id.to_string());
        }
        number
    }

    /// The label values a check sums over: the run may narrow upstream's set, never
    /// widen it (values beyond it are ignored and reported).
    fn subset(&mut self, id: &str, default: &[&str]) -> Vec<String> {
        let value = match self.recorded(id) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(recorded) => self.narrowed(id, recorded, default),
        };
        self.used.insert(id.to_string(), json!(value));
        value
    }

    fn narrowed(&mut self, id: &str, recorded: &Value, default: &[&str]) -> Vec<String> {
        let all = default.join(", ");
        let Some(items) = recorded.as_array() else {
            let why = format!("is not a list of label values: ignored, upstream's ({all}) used");
            self.ignore(id, recorded, json!(default), why);
            return default.iter().map(|s| s.to_string()).collect();
        };
        let within = |item: &Value| item.as_str().is_some_and(|s| default.contains(&s));
        let kept: Vec<String> = default
            .iter()
            .filter(|d| items.iter().any(|item| item.as_str() == Some(**d)))
            .map(|d| d.to_string())
            .collect();
        let beyond: Vec<String> = items
            .iter()
            .filter(|item| !within(item))
            .map(shown)
            .collect();
        if !beyond.is_empty() {
            let why = format!(
                "goes beyond upstream's set ({all}): {} ignored, ({}) used",
                beyond.join(", "),
                kept.join(", ")
            );
            self.ignore(id, recorded, json!(kept), why);
        }
        if kept.len() != default.len() {
            self.from_run.push(id.to_string());
        }
        kept
    }

    /// An exact value (projection_version's expected versions): none is stricter than
    /// upstream's, so any other recorded value is ignored and reported — except the
    /// newest version (`newest`): a replay drill that expects every probe to show the
    /// newer version demands more than one that lets the first probe show the older.
    fn exact(&mut self, id: &str, recorded: Option<&Value>, default: i64, newest: i64) -> i64 {
        if let Some(recorded) = recorded
            && count(recorded) == Some(newest as f64)
        {
            if newest != default {
                self.from_run.push(id.to_string());
            }
            return newest;
        }
        if let Some(recorded) = recorded
            && count(recorded) != Some(default as f64)
        {
            let why = format!(
                "differs from upstream's {default}, and an exact match has no stricter value: ignored"
            );
            self.ignore(id, recorded, json!(default), why);
        }
        default
    }
}

/// Upstream's counter sum over the named metrics files (a missing, failed or unreadable
/// file counts 0).
fn sum(run: &ForeignRun, stems: &[&str], metric: &str, filter: LabelFilter<'_>) -> f64 {
    stems
        .iter()
        .filter_map(|stem| run.metrics(stem).and_then(MetricsFile::samples))
        .map(|samples| samples.sum(metric, filter))
        .fold(0.0, |total, value| total + value)
}

/// Before, after and Δ = after − before (upstream's plain difference).
#[derive(Debug, Clone, Copy)]
struct Change {
    before: f64,
    after: f64,
}

impl Change {
    fn delta(self) -> f64 {
        // +0.0, never -0.0, when both are equal.
        self.after - self.before + 0.0
    }

    fn json(self) -> Value {
        json!({"before": self.before, "after": self.after, "delta": self.delta()})
    }

    fn seen(self) -> String {
        format!("Δ={} ({} → {})", self.delta(), self.before, self.after)
    }
}

fn change(
    run: &ForeignRun,
    before: &[&str],
    after: &[&str],
    metric: &str,
    filter: LabelFilter<'_>,
) -> Change {
    Change {
        before: sum(run, before, metric, filter),
        after: sum(run, after, metric, filter),
    }
}

use super::checks::outcome as check;

/// A Δ held against a bound: at least `bound` (a `…_ge` check), or at most it (`…_le`).
fn bounded(
    id: &'static str,
    title: &'static str,
    change: Change,
    bound: f64,
    at_least: bool,
) -> CheckOutcome {
    let (passed, rule) = if at_least {
        (change.delta() >= bound, "≥")
    } else {
        (change.delta() <= bound, "≤")
    };
    let mut outcome = check(
        id,
        title,
        passed,
        format!("{}; expected {rule} {bound}", change.seen()),
    );
    outcome.before = Some(change.before);
    outcome.after = Some(change.after);
    outcome.delta = Some(change.delta());
    outcome
}

fn at_least(id: &'static str, title: &'static str, change: Change, min: f64) -> CheckOutcome {
    bounded(id, title, change, min, true)
}

fn at_most(id: &'static str, title: &'static str, change: Change, max: f64) -> CheckOutcome {
    bounded(id, title, change, max, false)
}

/// What a grading collects before it becomes an [`UpstreamGrade`].
struct Grading<'a> {
    thresholds: Thresholds<'a>,
    checks: Vec<CheckOutcome>,
    observed: Map<String, Value>,
    deciding: Vec<String>,
}

impl Grading<'_> {
    fn observe(&mut self, key: &str, value: Value) {
        self.observed.insert(key.to_string(), value);
    }
}

const SINGLE: (&[&str], &[&str]) = (&["metrics-before"], &["metrics-after"]);

/// Grades `run` by upstream's rules for its scenario; `None` for a scenario upstream
/// does not have.
pub fn grade(run: &ForeignRun) -> Option<UpstreamGrade> {
    let mut g = Grading {
        thresholds: Thresholds::new(run),
        checks: Vec::new(),
        observed: Map::new(),
        deciding: Vec::new(),
    };
    match run.scenario.as_str() {
        "es_down_connect" => {
            let reasons = g.thresholds.subset("reasons", super::ES_DOWN_REASONS);
            let reasons: Vec<&str> = reasons.iter().map(String::as_str).collect();
            let all = super::ES_DOWN_REASONS;
            by_reason(run, &mut g, (&reasons, all), "es_connect_or_unreachable")
        }
        "es_429_inject" => by_reason(run, &mut g, (&["es_429"], &["es_429"]), "es_429"),
        "es_write_block_4xx" => write_block(run, &mut g),
        "es_bulk_partial" => bulk_partial(run, &mut g),
        "db_claim_contention" => claim_contention(run, &mut g),
        "stuck_reclaim" => stuck_reclaim(run, &mut g),
        "duplicate_delivery" => duplicate_delivery(run, &mut g),
        "projection_version" => projection_version(run, &mut g),
        "collector_down" => collector_down(run, &mut g),
        _ => return None,
    }
    // Upstream's verdict: every one of the scenario's checks holds.
    let ok = g.checks.iter().all(|c| c.status == CheckStatus::Passed);
    Some(UpstreamGrade {
        scenario: run.scenario.clone(),
        checks: g.checks,
        thresholds: g.thresholds.used,
        thresholds_from_run: g.thresholds.from_run,
        thresholds_ignored: g.thresholds.ignored,
        observed: g.observed,
        deciding: g.deciding.join(" "),
        ok,
    })
}

/// A and B: retry ≥, failed ≥, terminal ≤. `reasons` is (the reasons counted for the
/// `≥` checks, upstream's whole set): the `≤` check always sums over the whole set, so a
/// run that narrows its reasons can only make the drill harder to pass.
fn by_reason(run: &ForeignRun, g: &mut Grading, reasons: (&[&str], &[&str]), key_suffix: &str) {
    let (counted, all) = reasons;
    let counted: &[(&str, &[&str])] = &[("reason", counted)];
    let all: &[(&str, &[&str])] = &[("reason", all)];
    let retry_min = g.thresholds.floor("retry_delta_ge", 1.0);
    let failed_min = g.thresholds.floor("failed_delta_ge", 1.0);
    let terminal_max = g.thresholds.ceiling("terminal_delta_le", 0.0);
    let (before, after) = SINGLE;
    let retry = change(run, before, after, "outbox_retry_scheduled_total", counted);
    let failed = change(run, before, after, "outbox_failed_total", counted);
    let terminal = change(run, before, after, "outbox_terminal_failed_total", all);
    for (metric, value) in [
        ("outbox_retry_scheduled_total", retry),
        ("outbox_failed_total", failed),
        ("outbox_terminal_failed_total", terminal),
    ] {
        g.observe(&format!("{metric}_reason_{key_suffix}"), value.json());
    }
    g.checks.push(at_least(
        "retry_delta_ge",
        "retry_scheduled Δ ≥ threshold",
        retry,
        retry_min,
    ));
    g.checks.push(at_least(
        "failed_delta_ge",
        "failed Δ ≥ threshold",
        failed,
        failed_min,
    ));
    g.checks.push(at_most(
        "terminal_delta_le",
        "terminal_failed Δ ≤ threshold",
        terminal,
        terminal_max,
    ));
    g.deciding.push(format!(
        "Δretry={} Δfailed={} Δterminal={}",
        retry.delta(),
        failed.delta(),
        terminal.delta()
    ));
}

/// C: failed{es_4xx} ≥, retry{es_4xx} ≤.
fn write_block(run: &ForeignRun, g: &mut Grading) {
    let filter: &[(&str, &[&str])] = &[("reason", &["es_4xx"])];
    let failed_min = g.thresholds.floor("failed_delta_ge", 1.0);
    let retry_max = g.thresholds.ceiling("retry_delta_le", 0.0);
    let (before, after) = SINGLE;
    let failed = change(run, before, after, "outbox_failed_total", filter);
    let retry = change(run, before, after, "outbox_retry_scheduled_total", filter);
    g.observe("outbox_failed_total_reason_es_4xx", failed.json());
    g.observe("outbox_retry_scheduled_total_reason_es_4xx", retry.json());
    g.checks.push(at_least(
        "failed_delta_ge",
        "failed{es_4xx} Δ ≥ threshold",
        failed,
        failed_min,
    ));
    g.checks.push(at_most(
        "retry_delta_le",
        "retry_scheduled{es_4xx} Δ ≤ threshold",
        retry,
        retry_max,
    ));
    g.deciding.push(format!(
        "Δfailed{{es_4xx}}={} Δretry{{es_4xx}}={}",
        failed.delta(),
        retry.delta()
    ));
}

/// D: bulk requests partial, items success, items failed, item failures 4xx: all Δ ≥.
fn bulk_partial(run: &ForeignRun, g: &mut Grading) {
    let (before, after) = SINGLE;
    let ops: &[&str] = &["index", "delete"];
    let partial = change(
        run,
        before,
        after,
        "outbox_es_bulk_requests_total",
        &[("result", &["partial"])],
    );
    let items = |result: &'static str| {
        change(
            run,
            before,
            after,
            "outbox_es_bulk_items_total",
            &[("op", ops), ("result", &[result])],
        )
    };
    let (success, failed) = (items("success"), items("failed"));
    let class_4xx = change(
        run,
        before,
        after,
        "outbox_es_bulk_item_failures_total",
        &[("op", ops), ("failure_class", &["4xx"])],
    );
    let rows = [
        (
            "partial_delta_ge",
            "bulk requests{result=partial} Δ ≥ threshold",
            "outbox_es_bulk_requests_total_result_partial",
            partial,
        ),
        (
            "success_items_delta_ge",
            "bulk items success (index+delete) Δ ≥ threshold",
            "outbox_es_bulk_items_total_success_sum",
            success,
        ),
        (
            "failed_items_delta_ge",
            "bulk items failed (index+delete) Δ ≥ threshold",
            "outbox_es_bulk_items_total_failed_sum",
            failed,
        ),
        (
            "failed_4xx_delta_ge",
            "bulk item failures{failure_class=4xx} Δ ≥ threshold",
            "outbox_es_bulk_item_failures_total_failure_class_4xx_sum",
            class_4xx,
        ),
    ];
    for (id, title, key, value) in rows {
        let min = g.thresholds.floor(id, 1.0);
        g.observe(key, value.json());
        g.checks.push(at_least(id, title, value, min));
    }
    g.deciding.push(format!(
        "Δpartial={} Δok_items={} Δfailed_items={} Δ4xx={}",
        partial.delta(),
        success.delta(),
        failed.delta(),
        class_4xx.delta()
    ));
}

/// E: over both workers, owner-mismatch skips ≥, processed ≥, failed ≤ (no label filter).
fn claim_contention(run: &ForeignRun, g: &mut Grading) {
    let before: &[&str] = &["metrics-before-1", "metrics-before-2"];
    let after: &[&str] = &["metrics-after-1", "metrics-after-2"];
    let mismatch = change(run, before, after, "outbox_owner_mismatch_skips_total", &[]);
    let processed = change(run, before, after, "outbox_processed_total", &[]);
    let failed = change(run, before, after, "outbox_failed_total", &[]);
    g.observe("outbox_owner_mismatch_skips_total", mismatch.json());
    g.observe("outbox_processed_total", processed.json());
    g.observe("outbox_failed_total", failed.json());
    let mismatch_min = g.thresholds.floor("owner_mismatch_delta_ge", 1.0);
    let processed_min = g.thresholds.floor("processed_delta_ge", 1.0);
    let failed_max = g.thresholds.ceiling("failed_delta_le", 0.0);
    g.checks.push(at_least(
        "owner_mismatch_delta_ge",
        "owner_mismatch_skips Δ ≥ threshold (both workers)",
        mismatch,
        mismatch_min,
    ));
    g.checks.push(at_least(
        "processed_delta_ge",
        "processed Δ ≥ threshold (both workers)",
        processed,
        processed_min,
    ));
    g.checks.push(at_most(
        "failed_delta_le",
        "failed Δ ≤ threshold (both workers)",
        failed,
        failed_max,
    ));
    g.deciding.push(format!(
        "Δmismatch={} Δprocessed={} Δfailed={}",
        mismatch.delta(),
        processed.delta(),
        failed.delta()
    ));
}

/// Lines of `text` matching `pattern`, and the first capture of the first match.
fn matches(text: &str, pattern: &str) -> (usize, Option<String>) {
    // The patterns are constants of this module: they always compile.
    let Some(re) = crate::drill::patterns::compiled(pattern) else {
        return (0, None);
    };
    let first = re
        .captures(text)
        .and_then(|c| c.get(1).map(|m| m.as_str().to_string()));
    (re.find_iter(text).count(), first)
}

/// F: worker 2's files only; the log rule rescues a run whose scrape missed the work.
fn stuck_reclaim(run: &ForeignRun, g: &mut Grading) {
    let (before, after) = (&["metrics-before-2"][..], &["metrics-after-2"][..]);
    let available = !before
        .iter()
        .chain(after)
        .any(|stem| run.metrics(stem).is_some_and(MetricsFile::scrape_failed));
    let processed = change(run, before, after, "outbox_processed_total", &[]);
    let failed = change(run, before, after, "outbox_failed_total", &[]);
    let log = run.log("worker2");
    let text = log.map(|(_, t)| t.as_str()).unwrap_or("");
    let (_, reclaimed) = matches(text, r"Reclaimed\s+(\d+)\s+stuck\s+outbox\s+events");
    let reclaimed_count: i64 = reclaimed
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let (processed_lines, _) = matches(text, r"Outbox\s+(upsert|delete):");
    let processed_min = g.thresholds.floor("processed_delta_ge", 1.0);
    let failed_max = g.thresholds.ceiling("failed_delta_le", 0.0);
    let reclaimed_min = g.thresholds.floor("reclaimed_ge", 1.0);
    g.observe("metrics_available", json!(available));
    g.observe("outbox_processed_total", processed.json());
    g.observe("outbox_failed_total", failed.json());
    g.observe(
        "reclaimed",
        json!({"count": reclaimed_count, "log_found": log.is_some()}),
    );
    g.observe("processed_log_count", json!(processed_lines));
    g.observe(
        "worker2_log",
        json!(log.map(|(name, _)| format!("_logs/{name}"))),
    );
    let by_metric = available && processed.delta() >= processed_min;
    g.checks.push(check(
        "processed_delta_ge",
        "worker 2 processed: Δ ≥ threshold, or `Outbox upsert|delete:` lines in its log",
        by_metric || processed_lines >= 1,
        format!(
            "{}{}; {processed_lines} processed line(s) in worker 2's log; expected Δ ≥ {processed_min} or ≥ 1 line",
            processed.seen(),
            if available { "" } else { " (metrics not available)" }
        ),
    ));
    g.checks.push(check(
        "failed_delta_le",
        "worker 2 failed Δ ≤ threshold (when its metrics are available)",
        !available || failed.delta() <= failed_max,
        if available {
            format!("{}; expected ≤ {failed_max}", failed.seen())
        } else {
            "metrics not available: not decided by this rule".into()
        },
    ));
    g.checks.push(check(
        "reclaimed_ge",
        "worker 2 logs `Reclaimed N stuck outbox events`, N ≥ threshold",
        reclaimed_count as f64 >= reclaimed_min,
        match (log, &reclaimed) {
            (None, _) => "no worker2 log in _logs/".to_string(),
            (Some(_), None) => "no `Reclaimed N stuck outbox events` line in worker 2's log".into(),
            (Some(_), Some(n)) => format!("Reclaimed {n}; expected ≥ {reclaimed_min}"),
        },
    ));
    g.deciding.push(format!(
        "reclaimed={reclaimed_count} Δprocessed={} lines={processed_lines} Δfailed={}",
        processed.delta(),
        failed.delta()
    ));
}

/// G: processed ≥, failed ≤, and a no-op by metric or by the INFO line of the first log.
fn duplicate_delivery(run: &ForeignRun, g: &mut Grading) {
    let (before, after) = SINGLE;
    let available = before
        .iter()
        .chain(after)
        .all(|stem| run.metrics(stem).is_some_and(|m| m.samples().is_some()));
    let processed = change(run, before, after, "outbox_processed_total", &[]);
    let failed = change(run, before, after, "outbox_failed_total", &[]);
    let noop = change(run, before, after, "outbox_idempotent_noop_total", &[]);
    let first_log = run.logs.first().map(|(_, t)| t.as_str()).unwrap_or("");
    let (noop_lines, _) = matches(first_log, r"Outbox delete: doc .* not found in ES \(noop\)");
    let processed_min = g.thresholds.floor("min_processed_delta", 3.0);
    let failed_max = g.thresholds.ceiling("max_failed_delta", 0.0);
    let noop_min = g.thresholds.floor("min_noop_delta", 1.0);
    let noop_lines_min = g.thresholds.floor("min_noop_logs", 1.0);
    g.observe("metrics_available", json!(available));
    g.observe("outbox_processed_total", processed.json());
    g.observe("outbox_failed_total", failed.json());
    g.observe("outbox_idempotent_noop_total", noop.json());
    g.observe("noop_log_count", json!(noop_lines));
    g.checks.push(at_least(
        "min_processed_delta",
        "processed Δ ≥ threshold (upsert + 2 deletes)",
        processed,
        processed_min,
    ));
    g.checks.push(at_most(
        "max_failed_delta",
        "failed Δ ≤ threshold",
        failed,
        failed_max,
    ));
    g.checks.push(check(
        "min_noop_delta",
        "idempotent no-op: Δ ≥ threshold, or the `(noop)` INFO line in the log",
        noop.delta() >= noop_min || noop_lines as f64 >= noop_lines_min,
        format!(
            "{}; {noop_lines} `not found in ES (noop)` line(s); expected Δ ≥ {noop_min} or ≥ {noop_lines_min} line(s)",
            noop.seen()
        ),
    ));
    g.deciding.push(format!(
        "Δprocessed={} Δfailed={} Δnoop={} noop_lines={noop_lines}",
        processed.delta(),
        failed.delta(),
        noop.delta()
    ));
}

/// H: each DB probe found the entry with the expected projection version.
fn projection_version(run: &ForeignRun, g: &mut Grading) {
    let expected = run.result.as_ref().and_then(|r| r.get("expected"));
    let mut seen = Vec::new();
    for (version, id, title, default) in [
        ("v1", "probe_v1", "probe v1 projection_version match", 1i64),
        ("v2", "probe_v2", "probe v2 projection_version match", 2i64),
    ] {
        let want = g.thresholds.exact(
            &format!("expected.{version}"),
            expected.and_then(|e| e.get(version)),
            default,
            2,
        );
        g.thresholds
            .used
            .insert(format!("expected_{version}"), json!(want));
        let probe = run.probes.get(version);
        let got = probe
            .and_then(|p| p.get("projection_version"))
            .and_then(Value::as_i64);
        g.observe(version, json!(got));
        seen.push(format!(
            "{version}={}",
            got.map_or("-".into(), |v| v.to_string())
        ));
        g.checks.push(check(
            id,
            title,
            got == Some(want),
            match (probe, got) {
                (None, _) => format!("no _probe_entry_{version}.json; expected {want}"),
                (Some(_), None) => format!(
                    "the probe found no entry (found={}); expected {want}",
                    probe
                        .and_then(|p| p.get("found"))
                        .map(Value::to_string)
                        .unwrap_or_else(|| "?".into())
                ),
                (Some(_), Some(got)) => format!("projection_version {got}; expected {want}"),
            },
        ));
    }
    g.deciding.push(seen.join(" "));
}

/// collector_down: the stop of Jaeger worked, processing went on, nothing failed.
fn collector_down(run: &ForeignRun, g: &mut Grading) {
    let (before, after) = SINGLE;
    let processed = change(run, before, after, "outbox_processed_total", &[]);
    let failed = change(run, before, after, "outbox_failed_total", &[]);
    let code = run
        .inject_exit_codes
        .get("jaeger_stop")
        .or_else(|| run.inject_exit_codes.values().next())
        .copied()
        .flatten();
    let processed_min = g.thresholds.floor("processed_delta_ge", 1.0);
    let failed_max = g.thresholds.ceiling("failed_delta_le", 0.0);
    g.observe("inject_exit_code", json!(code));
    g.observe("outbox_processed_total", processed.json());
    g.observe("outbox_failed_total", failed.json());
    g.checks.push(check(
        "inject_exit_code",
        "`compose stop jaeger` exited 0",
        code == Some(0),
        match code {
            Some(code) => format!("exit code {code}"),
            None => "no _inject_jaeger_stop.exitcode.txt".into(),
        },
    ));
    g.checks.push(at_least(
        "processed_delta_ge",
        "processed Δ ≥ threshold",
        processed,
        processed_min,
    ));
    g.checks.push(at_most(
        "failed_delta_le",
        "failed Δ ≤ threshold",
        failed,
        failed_max,
    ));
    g.deciding.push(format!(
        "exit={} Δprocessed={} Δfailed={}",
        code.map_or("-".into(), |c| c.to_string()),
        processed.delta(),
        failed.delta()
    ));
}

/// Where our grade and the run's own `_result.json` differ: (what, ours, theirs).
pub fn compare(grade: &UpstreamGrade, theirs: &Value) -> Vec<(String, String, String)> {
    let mut differences = Vec::new();
    // The newest projection_version files keep the verdict in `_verify_result.json` only
    // for the oldest generation; `ok` absent means "not recorded", not a difference.
    if let Some(their_ok) = theirs.get("ok").and_then(Value::as_bool)
        && their_ok != grade.ok
    {
        differences.push(("ok".into(), grade.ok.to_string(), their_ok.to_string()));
    }
    let Some(their_observed) = theirs.get("observed").and_then(Value::as_object) else {
        return differences;
    };
    for (key, ours) in &grade.observed {
        let Some(their) = their_observed.get(key) else {
            continue;
        };
        // Paths are the other tool's (a Windows path): compare file names only.
        let same = match (ours, their) {
            (Value::String(a), Value::String(b)) => {
                a.rsplit(['/', '\\']).next() == b.rsplit(['/', '\\']).next()
            }
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| {
                b.get(k).is_none_or(|w| match (v.as_f64(), w.as_f64()) {
                    (Some(x), Some(y)) => x == y,
                    _ => v == w,
                })
            }),
            _ => ours == their,
        };
        if !same {
            differences.push((key.clone(), ours.to_string(), their.to_string()));
        }
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_recorded_threshold_is_used_only_when_stricter() {
        let checks = recorded(json!({
            "retry_delta_ge": 0, "failed_delta_ge": 5,
            "terminal_delta_le": 3, "failed_delta_le": -1
        }));
        let mut t = Thresholds::of(Some(&checks));
        assert_eq!(t.floor("retry_delta_ge", 1.0), 1.0);
        assert_eq!(t.floor("failed_delta_ge", 1.0), 5.0);
        assert_eq!(t.ceiling("terminal_delta_le", 0.0), 0.0);
        assert_eq!(t.ceiling("failed_delta_le", 0.0), -1.0);
        assert_eq!(t.floor("not_recorded_ge", 1.0), 1.0);
        assert_eq!(t.from_run, vec!["failed_delta_ge", "failed_delta_le"]);
        let lines: Vec<String> = t.ignored.iter().map(IgnoredThreshold::line).collect();
        assert_eq!(
            lines,
            vec![
                "`retry_delta_ge` = 0 in the run's _result.json is weaker than upstream's default 1 for a `Δ ≥ n` check: ignored",
                "`terminal_delta_le` = 3 in the run's _result.json is weaker than upstream's default 0 for a `Δ ≤ n` check: ignored",
            ]
        );
        assert_eq!(t.used["retry_delta_ge"], json!(1.0));
        assert_eq!(t.used["failed_delta_ge"], json!(5.0));
    }

    #[test]
    fn a_value_that_is_not_a_count_is_treated_as_not_recorded_and_reported() {
        let checks = recorded(json!({
            "a_ge": "NaN", "b_ge": 1e300, "c_le": -1e300, "d_ge": null, "e_ge": true, "f_ge": [2]
        }));
        let mut t = Thresholds::of(Some(&checks));
        for id in ["a_ge", "b_ge", "d_ge", "e_ge", "f_ge"] {
            assert_eq!(t.floor(id, 1.0), 1.0, "{id}");
        }
        assert_eq!(t.ceiling("c_le", 0.0), 0.0);
        let ids: Vec<&str> = t.ignored.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["a_ge", "b_ge", "d_ge", "e_ge", "f_ge", "c_le"]);
        assert!(t.from_run.is_empty());
        assert_eq!(
            t.ignored[0].line(),
            "`a_ge` = \"NaN\" in the run's _result.json is not a count (a finite number of at most 2^53): ignored, upstream's default 1 used"
        );
    }

    #[test]
    fn reasons_may_be_narrowed_never_widened() {
        let all = ["es_connect", "es_unreachable"];
        let narrowed = recorded(json!({"reasons": ["es_connect"]}));
        let mut t = Thresholds::of(Some(&narrowed));
        assert_eq!(t.subset("reasons", &all), vec!["es_connect"]);
        assert_eq!(t.from_run, vec!["reasons"]);
        assert!(t.ignored.is_empty());

        let widened = recorded(json!({"reasons": ["es_connect", "es_unreachable", "es_429", 7]}));
        let mut t = Thresholds::of(Some(&widened));
        assert_eq!(
            t.subset("reasons", &all),
            vec!["es_connect", "es_unreachable"]
        );
        assert!(t.from_run.is_empty());
        assert_eq!(t.ignored.len(), 1);
        assert!(
            t.ignored[0]
                .line()
                .ends_with("goes beyond upstream's set (es_connect, es_unreachable): \"es_429\", 7 ignored, (es_connect, es_unreachable) used"),
            "{}",
            t.ignored[0].line()
        );

        let not_a_list = recorded(json!({"reasons": "es_429"}));
        let mut t = Thresholds::of(Some(&not_a_list));
        assert_eq!(
            t.subset("reasons", &all),
            vec!["es_connect", "es_unreachable"]
        );
        assert_eq!(t.ignored.len(), 1);
    }

    #[test]
    fn an_exact_expectation_other_than_upstreams_is_ignored() {
        let mut t = Thresholds::of(None);
        assert_eq!(t.exact("expected.v1", Some(&json!(1.0)), 1, 2), 1);
        assert!(t.ignored.is_empty());
        assert_eq!(t.exact("expected.v2", Some(&json!(7)), 2, 2), 2);
        assert_eq!(t.ignored.len(), 1);
        assert_eq!(t.ignored[0].id, "expected.v2");
    }
}
