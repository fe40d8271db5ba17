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
}

/// The checklist's words for the scenario's counter checks (fixed text, so the pane,
/// the report and `verify` say the same).
#[derive(Debug, Clone, Copy)]
pub struct Titles {
    pub retry: &'static str,
    pub failed: &'static str,
    pub terminal: &'static str,
    pub recovered: &'static str,
}

#[derive(Debug)]
pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub inject: Inject,
    /// The event the drill inserts once the fault is in.
    pub trigger: Op,
    /// The `reason` labels the counter checks sum.
    pub reasons: &'static [&'static str],
    /// Upstream's observed-key suffix (`outbox_failed_total_reason_<suffix>`).
    pub observed_suffix: &'static str,
    pub titles: Titles,
    /// What restoring is called in the journal and on screen.
    pub restore: &'static str,
}

impl Scenario {
    /// Whether the worker must reach Elasticsearch through the fault gate.
    pub fn needs_gate(&self) -> bool {
        matches!(self.inject, Inject::Gate429)
    }
}

pub const ES_DOWN_CONNECT: Scenario = Scenario {
    id: "es_down_connect",
    title: "Elasticsearch is down (connection refused)",
    inject: Inject::StopEs,
    trigger: Op::Delete,
    reasons: super::ES_DOWN_REASONS,
    observed_suffix: "es_connect_or_unreachable",
    titles: Titles {
        retry: "retry_scheduled{es_connect|es_unreachable} Δ≥1",
        failed: "failed{es_connect|es_unreachable} Δ≥1",
        terminal: "terminal_failed{es_connect|es_unreachable} Δ=0",
        recovered: "after `start es` the event reaches done",
    },
    restore: "start Elasticsearch",
};

pub const ES_429_INJECT: Scenario = Scenario {
    id: "es_429_inject",
    title: "Elasticsearch pushes back (HTTP 429)",
    inject: Inject::Gate429,
    trigger: Op::Upsert,
    reasons: &["es_429"],
    observed_suffix: "es_429",
    titles: Titles {
        retry: "retry_scheduled{es_429} Δ≥1",
        failed: "failed{es_429} Δ≥1",
        terminal: "terminal_failed{es_429} Δ=0",
        recovered: "after the gate passes again the event reaches done",
    },
    restore: "let the gate pass again",
};

/// The scenarios this build can run and grade as its own.
pub const RUNNABLE: [&Scenario; 2] = [&ES_DOWN_CONNECT, &ES_429_INJECT];

/// The scenario with this id, or an error naming the ones there are.
pub fn find(id: &str) -> Result<&'static Scenario, String> {
    RUNNABLE.into_iter().find(|s| s.id == id).ok_or_else(|| {
        format!(
            "scenario `{}` is not supported by this build; supported: {}",
            crate::sanitize::one_line(id, 80),
            RUNNABLE.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
        )
    })
}
