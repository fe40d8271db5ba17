//! Drills as data: what each scenario injects, how it triggers, which failure reasons
//! its checks count, and the words its checklist uses. The session, `run` and `verify`
//! are generic over it. A `Scenario` is only ever made from a drill file
//! (`drill::file`): the nine built-in ones are `assets/drills/*.toml`, and adding a
//! drill is writing a file (docs/DRILLS.md).

use std::time::Duration;

use crate::db::outbox::Op;
use crate::faults::Fault;

/// How a scenario puts its fault in, from outside the worker (a drill file's
/// `fault.how`). What a gate does is the drill's `gate_fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inject {
    /// Stop the compose service of Elasticsearch; restore = start it.
    StopEs,
    /// The fault gate in front of Elasticsearch does the drill's `gate_fault` (a 429 to
    /// every write, a poison bulk item, the first write held past the lease); restore =
    /// the gate passes.
    Gate,
    /// `index.blocks.write=true` on the index through the ES API; restore = `false`.
    WriteBlock,
    /// No fault: the drill is in its events (the same delete twice, a stale version).
    Nothing,
    /// A second gate, in front of the trace collector, does the drill's `gate_fault`
    /// (hang up on every connection); it is put in before the worker starts (a worker
    /// may probe its collector once, at start).
    CollectorGate,
    /// kill -9 of worker 1 once it holds a claim (the gate holds its write so it cannot
    /// finish first); worker 2, started then, reclaims the expired lease. Not undone.
    KillClaimingWorker,
}

/// How many workers a drill runs, and when the second one starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    One,
    /// Both from the start, on one table (claim contention).
    TwoFromStart,
    /// The second once the first holds a claim, just before the first is killed.
    SecondAfterClaim,
}

/// A line a worker must log, found by a regex whose first group is a count ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogLine {
    pub id: &'static str,
    pub title: &'static str,
    pub pattern: &'static str,
    /// Only worker 2's log counts (F: the reclaim must be the other worker's).
    pub worker2: bool,
}

/// Which series of a counter a check sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Series {
    /// Those whose `reason` is one of the scenario's.
    ScenarioReasons,
    /// Those whose `reason` is one of these.
    Reasons(&'static [&'static str]),
    /// Every series (any reason, or none).
    All,
    /// Those whose labels have one of the listed values each (`result="partial"`).
    Labels(&'static [(&'static str, &'static [&'static str])]),
}

/// A counter check: Δ of `metric` over the scenario's reasons, held against a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counter {
    pub id: &'static str,
    pub title: &'static str,
    pub metric: &'static str,
    pub series: Series,
    /// `true`: Δ ≥ bound; `false`: Δ ≤ bound.
    pub at_least: bool,
    pub bound: f64,
}

/// One acceptance check of a drill, in checklist order. Each has its own reader of the
/// evidence in `checks.rs`; a drill is the list of its checks, so a new drill adds no
/// branch to the grader.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// The contract's schema marker line in the log.
    SchemaMarker,
    /// Each of the scenario's `counters`.
    Counters,
    /// Every row of the drill ends done, finalized once (E).
    FinalizedOnce,
    /// A line a worker must log (F: worker 2's reclaim).
    LogLine(LogLine),
    /// The event's `outbox.process` span, by its id.
    TraceByEvent,
    /// The claim batch's span, by its id.
    TraceByBatch,
    /// An error line's trace and span ids name an exported span.
    LogTraceLink,
    /// How the event (or the drill's rows) ended: `ends` and `end_title`.
    EndState,
    /// The stale replay was delivered after the newer version and ended done (H).
    ReplayDone,
    /// The entity's document holds the scenario's `document_version` at the end (H).
    DocumentKept,
    /// The collector's gate turned the worker's export away (collector_down).
    CollectorRefused,
    /// No span of the event reached Jaeger (collector_down).
    NoTraces,
}

