//! Quitting while the drill is undecided: when the drill's event retries next, the
//! question `q` asks while checks are pending, and the waited quit's countdown.
//! Pure: the snapshot and a clock in, words and instants out.

use chrono::{DateTime, TimeDelta, Utc};

use crate::cockpit::engine::Snapshot;
use crate::cockpit::tally::pending_checks;
use crate::db::outbox::OutboxRow;

/// After the event's next retry, how long the worker, the outbox poll, the scrape and
/// the Jaeger poll may take to show its outcome.
const WAIT_MARGIN: TimeDelta = TimeDelta::seconds(15);
/// The waited quit never waits longer than this.
const WAIT_AT_MOST: TimeDelta = TimeDelta::seconds(60);

/// The titles of the checks still pending.
pub fn pending_titles(snapshot: &Snapshot) -> Vec<&'static str> {
    snapshot
        .checklist
        .as_ref()
        .map(|verdict| pending_checks(verdict).iter().map(|c| c.title).collect())
        .unwrap_or_default()
}

/// The outbox row of the drill's event.
fn drill_event_row(snapshot: &Snapshot) -> Option<&OutboxRow> {
    let id = snapshot.event_id.as_deref()?;
    match &snapshot.outbox {
        Some(Ok((_, rows))) => rows.iter().find(|r| r.id.to_string() == id),
        _ => None,
    }
}

/// When the drill's event is tried again: only while it waits for a retry.
fn next_retry_at(snapshot: &Snapshot) -> Option<DateTime<Utc>> {
    drill_event_row(snapshot)
        .filter(|row| row.status == "pending")
        .and_then(|row| row.next_retry_at)
}

/// `the event retries in 7 s (next_retry_at 12:00:03 UTC)`: once the fault is out
/// (ES started again) and a check still waits for the event.
pub fn retry_words(snapshot: &Snapshot, now: DateTime<Utc>) -> Option<String> {
    if snapshot.es_stopped || snapshot.fault_in || pending_titles(snapshot).is_empty() {
        return None;
    }
    let at = next_retry_at(snapshot)?;
    let clock = at.format("%H:%M:%S UTC");
    let millis = (at - now).num_milliseconds();
    Some(if millis > 0 {
        format!(
            "the event retries in {} s (next_retry_at {clock})",
            seconds_up(millis)
        )
    } else {
        format!(
            "the event's retry is due now (next_retry_at {clock}): the worker claims it on its next poll"
        )
    })
}

/// How long `w` waits at most: the event's next retry and a margin, never over a minute.
pub fn wait_until(snapshot: &Snapshot, now: DateTime<Utc>) -> DateTime<Utc> {
    let retry = next_retry_at(snapshot).map_or(now, |at| at.max(now));
    (retry + WAIT_MARGIN).min(now + WAIT_AT_MOST)
}

/// The waited quit: when `w` was pressed and when it gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuitWait {
    pub began: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl QuitWait {
    pub fn begin(snapshot: &Snapshot, now: DateTime<Utc>) -> QuitWait {
        QuitWait {
            began: now,
            until: wait_until(snapshot, now),
        }
    }

    /// Follows the event as newer outbox reads come in. The read `w` was pressed on
    /// can be a poll old (the outbox is read each second), from before the worker
    /// scheduled the retry: a retry due later, or an attempt in flight, moves the end
    /// later. Never earlier, and never past a minute from `w`.
    pub fn follow(self, snapshot: &Snapshot, now: DateTime<Utc>) -> QuitWait {
        let proposed = match drill_event_row(snapshot) {
            Some(row) if row.status == "pending" => row.next_retry_at.map(|at| at + WAIT_MARGIN),
            // Claimed: its outcome is on its way, while its lease holds (a worker that
            // died holding it does not hold the quit past its lease).
            Some(row) if row.status == "processing" => {
                let on = now + WAIT_MARGIN;
                Some(
                    row.lease_until
                        .map_or(on, |lease| on.min(lease + WAIT_MARGIN)),
                )
            }
            _ => None,
        };
        let until = proposed
            .map_or(self.until, |at| at.max(self.until))
            .min(self.began + WAIT_AT_MOST);
        QuitWait { until, ..self }
    }
}

/// The question `q` asks while checks are pending.
pub fn pending_question(snapshot: &Snapshot, now: DateTime<Utc>) -> String {
    let titles = pending_titles(snapshot);
    let retry = retry_words(snapshot, now)
        .map(|words| format!(" Now {words}."))
        .unwrap_or_default();
    format!(
        "{} check(s) still pending: {}.{retry}\n\nw: wait for them (the cockpit quits by itself once they are decided; at the latest the event's next retry + a margin, now {} s, later if the retry moves, never over {} s) · q: quit anyway · Esc: stay",
        titles.len(),
        titles.join("; "),
        seconds_left(wait_until(snapshot, now), now),
        WAIT_AT_MOST.num_seconds()
    )
}

/// The status bar while `w` waits: the end as it stands, which moves with the event's
/// retry, and the end it never passes.
pub fn countdown_words(snapshot: &Snapshot, wait: QuitWait, now: DateTime<Utc>) -> String {
    format!(
        "waiting for {} pending check(s); quitting once decided, at the latest in {} s (moves with the event's retry, never past {} s) · q: quit now · Esc: stop waiting",
        pending_titles(snapshot).len(),
        seconds_left(wait.until, now),
        seconds_left(wait.began + WAIT_AT_MOST, now)
    )
}

fn seconds_left(until: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    seconds_up((until - now).num_milliseconds().max(0))
}

