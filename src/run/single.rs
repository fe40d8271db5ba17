//! `drill-cockpit run <scenario>`: the whole runbook without a human, for any scenario
//! of `drill::scenario`. Baseline, inject the fault, insert the trigger events (or
//! inject once a worker holds a claim), observe until the checks are decided, freeze,
//! restore, wait for recovery, final freeze, verdict. Progress goes to stderr;
//! the exit code is the verdict. The fault is taken out again whatever happens
//! (failure, Ctrl-C, SIGTERM, SIGHUP, a panic).

use std::path::Path;
use std::time::Duration;

use futures::FutureExt;

use crate::config::Profile;
use crate::db::outbox::Op;
use crate::drill::scenario::Inject;
use crate::drill::{CheckStatus, Missing, Verdict};
use crate::session::Session;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenario: String,
    /// How long to observe the outage at most.
    pub duration: Duration,
    /// The trigger event's op; `None` = the scenario's own.
    pub op: Option<Op>,
    /// Keep only the newest N run directories of the scenario (after this run).
    pub keep_last: Option<usize>,
    /// How long to wait for the event to reach `done` after ES is back.
    pub recovery_timeout: Duration,
    /// A control run: everything but the fault (for a drill whose fault is in its
    /// events, without the last of them). Its verdict must be FAILED: the checks are
    /// not passed by a pipeline that was never hurt.
    pub control: bool,
    /// Put the fault in with upstream's in-worker switches (B, D, E, F) instead of from
    /// outside; drills without such a switch are injected from outside.
    pub inject_in_worker: bool,
}

fn say(message: &str) {
    tracing::info!("{message}");
    eprintln!("[{}] {message}", chrono::Local::now().format("%H:%M:%S"));
}

/// Why a drill stopped before its end: it could not run at all (infrastructure, the
/// worker), or it ran and went wrong (an event that never got done).
#[derive(Debug, Clone)]
enum Stop {
    CouldNotRun(String),
    Failed(String),
}

impl Stop {
    fn message(&self) -> &str {
        match self {
            Stop::CouldNotRun(message) | Stop::Failed(message) => message,
        }
    }
}

impl From<&str> for Stop {
    fn from(message: &str) -> Stop {
        Stop::Failed(message.to_string())
    }
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Failed(message)
    }
}

/// Marks an error of setting the drill up: the drill could not run.
fn could_not_run(message: String) -> Stop {
    Stop::CouldNotRun(message)
}

/// How one headless drill ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The process exit code: 0 passed, 1 failed, 3 could not run, 129/130/143
    /// interrupted.
    pub code: u8,
    pub dir: std::path::PathBuf,
    /// The numbers that decided, in one line (`retry_delta=1 failed_delta=2 …`).
    pub deciding: String,
    /// Why it failed, when it did: the checks that did not pass, or the error.
    pub why: Option<String>,
}

