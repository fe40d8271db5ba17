//! Drills as data: what each scenario injects, how it triggers, which failure reasons
//! its checks count, and the words its checklist uses. The session, `run` and `verify`
//! are generic over it; adding a drill is one entry here (and its tests).

use crate::db::outbox::Op;

/// How a scenario puts its fault in, from outside the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inject {
    /// Stop the compose service of Elasticsearch; restore = start it.
    StopEs,
    /// The fault gate answers every write with HTTP 429; restore = the gate passes.
    Gate429,
    /// `index.blocks.write=true` on the index through the ES API; restore = `false`.
    WriteBlock,
    /// No fault: the drill is in its events (the same delete twice, a stale version).
    Nothing,
    /// A second gate, in front of the trace collector, refuses connections; it is put in
    /// before the worker starts (a worker may probe its collector once, at start).
    CollectorRefused,
    /// The gate forwards each `_bulk` and rewrites one item of the real answer to a 400
    /// (bulk on, two events in one claim); restore = the gate passes.
    GateBulkPartial,
    /// The gate holds the first write longer than the lease, so the lease expires under
    /// the worker that claimed and the other worker reclaims; restore = the gate passes.
    GateSlowerThanLease,
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
#[derive(Debug, Clone, Copy)]
pub struct LogLine {
    pub id: &'static str,
    pub title: &'static str,
    pub pattern: &'static str,
    /// Only worker 2's log counts (F: the reclaim must be the other worker's).
    pub worker2: bool,
}

/// Which series of a counter a check sums.
#[derive(Debug, Clone, Copy)]
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
#[derive(Debug, Clone, Copy)]
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
#[derive(Debug, Clone, Copy)]
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

/// The checks of a drill whose event fails and is traced (A, B, C).
const TRACED_FAILURE: &[Check] = &[
    Check::SchemaMarker,
    Check::Counters,
    Check::TraceByEvent,
    Check::TraceByBatch,
    Check::LogTraceLink,
    Check::EndState,
];

/// The checks of a drill whose events all succeed and are traced (E, F, G).
const TRACED_SUCCESS: &[Check] = &[
    Check::SchemaMarker,
    Check::Counters,
    Check::TraceByEvent,
    Check::TraceByBatch,
    Check::EndState,
];

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

#[derive(Debug)]
pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub inject: Inject,
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

/// The defaults of the fields most drills leave alone (`..PLAIN`).
const PLAIN: Scenario = Scenario {
    id: "",
    title: "",
    inject: Inject::Nothing,
    trigger: Op::Upsert,
    then: &[],
    versions: &[],
    document_version: None,
    checks: TRACED_SUCCESS,
    reasons: &[],
    observed_suffix: "any",
    counters: &[],
    batch_result: "ok",
    ends: Ends::Done,
    end_title: "the event ends done",
    restore: "nothing to take out",
    inject_words: "",
    together: 1,
    workers: Workers::One,
    worker_env: &[],
    effect: "",
    batch_result_required: true,
    worker_switches: &[],
};