/// Milliseconds (not negative) as whole seconds, rounded up: `0.2 s` left is `1 s`.
fn seconds_up(millis: i64) -> i64 {
    (millis + 999) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::outbox::QueueSummary;
    use crate::drill::{CheckOutcome, CheckStatus, Verdict};

    fn now() -> DateTime<Utc> {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    fn snapshot(next_retry_in: Option<i64>, status: CheckStatus) -> Snapshot {
        let id = uuid::Uuid::new_v4();
        let row = OutboxRow {
            id,
            entity_id: uuid::Uuid::new_v4(),
            op: "delete".into(),
            event_version: 1,
            status: "pending".into(),
            attempts: 2,
            owner: None,
            lease_until: None,
            next_retry_at: next_retry_in.map(|s| now() + TimeDelta::seconds(s)),
            processed_at: None,
            error_reason: Some("es_connect".into()),
            error: None,
            created_at: now(),
        };
        Snapshot {
            event_id: Some(id.to_string()),
            outbox: Some(Ok((QueueSummary::default(), vec![row]))),
            checklist: Some(Verdict {
                scenario: "es_down_connect".into(),
                checks: vec![CheckOutcome {
                    id: "recovered",
                    title: "after `start es` the event reaches done",
                    status,
                    observed: String::new(),
                    before: None,
                    after: None,
                    delta: None,
                }],
                ok: status == CheckStatus::Passed,
                findings: Vec::new(),
            }),
            ..Snapshot::default()
        }
    }

    #[test]
    fn after_the_restart_the_next_retry_is_told() {
        let words = retry_words(&snapshot(Some(7), CheckStatus::Pending), now()).unwrap();
        assert_eq!(
            words,
            "the event retries in 7 s (next_retry_at 12:00:07 UTC)"
        );
    }

    #[test]
    fn no_retry_words_while_es_is_stopped_or_nothing_is_pending() {
        let mut stopped = snapshot(Some(7), CheckStatus::Pending);
        stopped.es_stopped = true;
        assert_eq!(retry_words(&stopped, now()), None);
        assert_eq!(
            retry_words(&snapshot(Some(7), CheckStatus::Passed), now()),
            None
        );
    }

    #[test]
    fn the_wait_is_the_next_retry_and_a_margin_at_most_a_minute() {
        let near = snapshot(Some(7), CheckStatus::Pending);
        assert_eq!(wait_until(&near, now()), now() + TimeDelta::seconds(22));
        let far = snapshot(Some(300), CheckStatus::Pending);
        assert_eq!(wait_until(&far, now()), now() + TimeDelta::seconds(60));
        let none = snapshot(None, CheckStatus::Pending);
        assert_eq!(wait_until(&none, now()), now() + TimeDelta::seconds(15));
    }

    #[test]
    fn the_wait_follows_a_retry_scheduled_after_w_and_an_attempt_in_flight() {
        // `w` on a read from before the first attempt failed: a row due now.
        let stale = snapshot(Some(0), CheckStatus::Pending);
        let wait = QuitWait::begin(&stale, now());
        assert_eq!(wait.until, now() + TimeDelta::seconds(15));
        // A second later the read shows the retry the worker scheduled, 18 s out.
        let later = now() + TimeDelta::seconds(1);
        let scheduled = snapshot(Some(18), CheckStatus::Pending);
        let wait = wait.follow(&scheduled, later);
        assert_eq!(wait.until, now() + TimeDelta::seconds(33));
        // The attempt is in flight at 33 s: the wait goes on while it is.
        let mut claimed = snapshot(None, CheckStatus::Pending);
        if let Some(Ok((_, rows))) = claimed.outbox.as_mut() {
            rows[0].status = "processing".into();
        }
        let at_33 = now() + TimeDelta::seconds(33);
        assert_eq!(
            wait.follow(&claimed, at_33).until,
            at_33 + TimeDelta::seconds(15)
        );
        // Never past a minute from `w`, and never earlier than it was.
        let at_55 = now() + TimeDelta::seconds(55);
        assert_eq!(
            wait.follow(&claimed, at_55).until,
            now() + TimeDelta::seconds(60)
        );
        assert_eq!(wait.follow(&stale, later).until, wait.until);
        // A retry long past due does not hold the quit: the worker may be gone.
        assert_eq!(wait.follow(&stale, at_55).until, wait.until);
        let mut done = snapshot(None, CheckStatus::Passed);
        if let Some(Ok((_, rows))) = done.outbox.as_mut() {
            rows[0].status = "done".into();
        }
        assert_eq!(wait.follow(&done, at_55).until, wait.until);
        // A claim whose lease ran out (its worker died holding it) holds the quit only
        // to the lease's end and the margin.
        let mut abandoned = claimed.clone();
        if let Some(Ok((_, rows))) = abandoned.outbox.as_mut() {
            rows[0].lease_until = Some(now() + TimeDelta::seconds(20));
        }
        assert_eq!(
            wait.follow(&abandoned, at_33).until,
            now() + TimeDelta::seconds(35)
        );
    }

    #[test]
    fn the_question_names_the_pending_checks_and_the_keys() {
        let question = pending_question(&snapshot(Some(7), CheckStatus::Pending), now());
        assert!(
            question.starts_with(
                "1 check(s) still pending: after `start es` the event reaches done. Now the event retries in 7 s"
            ),
            "{question}"
        );
        assert!(question.contains("now 22 s"), "{question}");
        assert!(question.contains("never over 60 s"), "{question}");
        assert!(
            question.contains("w: wait for them") && question.contains("q: quit anyway"),
            "{question}"
        );
    }
}