/// How the drilled event ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    /// `done` once the fault is taken out (a transient failure).
    Done,
    /// terminal `failed` with this reason while the fault is in (a deterministic one).
    Failed { reason: &'static str },
    /// Exactly one of the drill's events ends `failed` with this reason (the poison
    /// item), every other one `done`.
    OnePoisoned { reason: &'static str },
}

/// A drill, as its file says. The text fields are `'static` because a drill is read
/// once per process and lives as long as it (see `drill::file::leak`): the checks hand
/// its ids and titles on by reference, as they did when drills were constants.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub inject: Inject,
    /// What the gate does while the fault is in (`Gate`, `CollectorGate`).
    pub gate_fault: Option<Fault>,
    /// The fault is lifted this long after it went in (`… for 5s`), by the session.
    pub lift_after: Option<Duration>,
    /// The drill's file as it was read: recorded in each run (`_drill.toml`) so the run
    /// is graded later by the drill it ran, and printed by `drill show`.
    pub file: &'static str,
    /// The event the drill inserts once the fault is in.
    pub trigger: Op,
    /// More events of the same entity, each inserted once the previous one is done; the
    /// last one is the event under drill.
    pub then: &'static [Op],
    /// The `event_version` of each of those events in order (trigger first); empty =
    /// the insert helper's next version.
    pub versions: &'static [i64],
    /// The ES document of the entity must end at this version (a replay never regresses it).
    pub document_version: Option<i64>,
    /// Its acceptance checks, in checklist order.
    pub checks: &'static [Check],
    /// The `reason` labels the counter checks sum.
    pub reasons: &'static [&'static str],
    /// Upstream's observed-key suffix (`outbox_failed_total_reason_<suffix>`).
    pub observed_suffix: &'static str,
    /// The counter checks, in checklist order; the first `≥` one decides that the
    /// fault was seen at all.
    pub counters: &'static [Counter],
    /// The `result` the claim batch's span of a failed attempt carries.
    pub batch_result: &'static str,
    pub ends: Ends,
    /// The final check's words ("after `start es` the event reaches done").
    pub end_title: &'static str,
    /// What putting the fault in is called on its key (empty: the fault is in the
    /// drill's events, not a switch).
    pub inject_words: &'static str,
    /// What restoring is called in the journal and on screen.
    pub restore: &'static str,
    /// How many trigger events go in together, in one transaction (so one claim takes
    /// them all: the drill that needs two items in one `_bulk`).
    pub together: usize,
    pub workers: Workers,
    /// Settings the drill gives every worker it starts (bulk on, a short lease), set as
    /// the contract's environment variables after the profile's own.
    pub worker_env: &'static [(&'static str, &'static str)],
    /// The id of the check that shows the fault had its effect (a retry counted, the
    /// collector turned the worker away, the stale replay delivered): a run where it did
    /// not pass never passes, and a control run fails on it.
    pub effect: &'static str,
    /// Upstream's in-worker switches that put this drill's fault in from inside a worker
    /// that has them (`run --inject worker`; its lab tooling's way): empty = the drill
    /// is injected from outside only.
    pub worker_switches: &'static [(&'static str, &'static str)],
    /// Whether the batch span must say `batch_result` (the contract's values for a retry
    /// or a failed batch); when not, another result is a finding, not a failure (upstream's
    /// worker writes its bulk span's result after the span ended: it reads `ok`).
    pub batch_result_required: bool,
}

impl Scenario {
    /// Whether the worker must reach Elasticsearch through the fault gate.
    pub fn needs_gate(&self) -> bool {
        matches!(self.inject, Inject::Gate | Inject::KillClaimingWorker)
            || self.document_version.is_some()
        // A replay drill's writes go through the gate in pass mode: its record names
        // the document the worker wrote (whatever id scheme the worker uses).
    }

    /// Whether the fault goes in after the trigger (a worker must hold a claim first).
    pub fn injects_after_trigger(&self) -> bool {
        self.inject == Inject::KillClaimingWorker
    }

    /// Whether taking the fault out is a step of the drill (a kill is not undone).
    pub fn restorable(&self) -> bool {
        !matches!(
            self.inject,
            Inject::Nothing | Inject::KillClaimingWorker | Inject::CollectorGate
        )
    }

    /// How many workers run.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            Workers::One => 1,
            Workers::TwoFromStart | Workers::SecondAfterClaim => 2,
        }
    }

    /// Whether the fault must be in before the worker starts.
    pub fn injects_before_worker(&self) -> bool {
        matches!(self.inject, Inject::CollectorGate)
    }

    /// Whether the drill's spans reach Jaeger (not when the collector is the fault).
    pub fn expects_traces(&self) -> bool {
        !self.checks.iter().any(|c| matches!(c, Check::NoTraces))
    }

    /// Whether the drill waits for the event to recover after restoring.
    pub fn recovers(&self) -> bool {
        self.ends == Ends::Done && self.restorable()
    }
}

/// The drills this build runs as its lab (`run all`, the picker's first letters), in
/// the lab's order: the built-in files, each replaced by a user file of its id.
pub fn lab() -> Vec<&'static Scenario> {
    super::catalog::lab()
}

/// Every drill the catalog holds (the lab's, then the user's own): the cockpit's picker.
pub fn all() -> Vec<&'static Scenario> {
    super::catalog::entries().iter().map(|e| e.drill).collect()
}

/// The drill with this id (a user file's, else the built-in one), or an error naming
/// the closest one and the ones there are.
pub fn find(id: &str) -> Result<&'static Scenario, String> {
    super::catalog::find(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::{Missing, Observations, grade};

    #[test]
    fn every_drill_lists_the_check_that_shows_its_fault_had_its_effect() {
        for scenario in lab() {
            let verdict = grade(scenario, &Observations::default(), Missing::Failed);
            assert!(
                verdict.checks.iter().any(|c| c.id == scenario.effect),
                "{}: no check `{}` among {:?}",
                scenario.id,
                scenario.effect,
                verdict.checks.iter().map(|c| c.id).collect::<Vec<_>>()
            );
            assert!(
                !verdict.ok,
                "{}: nothing observed must not pass",
                scenario.id
            );
        }
    }
}