impl Scenario {
    /// Whether the worker must reach Elasticsearch through the fault gate.
    pub fn needs_gate(&self) -> bool {
        matches!(
            self.inject,
            Inject::Gate429
                | Inject::GateBulkPartial
                | Inject::GateSlowerThanLease
                | Inject::KillClaimingWorker
        ) || self.document_version.is_some()
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
            Inject::Nothing | Inject::KillClaimingWorker | Inject::CollectorRefused
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
        matches!(self.inject, Inject::CollectorRefused)
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

/// retry ≥ 1, failed ≥ 1, terminal = 0: a transient failure (A, B).
macro_rules! transient {
    ($reasons:literal) => {
        &[
            Counter {
                id: "retry_delta",
                title: concat!("retry_scheduled{", $reasons, "} Δ≥1"),
                metric: "outbox_retry_scheduled_total",
                series: Series::ScenarioReasons,
                at_least: true,
                bound: 1.0,
            },
            Counter {
                id: "failed_delta",
                title: concat!("failed{", $reasons, "} Δ≥1"),
                metric: "outbox_failed_total",
                series: Series::ScenarioReasons,
                at_least: true,
                bound: 1.0,
            },
            Counter {
                id: "terminal_delta",
                title: concat!("terminal_failed{", $reasons, "} Δ=0"),
                metric: "outbox_terminal_failed_total",
                series: Series::ScenarioReasons,
                at_least: false,
                bound: 0.0,
            },
        ]
    };
}

/// failed Δ=0 over every reason: the drills where nothing may fail.
const NOTHING_FAILED: Counter = Counter {
    id: "failed_delta",
    title: "failed Δ=0 (any reason)",
    metric: "outbox_failed_total",
    series: Series::All,
    at_least: false,
    bound: 0.0,
};

pub const ES_DOWN_CONNECT: Scenario = Scenario {
    id: "es_down_connect",
    title: "Elasticsearch is down (connection refused)",
    inject: Inject::StopEs,
    trigger: Op::Delete,
    then: &[],
    versions: &[],
    document_version: None,
    reasons: super::ES_DOWN_REASONS,
    observed_suffix: "es_connect_or_unreachable",
    counters: transient!("es_connect|es_unreachable"),
    batch_result: "retry",
    ends: Ends::Done,
    end_title: "after `start es` the event reaches done",
    inject_words: "stop Elasticsearch (compose stop)",
    restore: "start Elasticsearch",
    effect: "retry_delta",
    checks: TRACED_FAILURE,
    ..PLAIN
};

pub const ES_429_INJECT: Scenario = Scenario {
    id: "es_429_inject",
    title: "Elasticsearch pushes back (HTTP 429)",
    inject: Inject::Gate429,
    trigger: Op::Upsert,
    then: &[],
    versions: &[],
    document_version: None,
    reasons: &["es_429"],
    observed_suffix: "es_429",
    counters: transient!("es_429"),
    batch_result: "retry",
    ends: Ends::Done,
    end_title: "after the gate passes again the event reaches done",
    inject_words: "gate: answer every write 429",
    restore: "let the gate pass again",
    effect: "retry_delta",
    checks: TRACED_FAILURE,
    worker_switches: &[
        ("OUTBOX_EXPERIMENT_ES_429_EVERY_N", "1"),
        ("OUTBOX_EXPERIMENT_ES_429_OPS", "upsert"),
        ("OUTBOX_EXPERIMENT_ES_429_SEED", "1"),
    ],
    ..PLAIN
};

pub const ES_WRITE_BLOCK_4XX: Scenario = Scenario {
    id: "es_write_block_4xx",
    title: "the index refuses writes (a deterministic 4xx)",
    inject: Inject::WriteBlock,
    trigger: Op::Upsert,
    then: &[],
    versions: &[],
    document_version: None,
    reasons: &["es_4xx"],
    observed_suffix: "es_4xx",
    counters: &[
        Counter {
            id: "failed_delta",
            title: "failed{es_4xx} Δ≥1",
            metric: "outbox_failed_total",
            series: Series::ScenarioReasons,
            at_least: true,
            bound: 1.0,
        },
        Counter {
            id: "retry_delta",
            title: "retry_scheduled{es_4xx} Δ=0 (a 4xx is not retried)",
            metric: "outbox_retry_scheduled_total",
            series: Series::ScenarioReasons,
            at_least: false,
            bound: 0.0,
        },
    ],
    batch_result: "failed",
    ends: Ends::Failed { reason: "es_4xx" },
    end_title: "the event ends terminal failed with reason es_4xx",
    inject_words: "block writes to the index (index.blocks.write)",
    restore: "lift the index write block",
    effect: "failed_delta",
    checks: TRACED_FAILURE,
    ..PLAIN
};

pub const DUPLICATE_DELIVERY: Scenario = Scenario {
    id: "duplicate_delivery",
    title: "the same delete delivered twice",
    inject: Inject::Nothing,
    trigger: Op::Upsert,
    then: &[Op::Delete, Op::Delete],
    versions: &[],
    document_version: None,
    reasons: &["es_404"],
    observed_suffix: "es_404",
    counters: &[
        Counter {
            id: "noop_delta",
            title: "idempotent_noop{es_404} Δ≥1 (the second delete)",
            metric: "outbox_idempotent_noop_total",
            series: Series::ScenarioReasons,
            at_least: true,
            bound: 1.0,
        },
        Counter {
            id: "processed_delta",
            title: "processed Δ≥3 (upsert + two deletes)",
            metric: "outbox_processed_total",
            series: Series::All,
            at_least: true,
            bound: 3.0,
        },
        NOTHING_FAILED,
    ],
    batch_result: "ok",
    ends: Ends::Done,
    end_title: "the second delete ends done",
    restore: "nothing to take out",
    effect: "noop_delta",
    checks: TRACED_SUCCESS,
    ..PLAIN
};

pub const PROJECTION_VERSION: Scenario = Scenario {
    id: "projection_version",
    title: "an older version replayed after a newer one",
    inject: Inject::Nothing,
    trigger: Op::Upsert,
    then: &[Op::Upsert],
    versions: &[2, 1],
    document_version: Some(2),
    reasons: &["es_409"],
    observed_suffix: "es_409",
    // A 409 no-op (external versions) is one way to keep the newer document; a re-read
    // of the current row is another: how it held is reported, the document decides.
    counters: &[NOTHING_FAILED],
    batch_result: "ok",
    ends: Ends::Done,
    end_title: "the replayed event ends done",
    restore: "nothing to take out",
    effect: "replay_done",
    checks: &[
        Check::SchemaMarker,
        Check::Counters,
        Check::TraceByEvent,
        Check::TraceByBatch,
        Check::EndState,
        Check::ReplayDone,
        Check::DocumentKept,
    ],
    ..PLAIN
};

pub const COLLECTOR_DOWN: Scenario = Scenario {
    id: "collector_down",
    title: "the trace collector is down",
    inject: Inject::CollectorRefused,
    trigger: Op::Upsert,
    then: &[],
    versions: &[],
    document_version: None,
    reasons: &[],
    observed_suffix: "any",
    counters: &[
        Counter {
            id: "processed_delta",
            title: "processed Δ≥1 (processing goes on without traces)",
            metric: "outbox_processed_total",
            series: Series::All,
            at_least: true,
            bound: 1.0,
        },
        NOTHING_FAILED,
    ],
    batch_result: "ok",
    ends: Ends::Done,
    end_title: "the event ends done",
    inject_words: "gate: refuse the trace collector's connections",
    restore: "let the collector's gate pass again (the session ends with it refusing)",
    effect: "collector_refused",
    checks: &[
        Check::SchemaMarker,
        Check::Counters,
        Check::EndState,
        Check::CollectorRefused,
        Check::NoTraces,
    ],
    ..PLAIN
};

pub const ES_BULK_PARTIAL: Scenario = Scenario {
    id: "es_bulk_partial",
    title: "one poison item in a bulk request (a partial _bulk)",
    inject: Inject::GateBulkPartial,
    trigger: Op::Upsert,
    reasons: &["es_4xx"],
    observed_suffix: "es_4xx",
    counters: &[
        Counter {
            id: "bulk_partial_delta",
            title: "es_bulk_requests{result=partial} Δ≥1",
            metric: "outbox_es_bulk_requests_total",
            series: Series::Labels(&[("result", &["partial"])]),
            at_least: true,
            bound: 1.0,
        },
        Counter {
            id: "items_success_delta",
            title: "es_bulk_items{result=success} Δ≥1 (the good item)",
            metric: "outbox_es_bulk_items_total",
            series: Series::Labels(&[("result", &["success"])]),
            at_least: true,
            bound: 1.0,
        },
        Counter {
            id: "items_failed_delta",
            title: "es_bulk_items{result=failed} Δ≥1 (the poison item)",
            metric: "outbox_es_bulk_items_total",
            series: Series::Labels(&[("result", &["failed"])]),
            at_least: true,
            bound: 1.0,
        },
        Counter {
            id: "item_failures_4xx_delta",
            title: "es_bulk_item_failures{failure_class=4xx} Δ≥1",
            metric: "outbox_es_bulk_item_failures_total",
            series: Series::Labels(&[("failure_class", &["4xx"])]),
            at_least: true,
            bound: 1.0,
        },
    ],
    batch_result: "partial",
    ends: Ends::OnePoisoned { reason: "es_4xx" },
    end_title: "the poison row ends failed (es_4xx), the good row done",
    inject_words: "gate: answer item 0 of every _bulk 400",
    restore: "let the gate pass again",
    together: 2,
    worker_env: &[("OUTBOX_USE_ES_BULK", "1")],
    effect: "bulk_partial_delta",
    batch_result_required: false,
    checks: &[
        Check::SchemaMarker,
        Check::Counters,
        Check::TraceByBatch,
        Check::EndState,
    ],
    worker_switches: &[
        ("OUTBOX_EXPERIMENT_ES_BULK_PARTIAL", "1"),
        ("OUTBOX_EXPERIMENT_ES_BULK_PARTIAL_STATUS", "400"),
    ],
    ..PLAIN
};

pub const DB_CLAIM_CONTENTION: Scenario = Scenario {
    id: "db_claim_contention",
    title: "two workers, a lease lost under one of them",
    inject: Inject::GateSlowerThanLease,
    trigger: Op::Upsert,
    counters: &[
        Counter {
            id: "owner_mismatch_delta",
            title: "owner_mismatch_skips Δ≥1 (both workers: a lost lease not finalized)",
            metric: "outbox_owner_mismatch_skips_total",
            series: Series::All,
            at_least: true,
            bound: 1.0,
        },
        Counter {
            id: "processed_delta",
            title: "processed Δ≥1 (both workers)",
            metric: "outbox_processed_total",
            series: Series::All,
            at_least: true,
            bound: 1.0,
        },
        NOTHING_FAILED,
    ],
    end_title: "the event ends done",
    inject_words: "gate: hold the first write three leases long",
    restore: "let the gate pass again",
    workers: Workers::TwoFromStart,
    worker_env: &[
        ("OUTBOX_LEASE_SECONDS", "1"),
        ("OUTBOX_RECLAIM_INTERVAL_SECONDS", "0.25"),
        ("OUTBOX_ES_TIMEOUT_SECONDS", "30"),
    ],
    effect: "owner_mismatch_delta",
    checks: &[
        Check::SchemaMarker,
        Check::Counters,
        Check::FinalizedOnce,
        Check::TraceByEvent,
        Check::TraceByBatch,
        Check::EndState,
    ],
    // Upstream's recipe: both workers claim the same rows; a lease longer than the
    // claim's and the processing's sleeps (the 1 s lease of the gate's way would expire
    // under every claim and no worker would ever finish).
    worker_switches: &[
        ("OUTBOX_EXPERIMENT_BREAK_CLAIM", "1"),
        ("OUTBOX_EXPERIMENT_BREAK_CLAIM_SLEEP_SECONDS", "1.2"),
        ("OUTBOX_EXPERIMENT_PROCESS_SLEEP_SECONDS", "1.2"),
        ("OUTBOX_LEASE_SECONDS", "30"),
        ("OUTBOX_POLL_INTERVAL_MS", "50"),
    ],
    ..PLAIN
};

pub const STUCK_RECLAIM: Scenario = Scenario {
    id: "stuck_reclaim",
    title: "a worker killed holding a claim; the other reclaims",
    inject: Inject::KillClaimingWorker,
    trigger: Op::Upsert,
    counters: &[
        Counter {
            id: "processed_delta",
            title: "processed Δ≥1 (the event processed after the reclaim)",
            metric: "outbox_processed_total",
            series: Series::All,
            at_least: true,
            bound: 1.0,
        },
        NOTHING_FAILED,
    ],
    end_title: "the reclaimed event ends done",
    inject_words: "kill -9 worker 1 holding a claim (worker 2 starts)",
    restore: "nothing to take out (a kill is not undone)",
    workers: Workers::SecondAfterClaim,
    worker_env: &[
        ("OUTBOX_LEASE_SECONDS", "4"),
        ("OUTBOX_RECLAIM_INTERVAL_SECONDS", "0.5"),
        ("OUTBOX_ES_TIMEOUT_SECONDS", "60"),
    ],
    effect: "reclaimed",
    checks: &[
        Check::SchemaMarker,
        Check::Counters,
        Check::LogLine(LogLine {
            id: "reclaimed",
            title: "worker 2 logs `Reclaimed N stuck outbox events`, N ≥ 1",
            pattern: r"Reclaimed\s+(\d+)\s+stuck\s+outbox\s+events",
            worker2: true,
        }),
        Check::TraceByEvent,
        Check::TraceByBatch,
        Check::EndState,
    ],
    worker_switches: &[("OUTBOX_EXPERIMENT_PROCESS_SLEEP_SECONDS", "8")],
    ..PLAIN
};

/// The scenarios this build can run and grade as its own, in the lab's order (`run all`).
pub const RUNNABLE: [&Scenario; 9] = [
    &ES_DOWN_CONNECT,
    &ES_429_INJECT,
    &ES_WRITE_BLOCK_4XX,
    &ES_BULK_PARTIAL,
    &DB_CLAIM_CONTENTION,
    &STUCK_RECLAIM,
    &DUPLICATE_DELIVERY,
    &PROJECTION_VERSION,
    &COLLECTOR_DOWN,
];

/// The scenario with this id, or an error naming the closest one and the ones there are.
pub fn find(id: &str) -> Result<&'static Scenario, String> {
    RUNNABLE.into_iter().find(|s| s.id == id).ok_or_else(|| {
        let closest = RUNNABLE
            .iter()
            .map(|s| (crate::config::spec::edit_distance(id, s.id), s.id))
            .filter(|(distance, _)| *distance <= 5)
            .min()
            .map(|(_, id)| format!(" Did you mean `{id}`?"))
            .unwrap_or_default();
        format!(
            "scenario `{}` is not supported by this build.{closest} Supported: {}",
            crate::sanitize::one_line(id, 80),
            RUNNABLE.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::{Missing, Observations, grade};

    #[test]
    fn every_drill_lists_the_check_that_shows_its_fault_had_its_effect() {
        for scenario in RUNNABLE {
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

    #[test]
    fn an_unknown_scenario_gets_a_did_you_mean() {
        let error = find("es_down_conect").unwrap_err();
        assert!(error.contains("Did you mean `es_down_connect`?"), "{error}");
    }
}