/// The checks' deltas in one line.
fn deciding(verdict: &Verdict) -> String {
    verdict
        .checks
        .iter()
        .filter_map(|c| c.delta.map(|d| format!("{}={d}", c.id)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The checks that did not pass, by id.
fn not_passed(verdict: &Verdict) -> Option<String> {
    let ids: Vec<&str> = verdict
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed)
        .map(|c| c.id)
        .collect();
    (!ids.is_empty()).then(|| ids.join(", "))
}

/// Runs one drill; see [`Outcome`].
pub async fn run(profile: Profile, options: RunOptions) -> anyhow::Result<Outcome> {
    let drill = crate::drill::scenario::find(&options.scenario).map_err(anyhow::Error::msg)?;
    if !matches!(
        crate::drill::catalog::origin(drill.id),
        Some(crate::drill::catalog::Origin::BuiltIn) | None
    ) {
        say(&format!(
            "drill `{}` from {}",
            drill.id,
            crate::drill::catalog::origin(drill.id)
                .map(|o| o.to_string())
                .unwrap_or_default()
        ));
    }
    let mut session = Session::create(profile, drill)?;
    session.control = options.control;
    session.inject_in_worker = options.inject_in_worker && !drill.worker_switches.is_empty();
    say(&format!("run directory {}", session.run.dir.display()));
    // What a session killed with SIGKILL left (a write block, a stopped container, an
    // orphan worker or cluster) is restored before this drill touches anything.
    for line in session.sweep_leftovers().await {
        say(&line);
    }

    // A panic inside the drill is an outcome too: the faults are restored all the same.
    let driven = std::panic::AssertUnwindSafe(drive(&mut session, &options)).catch_unwind();
    let mut interrupted = None;
    let outcome = tokio::select! {
        result = driven => Some(result.unwrap_or_else(|panic| Err(Stop::Failed(format!(
            "the drill panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        ))))),
        signal = stop_signal() => {
            interrupted = Some(signal);
            None
        }
    };
    // Whatever happened: the fault taken out again, the worker stopped.
    if session.fault_active() {
        say(&format!("restoring: {}", session.drill.restore));
        if let Err(error) = session.restore().await {
            say(&format!(
                "could not {}: {error}. For ES: docker compose -f {} start {}",
                session.drill.restore,
                session.profile.compose_file.display(),
                session.profile.es_service
            ));
        }
    }
    // A signal between applying a fault and remembering it: the state file knows.
    for line in session.restore_recorded().await {
        say(&line);
    }
    let mut summary = (String::new(), None);
    let code = match outcome {
        None => {
            let (name, code) = interrupted.unwrap_or(("a signal", 130));
            say(&format!("interrupted by {name}: recording what there is"));
            session.journal(
                "note",
                serde_json::json!({"message": format!("interrupted by {name}")}),
            );
            let _ = session.freeze(true).await;
            summary.1 = Some(format!("interrupted by {name}"));
            code
        }
        Some(Err(stop)) => {
            let error = stop.message().to_string();
            let (words, code) = match stop {
                Stop::CouldNotRun(_) => ("the drill could not run", crate::exit::COULD_NOT_RUN),
                Stop::Failed(_) => ("the drill could not complete", crate::exit::FAILED),
            };
            say(&format!("{words}: {error}"));
            session.journal("error", serde_json::json!({"message": error, "could_not_run": code == crate::exit::COULD_NOT_RUN}));
            summary.1 = Some(format!("{words}: {error}"));
            match session.freeze(true).await {
                Ok((dir, verdict)) => {
                    eprint!("{}", verdict.table());
                    say(&format!("evidence: {}", dir.display()));
                    summary.0 = deciding(&verdict);
                    code
                }
                Err(freeze_error) => {
                    say(&format!("the final freeze failed too: {freeze_error}"));
                    // No verdict was written: the drill was not graded at all.
                    crate::exit::COULD_NOT_RUN
                }
            }
        }
        Some(Ok(())) => match session.freeze(true).await {
            Ok((dir, verdict)) => {
                eprint!("{}", verdict.table());
                for check in verdict
                    .checks
                    .iter()
                    .filter(|c| c.status != CheckStatus::Passed)
                {
                    say(&format!(
                        "check `{}` {}: {}",
                        check.id,
                        check.status.label(),
                        crate::sanitize::one_line(&check.observed, 400)
                    ));
                }
                say(&format!("evidence: {}", dir.display()));
                summary = (deciding(&verdict), not_passed(&verdict));
                if verdict.ok { 0 } else { 1 }
            }
            Err(error) => {
                say(&format!("the final freeze failed: {error}"));
                // No verdict was written: the drill was not graded at all.
                summary.1 = Some(format!("the final freeze failed: {error}"));
                crate::exit::COULD_NOT_RUN
            }
        },
    };
    if let Err(error) = session.close().await {
        say(&error);
    }
    if let Some(keep) = options.keep_last {
        prune(
            &session.profile.snapshots_dir.join(&options.scenario),
            keep,
            &session.run.dir,
        );
    }
    Ok(Outcome {
        code,
        dir: session.run.dir.clone(),
        deciding: summary.0,
        why: summary.1,
    })
}

/// The first of Ctrl-C, SIGTERM and SIGHUP: its name and the exit code it means.
async fn stop_signal() -> (&'static str, u8) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return ("Ctrl-C", 130);
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => ("Ctrl-C", 130),
        _ = term.recv() => ("SIGTERM", 143),
        _ = hup.recv() => ("SIGHUP", 129),
    }
}

/// What putting the drill's fault in looks like, in words.
fn injecting(session: &Session) -> String {
    if session.inject_in_worker && session.drill.inject != Inject::KillClaimingWorker {
        return format!(
            "the fault is in the worker's own switches since it started ({})",
            session
                .drill
                .worker_switches
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let gate = || {
        let fault = session
            .drill
            .gate_fault
            .as_ref()
            .map_or_else(|| "pass".to_string(), |f| f.describe());
        match session.drill.lift_after {
            Some(after) => format!("{fault}, lifted after {} s", after.as_secs_f64()),
            None => fault,
        }
    };
    match session.drill.inject {
        Inject::StopEs => format!("stopping `{}`", session.profile.es_service),
        Inject::Gate => format!("the fault gate in front of Elasticsearch: {}", gate()),
        Inject::WriteBlock => format!("blocking writes to index {}", session.profile.elastic_index),
        Inject::Nothing => "no fault: the drill is in its events".into(),
        Inject::CollectorGate => format!("the trace collector's gate: {}", gate()),
        Inject::KillClaimingWorker => {
            "waiting for worker 1 to claim; then worker 2 starts and worker 1 is killed (SIGKILL)"
                .into()
        }
    }
}

/// Waits until the drill's event (the last inserted) is `done`.
async fn wait_until_done(session: &Session, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if session.event_status().await.as_deref() == Some("done") {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn drive(session: &mut Session, options: &RunOptions) -> Result<(), Stop> {
    say("connecting to Postgres");
    session.connect_db().await.map_err(could_not_run)?;
    if session.profile.sandbox.is_some() {
        say(crate::sandbox::BANNER);
    } else {
        say("connecting to Docker");
    }
    match (session.connect_docker().await, session.drill.inject) {
        // The sandbox stops and starts its simulated ES itself.
        (Err(_), _) if session.profile.sandbox.is_some() => {}
        (Err(error), Inject::StopEs) => return Err(could_not_run(error)),
        // Drills through the gate need no container control.
        (Err(error), _) => say(&format!(
            "Docker not connected ({error}); this drill does not need it"
        )),
        (Ok(()), _) => {}
    }
    if let Err(error) = session.ensure_index().await {
        say(&format!("index check skipped: {error}"));
    }
    say(&format!(
        "starting {}: {}",
        if session.drill.workers == crate::drill::scenario::Workers::TwoFromStart {
            "two workers"
        } else {
            "the worker"
        },
        crate::sources::worker_proc::worker_command(&session.profile).join(" ")
    ));
    if options.control {
        say("CONTROL RUN: the fault is not put in; the verdict must come out FAILED");
        session.journal(
            "note",
            serde_json::json!({"message": "control run: the fault is not put in", "control": true}),
        );
    }
    let inject = !options.control;
    if inject && session.drill.injects_before_worker() {
        // The worker may look at its collector once, at start: the fault comes first.
        say(&injecting(session));
        session.inject().await.map_err(could_not_run)?;
    }
    session.start_worker().await;
    session
        .wait_for_metrics(Duration::from_secs(30))
        .await
        .map_err(|error| could_not_run(format!("the worker did not start: {error}")))?;
    session.take_baseline().await.map_err(could_not_run)?;
    say("baseline taken (_metrics/metrics-before*.txt)");

    let inject_now =
        !session.drill.injects_before_worker() && !session.drill.injects_after_trigger();
    if inject && inject_now {
        say(&injecting(session));
        session.inject().await.map_err(could_not_run)?;
    }
    let op = options.op.unwrap_or(session.drill.trigger);
    let id = session.insert_nth(0, op).await.map_err(could_not_run)?;
    say(&format!(
        "inserted {} {} event(s), the last {id}",
        session.drill.together.max(1),
        op.as_str()
    ));
    // Further events of the same entity, each once the previous one is done.
    let then = match (options.control, session.drill.then) {
        // The fault of these drills is their last event (a second delete, a replay).
        (true, [before @ .., _]) if session.drill.inject == Inject::Nothing => before,
        (_, all) => all,
    };
    // A replay drill probes the entity's document once each of its events is done.
    let probes = session.drill.document_version.is_some();
    for (n, &next) in then.iter().enumerate() {
        if !wait_until_done(session, Duration::from_secs(20)).await {
            return Err("the previous event did not reach done within 20 s".into());
        }
        if probes && let Some(&version) = session.drill.versions.get(n) {
            session.probe_document(version).await?;
        }
        let id = session.insert_nth(n + 1, next).await?;
        say(&format!(
            "inserted {} event {id} (same entity)",
            next.as_str()
        ));
    }
    if probes && let Some(&version) = session.drill.versions.get(then.len()) {
        if !wait_until_done(session, Duration::from_secs(20)).await {
            return Err("the last event did not reach done within 20 s".into());
        }
        session.probe_document(version).await?;
    }
    if inject && session.drill.injects_after_trigger() {
        say(&injecting(session));
        session.inject().await.map_err(could_not_run)?;
        say("worker 1 killed holding its claim; worker 2 runs");
    } else if session.drill.workers == crate::drill::scenario::Workers::SecondAfterClaim {
        // The control of F: worker 2 starts as in the drill, but worker 1 lives and
        // finishes its claim: there is nothing for worker 2 to reclaim.
        if !wait_until_done(session, Duration::from_secs(20)).await {
            return Err("worker 1 did not finish the event within 20 s".into());
        }
        session.start_second_worker().await;
        session
            .wait_for_metrics(Duration::from_secs(30))
            .await
            .map_err(could_not_run)?;
        session
            .take_second_baseline()
            .await
            .map_err(could_not_run)?;
        say("control: worker 2 started beside a live worker 1");
    }

    // Observe until everything that can pass during the outage has, or time is up.
    let deadline = tokio::time::Instant::now() + options.duration;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A fault that is lifted after a while comes out on time, observed or not.
        if session.lift_if_due().await? {
            say("the fault's time is up: lifted");
        }
        let observations = session.observe().await;
        let verdict = session.grade(&observations, Missing::Pending);
        let waiting: Vec<&str> = verdict
            .checks
            .iter()
            // A transient drill's last check waits for the restore; a terminal one's not.
            .filter(|c| {
                (c.id != "recovered" || !session.drill.recovers())
                    && c.status != CheckStatus::Passed
            })
            .map(|c| c.id)
            .collect();
        if waiting.is_empty() {
            say("outage evidence complete");
            if !session.drill.expects_traces() {
                // A span that does get through takes up to an export interval to show.
                say("waiting 6 s (a span export interval): no span of the event may arrive");
                tokio::time::sleep(Duration::from_secs(6)).await;
            }
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            say(&format!(
                "observation window over; still waiting for: {}",
                waiting.join(", ")
            ));
            break;
        }
    }
    let (dir, _) = session.freeze(false).await?;
    say(&format!(
        "froze the outage in {} in {} ms",
        dir.display(),
        session.last_freeze_ms.unwrap_or(0)
    ));

    if !session.drill.restorable() || !inject {
        return Ok(());
    }
    if let Some(at) = session.lift_due_at() {
        // The drill says how long its fault stays in: not less, even when the
        // outage's evidence was complete sooner.
        tokio::time::sleep_until(at).await;
        session.lift_if_due().await?;
        say("the fault's time is up: lifted");
    }
    if !session.lifted {
        say(&format!("restoring: {}", session.drill.restore));
        session.restore().await?;
    }
    if session.drill.inject == Inject::StopEs && !session.wait_for_es(Duration::from_secs(60)).await
    {
        return Err(could_not_run(format!(
            "Elasticsearch at {} did not answer within 60 s after start",
            session.profile.elastic_url
        )));
    }
    if !session.drill.recovers() {
        return Ok(());
    }
    if wait_until_done(session, options.recovery_timeout).await {
        say("the event reached done");
        // A short settle: the worker's counters and spans of the last attempt land.
        tokio::time::sleep(Duration::from_millis(300)).await;
    } else {
        say("the event did not reach done in time");
    }
    Ok(())
}

/// Deletes all but the newest `keep` run directories (never the current one).
fn prune(scenario_dir: &Path, keep: usize, current: &Path) {
    let mut runs: Vec<_> = std::fs::read_dir(scenario_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep.max(1));
    // A run another session still holds is never removed (its `.lock` is locked).
    for old in runs
        .into_iter()
        .take(excess)
        .filter(|p| p != current && !crate::evidence::write::held_by_live_session(p))
    {
        if std::fs::remove_dir_all(&old).is_ok() {
            say(&format!("removed old run {}", old.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNS: [&str; 5] = [
        "20260101T000000",
        "20260101T000001",
        "20260101T000002",
        "20260101T000002-2",
        ".staging-x",
    ];

    /// The runs of `RUNS`, the oldest but one with a `.lock` naming pid 1 (which always
    /// runs); the lock itself is held by the returned handle when `locked`.
    fn runs_with_a_lock(dir: &std::path::Path, locked: bool) -> Option<std::fs::File> {
        for run in RUNS {
            std::fs::create_dir(dir.join(run)).unwrap();
        }
        let lock = dir.join("20260101T000001/.lock");
        std::fs::write(&lock, "1").unwrap();
        locked.then(|| {
            let file = std::fs::File::open(&lock).unwrap();
            file.lock().unwrap();
            file
        })
    }

    fn left(dir: &std::path::Path) -> Vec<String> {
        let mut left: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        left
    }

    #[test]
    fn keep_last_prunes_the_oldest_runs_but_never_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        // A live session holds the oldest but one (its lock is held): it is spared.
        let _held = runs_with_a_lock(dir.path(), true);
        prune(dir.path(), 2, &dir.path().join("20260101T000000"));
        let mut all: Vec<&str> = RUNS.to_vec();
        all.sort();
        assert_eq!(left(dir.path()), all);
    }

    #[test]
    fn a_lock_naming_a_running_pid_that_nobody_holds_does_not_spare_a_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(runs_with_a_lock(dir.path(), false).is_none());
        prune(dir.path(), 2, &dir.path().join("20260101T000000"));
        assert_eq!(
            left(dir.path()),
            vec![
                ".staging-x",
                "20260101T000000",
                "20260101T000002",
                "20260101T000002-2"
            ]
        );
    }
}
