//! A drill as a TOML file (docs/DRILLS.md): read, checked and turned into the
//! [`Scenario`] the session, `run` and `verify` follow. Every mistake is reported at its
//! place in the file (`path:line:column`) with what would be right there: an unknown key
//! with the closest known one, a wrong type, a metric the contract does not have, a
//! fault the gate cannot do, a check that does not exist.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::scenario::{Check, Counter, Ends, Inject, LogLine, Scenario, Series, Workers};
use crate::db::outbox::Op;

/// A mistake in a drill file, at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillError {
    /// The file as the user named it (or `built-in:<id>`).
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The file's line the mistake is on, and the caret under it.
    pub excerpt: String,
}

impl std::fmt::Display for DrillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )?;
        if !self.excerpt.is_empty() {
            write!(f, "\n{}", self.excerpt)?;
        }
        Ok(())
    }
}

impl std::error::Error for DrillError {}

/// The file as written: serde reads it, `check` holds it against the contract.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DrillFile {
    pub id: Spanned<String>,
    pub title: String,
    pub fault: FaultTable,
    #[serde(default)]
    pub events: EventsTable,
    #[serde(default)]
    pub workers: WorkersTable,
    pub checks: ChecksTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    StopEs,
    Gate,
    IndexWriteBlock,
    CollectorGate,
    KillClaimingWorker,
    None,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultTable {
    pub how: Spanned<How>,
    /// The gate's fault in one line (`faults::line`, with `for DURATION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Spanned<String>>,
    /// The words on the fault-in key (empty: no such key, the fault is in the events).
    #[serde(default)]
    pub key: String,
    /// What taking the fault out is called, on its key and in the journal.
    pub restore: String,
    /// Upstream's in-worker switches for the same fault (`run --inject worker`).
    #[serde(default, with = "pairs", skip_serializing_if = "Vec::is_empty")]
    pub worker_switches: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpWord {
    Upsert,
    Delete,
}

impl OpWord {
    fn op(self) -> Op {
        match self {
            OpWord::Upsert => Op::Upsert,
            OpWord::Delete => Op::Delete,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventsTable {
    #[serde(default = "upsert")]
    pub trigger: OpWord,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<OpWord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Spanned<Vec<i64>>>,
    #[serde(default = "one")]
    pub together: Spanned<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_version: Option<i64>,
}

impl Default for EventsTable {
    fn default() -> Self {
        EventsTable {
            trigger: OpWord::Upsert,
            then: Vec::new(),
            versions: None,
            together: Spanned::new(0..0, 1),
            document_version: None,
        }
    }
}

fn upsert() -> OpWord {
    OpWord::Upsert
}

fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    #[default]
    One,
    TwoFromStart,
    SecondAfterClaim,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersTable {
    #[serde(default)]
    pub start: Start,
    #[serde(default, with = "pairs", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksTable {
    pub order: Spanned<Vec<Spanned<String>>>,
    pub effect: Spanned<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default = "any")]
    pub observed_suffix: String,
    #[serde(default = "ok")]
    pub batch_result: String,
    #[serde(default = "yes")]
    pub batch_result_required: bool,
    pub end: EndTable,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counter: Vec<CounterTable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_line: Vec<LogLineTable>,
}

fn any() -> String {
    "any".into()
}

fn ok() -> String {
    "ok".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndWord {
    Done,
    Failed,
    OnePoisoned,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndTable {
    pub state: Spanned<EndWord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesWord {
    DrillReasons,
    All,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CounterTable {
    pub id: Spanned<String>,
    pub title: String,
    pub metric: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesWord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    #[serde(default, with = "label_pairs", skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<(String, Vec<String>)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogLineTable {
    pub id: Spanned<String>,
    pub title: String,
    pub pattern: Spanned<String>,
    #[serde(default = "worker_one")]
    pub worker: Spanned<u8>,
}

fn worker_one() -> Spanned<u8> {
    Spanned::new(0..0, 1)
}

/// A TOML table read as its pairs in the file's order (environment variables, switches).
mod pairs {
    use serde::de::{MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of NAME = \"value\" (strings)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(pairs)
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// `labels = { result = ["partial"] }`, in the file's order.
mod label_pairs {
    use serde::de::{MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    type Labels = Option<Vec<(String, Vec<String>)>>;

    pub fn serialize<S: Serializer>(labels: &Labels, s: S) -> Result<S::Ok, S::Error> {
        let pairs = labels.as_deref().unwrap_or_default();
        s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Labels;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of LABEL = [\"value\", …]")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, Vec<String>>()? {
                    pairs.push(pair);
                }
                Ok(Some(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// The contract's counters (CONTRACT.md §3) and their labels: the only series a
/// counter check can sum (gauges and the histogram have no meaningful Δ here).
pub const CONTRACT_COUNTERS: &[(&str, &[&str])] = &[
    ("outbox_processed_total", &["projection", "op"]),
    ("outbox_failed_total", &["projection", "op", "reason"]),
    (
        "outbox_retry_scheduled_total",
        &["projection", "op", "reason"],
    ),
    (
        "outbox_terminal_failed_total",
        &["projection", "op", "reason"],
    ),
    (
        "outbox_idempotent_noop_total",
        &["projection", "op", "reason"],
    ),
    ("outbox_owner_mismatch_skips_total", &[]),
    ("outbox_es_bulk_requests_total", &["projection", "result"]),
    (
        "outbox_es_bulk_items_total",
        &["projection", "op", "result"],
    ),
    (
        "outbox_es_bulk_item_failures_total",
        &["projection", "op", "failure_class"],
    ),
];

/// The check names `checks.order` takes (besides the ids of its `log_line`s).
pub const CHECK_NAMES: &[&str] = &[
    "schema_marker",
    "counters",
    "finalized_once",
    "trace_by_event",
    "trace_by_batch",
    "log_trace_link",
    "end_state",
    "replay_done",
    "document_kept",
    "collector_refused",
    "no_traces",
];

/// Reads and checks a drill file; `path` names it in errors.
pub fn parse(path: &str, text: &str) -> Result<DrillFile, DrillError> {
    let file: DrillFile = toml::from_str(text).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        at(path, text, span, &reworded(error.message()))
    })?;
    check(&file).map_err(|(span, message)| at(path, text, span, &message))?;
    Ok(file)
}

/// Reads, checks and makes the drill of a file; the drill lives as long as the process.
/// The same text is made once: `verify` of a folder reads the same few drills from
/// every run, and each is kept for good.
pub fn load(path: &str, text: &str) -> Result<&'static Scenario, DrillError> {
    static MADE: std::sync::Mutex<Vec<&'static Scenario>> = std::sync::Mutex::new(Vec::new());
    if let Ok(made) = MADE.lock()
        && let Some(drill) = made.iter().find(|d| d.file == text)
    {
        return Ok(drill);
    }
    let drill = make(path, text)?;
    if let Ok(mut made) = MADE.lock() {
        made.push(drill);
    }
    Ok(drill)
}

fn make(path: &str, text: &str) -> Result<&'static Scenario, DrillError> {
    let file = parse(path, text)?;
    let drill = scenario(&file, leak(text.to_string()));
    // The effect must be one of the checks the drill grades: what its checklist says
    // with nothing observed names every check it has.
    let graded = super::grade(
        &drill,
        &super::Observations::default(),
        super::Missing::Failed,
    );
    if !graded.checks.iter().any(|c| c.id == drill.effect) {
        let ids: Vec<&str> = graded.checks.iter().map(|c| c.id).collect();
        let effect = &file.checks.effect;
        return Err(at(
            path,
            text,
            effect.span(),
            &format!(
                "effect `{}` is not one of this drill's checks{}: name the check that shows the fault hit, one of {}",
                crate::sanitize::one_line(effect.get_ref(), 80),
                closest(effect.get_ref(), &ids)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default(),
                ids.join(", ")
            ),
        ));
    }
    Ok(Box::leak(Box::new(drill)))
}

/// The error at `span` of `text`, with the line and a caret under the place.
fn at(path: &str, text: &str, span: Range<usize>, message: &str) -> DrillError {
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = text[line_start..start].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let width = text[start..span.end.clamp(start, text.len())]
        .lines()
        .next()
        .map_or(1, |s| s.chars().count().max(1));
    let gutter = line.to_string().len();
    let excerpt = format!(
        "{:gutter$} |\n{line} | {line_text}\n{:gutter$} | {}{}",
        "",
        "",
        " ".repeat(column - 1),
        "^".repeat(width)
    );
    DrillError {
        path: path.to_string(),
        line,
        column,
        message: message.to_string(),
        excerpt,
    }
}

/// serde's words said for a person: an unknown key or word gets the closest known one.
fn reworded(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        return format!(
            "missing key `{name}`: add {name} = … here (docs/DRILLS.md, The schema, says what it takes)"
        );
    }
    if let Some((before, _)) = message.split_once(", expected f64") {
        return format!("{before}, expected a number");
    }
    for (prefix, what) in [("unknown field `", "key"), ("unknown variant `", "word")] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((name, after)) = rest.split_once('`') else {
            continue;
        };
        let known: Vec<&str> = after.split('`').skip(1).step_by(2).collect();
        let closest = closest(name, &known)
            .map(|k| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        let here = if known.is_empty() {
            "nothing is allowed here".to_string()
        } else {
            format!("allowed here: {}", known.join(", "))
        };
        return format!("unknown {what} `{name}`{closest}; {here}");
    }
    message.to_string()
}

/// The closest of `known`: the one name that begins as the word does (a metric with a
/// word left out: `outbox_retry_total`), else the nearest within a third of the word's
/// length (at least two edits).
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let stem = word.strip_suffix("_total").unwrap_or(word);
    if stem.len() >= 6
        && let [only] = known
            .iter()
            .filter(|k| k.starts_with(stem) && **k != word)
            .collect::<Vec<_>>()[..]
    {
        return Some(only);
    }
    let limit = (word.chars().count() / 3).max(2);
    known
        .iter()
        .map(|k| (crate::config::spec::edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

type Problem = (Range<usize>, String);

/// What serde cannot see: the file against the contract and against itself.
fn check(file: &DrillFile) -> Result<(), Problem> {
    check_id(&file.id)?;
    check_fault(&file.fault)?;
    check_events(&file.events)?;
    check_checks(&file.checks)?;
    Ok(())
}

fn check_id(id: &Spanned<String>) -> Result<(), Problem> {
    let fine = !id.get_ref().is_empty()
        && id.get_ref().len() <= 64
        && id
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if fine {
        return Ok(());
    }
    Err((
        id.span(),
        format!(
            "id `{}` names the drill's folder of snapshots/: use lowercase letters, digits and _ (at most 64), e.g. es_bulk_503",
            crate::sanitize::one_line(id.get_ref(), 80)
        ),
    ))
}

fn check_fault(fault: &FaultTable) -> Result<(), Problem> {
    let how = *fault.how.get_ref();
    let takes_gate = matches!(how, How::Gate | How::CollectorGate);
    match (&fault.gate, takes_gate) {
        (None, true) => {
            return Err((
                fault.how.span(),
                format!(
                    "how = \"{}\" needs the gate's fault: add gate = \"…\" to [fault], e.g. gate = \"abort 429\" ({})",
                    how_word(how),
                    crate::faults::line::GRAMMAR
                ),
            ));
        }
        (Some(gate), false) => {
            return Err((
                gate.span(),
                format!(
                    "gate is only read when how = \"gate\" or \"collector_gate\" (here how = \"{}\"): remove it, or set how = \"gate\"",
                    how_word(how)
                ),
            ));
        }
        (Some(gate), true) => {
            crate::faults::line::parse_lifted(gate.get_ref())
                .map_err(|error| (gate.span(), format!("gate: {error}")))?;
        }
        (None, false) => {}
    }
    Ok(())
}

fn how_word(how: How) -> &'static str {
    match how {
        How::StopEs => "stop_es",
        How::Gate => "gate",
        How::IndexWriteBlock => "index_write_block",
        How::CollectorGate => "collector_gate",
        How::KillClaimingWorker => "kill_claiming_worker",
        How::None => "none",
    }
}

fn check_events(events: &EventsTable) -> Result<(), Problem> {
    if !(1..=100).contains(events.together.get_ref()) {
        return Err((
            events.together.span(),
            format!(
                "together = {}: how many trigger events go in in one transaction, from 1 to 100",
                events.together.get_ref()
            ),
        ));
    }
    if let Some(versions) = &events.versions {
        let wanted = 1 + events.then.len();
        if versions.get_ref().len() != wanted {
            return Err((
                versions.span(),
                format!(
                    "versions has {} entries: give one event_version per event, the trigger's and each of `then`'s ({wanted})",
                    versions.get_ref().len()
                ),
            ));
        }
    }
    Ok(())
}

fn check_checks(checks: &ChecksTable) -> Result<(), Problem> {
    let log_ids: Vec<&str> = checks
        .log_line
        .iter()
        .map(|l| l.id.get_ref().as_str())
        .collect();
    if checks.order.get_ref().is_empty() {
        return Err((
            checks.order.span(),
            "order is empty: a drill with no checks would pass whatever happened; list its checks, e.g. order = [\"schema_marker\", \"counters\", \"end_state\"]".into(),
        ));
    }
    check_unique_ids(checks)?;
    for name in checks.order.get_ref() {
        if CHECK_NAMES.contains(&name.get_ref().as_str())
            || log_ids.contains(&name.get_ref().as_str())
        {
            continue;
        }
        let known: Vec<&str> = CHECK_NAMES
            .iter()
            .copied()
            .chain(log_ids.iter().copied())
            .collect();
        return Err((
            name.span(),
            format!(
                "no check `{}`{}: order lists {} (or the id of a [[checks.log_line]])",
                crate::sanitize::one_line(name.get_ref(), 80),
                closest(name.get_ref(), &known)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default(),
                CHECK_NAMES.join(", ")
            ),
        ));
    }
    let end = &checks.end;
    match (end.state.get_ref(), &end.reason) {
        (EndWord::Done, Some(_)) => {
            return Err((
                end.state.span(),
                "state = \"done\" takes no reason: remove reason from [checks.end]".into(),
            ));
        }
        (EndWord::Failed | EndWord::OnePoisoned, None) => {
            return Err((
                end.state.span(),
                "this end state names the failure's reason: add reason = \"es_4xx\" (or the reason the contract gives) to [checks.end]".into(),
            ));
        }
        _ => {}
    }
    for counter in &checks.counter {
        check_counter(counter, !checks.reasons.is_empty())?;
    }
    check_effect(checks)?;
    for line in &checks.log_line {
        let re = regex::Regex::new(line.pattern.get_ref()).map_err(|error| {
            (
                line.pattern.span(),
                format!("pattern is not a regex: {error}"),
            )
        })?;
        // Without a group nothing is ever counted, and the check fails on every run.
        if re.captures_len() < 2 {
            return Err((
                line.pattern.span(),
                "pattern has no group, and its first group is the count (≥ 1) the check reads: put ( ) around the number, e.g. 'Reclaimed\\s+(\\d+)\\s+stuck'".into(),
            ));
        }
        if !(1..=2).contains(line.worker.get_ref()) {
            return Err((
                line.worker.span(),
                format!(
                    "worker = {}: whose log counts, 1 (any worker's) or 2 (worker 2's only)",
                    line.worker.get_ref()
                ),
            ));
        }
    }
    Ok(())
}

/// Each check has one id, and the checklist names each once: `effect` and the verdict
/// refer to checks by id, so two of one id would leave it to chance which one decides.
fn check_unique_ids(checks: &ChecksTable) -> Result<(), Problem> {
    let ids = checks
        .counter
        .iter()
        .map(|c| &c.id)
        .chain(checks.log_line.iter().map(|l| &l.id));
    let mut seen: Vec<&str> = CHECK_NAMES.to_vec();
    for id in ids {
        if seen.contains(&id.get_ref().as_str()) {
            return Err((
                id.span(),
                format!(
                    "id `{}` is already taken (by another [[checks.counter]] or [[checks.log_line]], or a check of the list for order): give each check its own id",
                    crate::sanitize::one_line(id.get_ref(), 80)
                ),
            ));
        }
        seen.push(id.get_ref());
    }
    let order = checks.order.get_ref();
    for (at, name) in order.iter().enumerate() {
        if order[..at].iter().any(|n| n.get_ref() == name.get_ref()) {
            return Err((
                name.span(),
                format!(
                    "order names `{}` twice: list each check once",
                    crate::sanitize::one_line(name.get_ref(), 80)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that pass when nothing went wrong at all: the schema marker, the traces and
/// the end state hold on a quiet run, so none of them shows that the fault hit.
const NOT_AN_EFFECT: &[&str] = &[
    "schema_marker",
    "trace_by_event",
    "trace_by_batch",
    "log_trace_link",
    "end_state",
    "no_traces",
];

/// The effect is what stops a run the fault never reached from passing: it must be a
/// check a quiet run fails. (An unknown effect is said by `make`, with the graded ids.)
fn check_effect(checks: &ChecksTable) -> Result<(), Problem> {
    let effect = checks.effect.get_ref().as_str();
    let fix = "name a check a run without the fault fails: a [[checks.counter]] with at_least ≥ 1, a [[checks.log_line]], or collector_refused, replay_done, document_kept, finalized_once";
    if NOT_AN_EFFECT.contains(&effect) {
        return Err((
            checks.effect.span(),
            format!(
                "effect `{effect}` passes on a run the fault never reached, so the drill could pass without its fault: {fix}"
            ),
        ));
    }
    if let Some(counter) = checks.counter.iter().find(|c| c.id.get_ref() == effect)
        && counter.at_least.is_none_or(|bound| bound <= 0.0)
    {
        return Err((
            checks.effect.span(),
            format!(
                "effect `{effect}` is a counter bounded with at_most (or at_least = 0), which a run the fault never reached passes: {fix}"
            ),
        ));
    }
    Ok(())
}

fn check_counter(counter: &CounterTable, drill_has_reasons: bool) -> Result<(), Problem> {
    let metric = counter.metric.get_ref();
    let names: Vec<&str> = CONTRACT_COUNTERS.iter().map(|(name, _)| *name).collect();
    let Some((_, labels)) = CONTRACT_COUNTERS.iter().find(|(name, _)| name == metric) else {
        return Err((
            counter.metric.span(),
            format!(
                "the contract has no counter `{}`{}: a counter check sums one of {}",
                crate::sanitize::one_line(metric, 80),
                closest(metric, &names)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default(),
                names.join(", ")
            ),
        ));
    };
    let chosen = [
        counter.series.is_some(),
        counter.reasons.is_some(),
        counter.labels.is_some(),
    ];
    if chosen.iter().filter(|c| **c).count() != 1 {
        return Err((
            counter.id.span(),
            format!(
                "counter `{}` sums which series? give exactly one of series = \"drill_reasons\" | \"all\", reasons = [\"…\"], labels = {{ label = [\"value\"] }}",
                counter.id.get_ref()
            ),
        ));
    }
    let by_reason =
        matches!(counter.series, Some(SeriesWord::DrillReasons)) || counter.reasons.is_some();
    if by_reason && !labels.contains(&"reason") {
        return Err((
            counter.metric.span(),
            format!(
                "`{metric}` has no `reason` label (its labels: {}): sum it with series = \"all\" or labels",
                labels.join(", ")
            ),
        ));
    }
    if matches!(counter.series, Some(SeriesWord::DrillReasons)) && !drill_has_reasons {
        return Err((
            counter.id.span(),
            "series = \"drill_reasons\" sums the drill's reasons, and [checks] has none: add reasons = [\"es_429\"] to [checks]".into(),
        ));
    }
    for (label, _) in counter.labels.iter().flatten() {
        if !labels.contains(&label.as_str()) {
            return Err((
                counter.metric.span(),
                format!(
                    "`{metric}` has no label `{label}`{}; its labels: {}",
                    closest(label, labels)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default(),
                    if labels.is_empty() {
                        "none".to_string()
                    } else {
                        labels.join(", ")
                    }
                ),
            ));
        }
    }
    match (counter.at_least, counter.at_most) {
        (Some(bound), None) if bound.is_finite() && bound <= 0.0 => Err((
            counter.id.span(),
            format!(
                "counter `{}`: at_least = {bound} always holds (a counter only goes up), so the check shows nothing: use at_least = 1, or at_most = 0 for \"never\"",
                counter.id.get_ref()
            ),
        )),
        (Some(bound), None) | (None, Some(bound)) if bound.is_finite() && bound >= 0.0 => Ok(()),
        _ => Err((
            counter.id.span(),
            format!(
                "counter `{}` needs exactly one bound, a number ≥ 0: at_least = 1 (Δ ≥ 1) or at_most = 0 (Δ ≤ 0)",
                counter.id.get_ref()
            ),
        )),
    }
}

/// Makes a `'static` string of a drill's text: a drill is read once per process (the
/// catalog keeps it; `verify` reads a run's own), and the checks hold its words by
/// reference.
pub fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn leak_all(words: &[String]) -> &'static [&'static str] {
    Box::leak(
        words
            .iter()
            .map(|w| leak(w.clone()))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

fn leak_pairs(pairs: &[(String, String)]) -> &'static [(&'static str, &'static str)] {
    Box::leak(
        pairs
            .iter()
            .map(|(k, v)| (leak(k.clone()), leak(v.clone())))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// The drill a checked file describes.
fn scenario(file: &DrillFile, text: &'static str) -> Scenario {
    let fault = &file.fault;
    let (gate_fault, lift_after) = match &fault.gate {
        // Checked in `check_fault`: a line that does not parse never gets here.
        Some(line) => match crate::faults::line::parse_lifted(line.get_ref()) {
            Ok((fault, lift)) => (Some(fault), lift),
            Err(_) => (None, None),
        },
        None => (None, None),
    };
    let checks = &file.checks;
    let log_lines: Vec<LogLine> = checks
        .log_line
        .iter()
        .map(|line| LogLine {
            id: leak(line.id.get_ref().clone()),
            title: leak(line.title.clone()),
            pattern: leak(line.pattern.get_ref().clone()),
            worker2: *line.worker.get_ref() == 2,
        })
        .collect();
    let order: Vec<Check> = checks
        .order
        .get_ref()
        .iter()
        .filter_map(|name| {
            Some(match name.get_ref().as_str() {
                "schema_marker" => Check::SchemaMarker,
                "counters" => Check::Counters,
                "finalized_once" => Check::FinalizedOnce,
                "trace_by_event" => Check::TraceByEvent,
                "trace_by_batch" => Check::TraceByBatch,
                "log_trace_link" => Check::LogTraceLink,
                "end_state" => Check::EndState,
                "replay_done" => Check::ReplayDone,
                "document_kept" => Check::DocumentKept,
                "collector_refused" => Check::CollectorRefused,
                "no_traces" => Check::NoTraces,
                id => Check::LogLine(*log_lines.iter().find(|l| l.id == id)?),
            })
        })
        .collect();
    let counters: Vec<Counter> = checks
        .counter
        .iter()
        .map(|counter| Counter {
            id: leak(counter.id.get_ref().clone()),
            title: leak(counter.title.clone()),
            metric: leak(counter.metric.get_ref().clone()),
            series: match (&counter.series, &counter.reasons, &counter.labels) {
                (Some(SeriesWord::DrillReasons), _, _) => Series::ScenarioReasons,
                (Some(SeriesWord::All), _, _) => Series::All,
                (None, Some(reasons), _) => Series::Reasons(leak_all(reasons)),
                (None, None, Some(labels)) => Series::Labels(Box::leak(
                    labels
                        .iter()
                        .map(|(label, values)| (leak(label.clone()), leak_all(values)))
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                )),
                (None, None, None) => Series::All,
            },
            at_least: counter.at_least.is_some(),
            bound: counter.at_least.or(counter.at_most).unwrap_or(0.0),
        })
        .collect();
    let reason = || leak(checks.end.reason.clone().unwrap_or_default());
    Scenario {
        id: leak(file.id.get_ref().clone()),
        title: leak(file.title.clone()),
        inject: match fault.how.get_ref() {
            How::StopEs => Inject::StopEs,
            How::Gate => Inject::Gate,
            How::IndexWriteBlock => Inject::WriteBlock,
            How::CollectorGate => Inject::CollectorGate,
            How::KillClaimingWorker => Inject::KillClaimingWorker,
            How::None => Inject::Nothing,
        },
        gate_fault,
        lift_after,
        file: text,
        trigger: file.events.trigger.op(),
        then: Box::leak(
            file.events
                .then
                .iter()
                .map(|op| op.op())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        ),
        versions: Box::leak(
            file.events
                .versions
                .as_ref()
                .map(|v| v.get_ref().clone())
                .unwrap_or_default()
                .into_boxed_slice(),
        ),
        document_version: file.events.document_version,
        checks: Box::leak(order.into_boxed_slice()),
        reasons: leak_all(&checks.reasons),
        observed_suffix: leak(checks.observed_suffix.clone()),
        counters: Box::leak(counters.into_boxed_slice()),
        batch_result: leak(checks.batch_result.clone()),
        ends: match checks.end.state.get_ref() {
            EndWord::Done => Ends::Done,
            EndWord::Failed => Ends::Failed { reason: reason() },
            EndWord::OnePoisoned => Ends::OnePoisoned { reason: reason() },
        },
        end_title: leak(checks.end.title.clone()),
        inject_words: leak(fault.key.clone()),
        restore: leak(fault.restore.clone()),
        together: *file.events.together.get_ref(),
        workers: match file.workers.start {
            Start::One => Workers::One,
            Start::TwoFromStart => Workers::TwoFromStart,
            Start::SecondAfterClaim => Workers::SecondAfterClaim,
        },
        worker_env: leak_pairs(&file.workers.env),
        effect: leak(checks.effect.get_ref().clone()),
        worker_switches: leak_pairs(&fault.worker_switches),
        batch_result_required: checks.batch_result_required,
    }
}

/// A drill's file with its gate's fault replaced by `line` (`--fault`): the ES gate's
/// (or the collector's, for a drill whose fault is there), its key words the fault's
/// own, the title saying it was replaced. A drill whose fault is not a gate's is
/// refused. Written as TOML and read back
/// through [`load`], so it is checked as any file is, and recorded as run.
pub fn with_fault(base: &Scenario, line: &str) -> Result<String, String> {
    let (fault, lift) =
        crate::faults::line::parse_lifted(line).map_err(|error| format!("--fault: {error}"))?;
    let mut file = parse(&format!("drill:{}", base.id), base.file).map_err(|e| e.to_string())?;
    let words = match lift {
        Some(after) => format!("gate: {} for {} s", fault.describe(), after.as_secs_f64()),
        None => format!("gate: {}", fault.describe()),
    };
    let how = *file.fault.how.get_ref();
    if !matches!(how, How::Gate | How::CollectorGate) {
        // Its checks are about its own fault (a stopped ES, a kill, its events): another
        // fault through a gate would fail them for nothing.
        return Err(format!(
            "--fault replaces a drill's gate fault, and `{}` puts its fault in by how = \"{}\": run it without --fault, pick a gate drill (es_429_inject, es_bulk_partial, db_claim_contention, collector_down), or name no drill for the ad-hoc one",
            base.id,
            how_word(how)
        ));
    }
    file.fault.gate = Some(Spanned::new(
        0..0,
        crate::faults::line::to_lifted_line(&fault, lift),
    ));
    file.fault.key = words;
    file.fault.restore = "let the gate pass again".into();
    // Upstream's switches put the drill's own fault in, not this one.
    file.fault.worker_switches.clear();
    file.title = if base.id == "adhoc" {
        format!("the ad-hoc fault `{}`", line.trim())
    } else {
        format!("{} — with the ad-hoc fault `{}`", file.title, line.trim())
    };
    let body = toml::to_string(&file)
        .map_err(|error| format!("--fault: cannot write the drill: {error}"))?;
    Ok(format!(
        "# Drill `{}` with its gate's fault replaced by --fault \"{}\" (drill-cockpit wrote this file).\n\n{body}",
        base.id,
        line.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
id = "tiny"
title = "a tiny drill"

[fault]
how = "gate"
gate = "abort 503 on bulk for 5s"
key = "gate: 503"
restore = "let the gate pass again"

[checks]
order = ["schema_marker", "counters", "end_state"]
effect = "failed_delta"
reasons = ["es_5xx"]
end = { state = "done", title = "the event ends done" }

[[checks.counter]]
id = "failed_delta"
title = "failed Δ≥1"
metric = "outbox_failed_total"
series = "drill_reasons"
at_least = 1
"#;

    fn error_of(text: &str) -> DrillError {
        parse("x.toml", text).expect_err("a broken file")
    }

    #[test]
    fn a_small_file_makes_its_drill() {
        use std::time::Duration;
        let drill = load("tiny.toml", SMALL).unwrap();
        assert_eq!(drill.id, "tiny");
        assert_eq!(drill.inject, Inject::Gate);
        assert_eq!(drill.lift_after, Some(Duration::from_secs(5)));
        assert_eq!(drill.counters[0].bound, 1.0);
        assert!(drill.counters[0].at_least);
        assert_eq!(drill.file, SMALL);
    }

    #[test]
    fn an_unknown_key_is_placed_and_gets_a_did_you_mean() {
        let error = error_of(&SMALL.replace("title = \"a tiny", "tittle = \"a tiny"));
        assert_eq!((error.line, error.column), (3, 1), "{error}");
        assert!(
            error
                .message
                .contains("unknown key `tittle` (did you mean `title`?)"),
            "{error}"
        );
        assert!(error.to_string().starts_with("x.toml:3:1: "), "{error}");
        assert!(error.excerpt.contains("^^^^^^"), "{error}");
    }

    #[test]
    fn a_wrong_type_is_placed() {
        let error = error_of(&SMALL.replace("at_least = 1", "at_least = \"one\""));
        assert_eq!((error.line, error.column), (22, 12), "{error}");
        assert!(error.message.contains("invalid type"), "{error}");
        assert!(error.message.ends_with("expected a number"), "{error}");
        let error = error_of(&SMALL.replace("restore = \"let the gate pass again\"\n", ""));
        assert!(
            error
                .message
                .starts_with("missing key `restore`: add restore = "),
            "{error}"
        );
    }

    #[test]
    fn a_metric_the_contract_does_not_have_is_named_with_the_closest() {
        let error = error_of(&SMALL.replace(
            "metric = \"outbox_failed_total\"",
            "metric = \"outbox_failed_totals\"",
        ));
        assert_eq!((error.line, error.column), (20, 10), "{error}");
        assert!(
            error
                .message
                .contains("did you mean `outbox_failed_total`?"),
            "{error}"
        );
    }

    #[test]
    fn mistakes_serde_cannot_see_are_placed_too() {
        for (from, to, expected) in [
            ("how = \"gate\"", "how = \"gat\"", "did you mean `gate`?"),
            (
                "abort 503 on bulk",
                "abort 503 on bluk",
                "did you mean 'bulk'",
            ),
            (
                "\"end_state\"]",
                "\"end_stat\"]",
                "did you mean `end_state`?",
            ),
            (
                "series = \"drill_reasons\"",
                "labels = { reason = [\"x\"] }\nseries = \"all\"",
                "exactly one of",
            ),
            ("at_least = 1", "", "exactly one bound"),
            ("state = \"done\"", "state = \"failed\"", "add reason"),
            ("id = \"tiny\"", "id = \"Tiny Drill\"", "lowercase letters"),
        ] {
            let text = SMALL.replace(from, to);
            assert_ne!(text, SMALL, "{from}");
            let error = error_of(&text);
            assert!(error.message.contains(expected), "{from} → {to}: {error}");
            assert!(error.line > 1, "{error}");
        }
    }

    #[test]
    fn a_drill_that_passes_without_its_fault_is_refused() {
        for (from, to, expected) in [
            // No checks at all.
            (
                "order = [\"schema_marker\", \"counters\", \"end_state\"]",
                "order = []",
                "order is empty",
            ),
            // An effect every quiet run has.
            (
                "effect = \"failed_delta\"",
                "effect = \"schema_marker\"",
                "passes on a run the fault never reached",
            ),
            (
                "effect = \"failed_delta\"",
                "effect = \"end_state\"",
                "passes on a run the fault never reached",
            ),
            // A counter effect that zero satisfies.
            ("at_least = 1", "at_most = 3", "bounded with at_most"),
            // A bound that always holds.
            ("at_least = 1", "at_least = 0", "always holds"),
            // Two checks of one id: which one is the effect?
            (
                "at_least = 1\n",
                "at_least = 1\n[[checks.counter]]\nid = \"failed_delta\"\ntitle = \"t\"\nmetric = \"outbox_processed_total\"\nseries = \"all\"\nat_most = 0\n",
                "already taken",
            ),
            (
                "\"counters\", \"end_state\"]",
                "\"counters\", \"counters\", \"end_state\"]",
                "twice",
            ),
        ] {
            let text = SMALL.replace(from, to);
            assert_ne!(text, SMALL, "{from}");
            let error = load("x.toml", &text).expect_err(to);
            assert!(error.message.contains(expected), "{from} → {to}: {error}");
            assert!(error.line > 1, "placed: {error}");
        }
    }

    #[test]
    fn a_log_line_pattern_without_a_group_to_count_is_refused() {
        let text = SMALL.replace("effect = \"failed_delta\"", "effect = \"seen\"")
            + "\n[[checks.log_line]]\nid = \"seen\"\ntitle = \"seen\"\npattern = 'Reclaimed \\d+'\n";
        let text = text.replace("\"end_state\"]", "\"end_state\", \"seen\"]");
        let error = load("x.toml", &text).expect_err("no group");
        assert!(error.message.contains("pattern has no group"), "{error}");
        assert!(
            load(
                "x.toml",
                &text.replace("Reclaimed \\d+", "Reclaimed (\\d+)")
            )
            .is_ok()
        );
    }

    #[test]
    fn a_drill_with_another_fault_is_checked_like_any_file() {
        let base = load("tiny.toml", SMALL).unwrap();
        let text = with_fault(base, "latency 2s first 1").unwrap();
        let drill = load("adhoc", &text).unwrap();
        assert_eq!(
            drill.gate_fault,
            crate::faults::line::parse("latency 2s first 1").ok()
        );
        assert_eq!(drill.lift_after, None);
        assert_eq!(drill.counters, base.counters);
        assert!(
            with_fault(base, "abort 42")
                .unwrap_err()
                .starts_with("--fault: ")
        );
    }
}
