//! The moments that tell a drill's story, read off its journal (`_timeline.jsonl`): the
//! fault put in and taken out, the first retry and the first terminal failure, the
//! recovery, freezes and the operator's markers. The cockpit's timeline strip and
//! `timeline.svg` draw the same list, so the screen and the report tell one story.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MomentKind {
    FaultIn,
    FaultOut,
    FirstRetry,
    FirstTerminal,
    Recovered,
    Freeze,
    Marker,
}

impl MomentKind {
    /// One character for the strip's axis.
    pub fn glyph(self) -> char {
        match self {
            MomentKind::FaultIn => '▼',
            MomentKind::FaultOut => '▲',
            MomentKind::FirstRetry => 'r',
            MomentKind::FirstTerminal => 'T',
            MomentKind::Recovered => '✓',
            MomentKind::Freeze => 'f',
            MomentKind::Marker => 'm',
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Moment {
    /// Seconds since the journal's first entry.
    pub at: f64,
    pub kind: MomentKind,
    pub label: String,
}

/// The entry's time in seconds (Unix), from its `ts`.
pub fn seconds(entry: &Value) -> Option<f64> {
    let ts = entry.get("ts")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// The story told so far, entry by entry: the cockpit feeds it each journal line as it
/// is written (no re-reading of the journal), `moments` a whole journal at once.
#[derive(Debug, Default, Clone)]
pub struct Story {
    start: Option<f64>,
    retry_base: Option<f64>,
    terminal_base: Option<f64>,
    retried: bool,
    terminal: bool,
    pub moments: Vec<Moment>,
}

impl Story {
    /// Seconds (Unix) of the journal's first entry.
    pub fn start(&self) -> Option<f64> {
        self.start
    }

    /// Takes one journal entry; adds the moment it makes, if any.
    pub fn push(&mut self, entry: &Value) {
        let Some(t) = seconds(entry) else { return };
        let start = *self.start.get_or_insert(t);
        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
        let by_drill = text("by") == "drill";
        let moment = match text("kind") {
            "container" if by_drill && text("action") == "stop" => {
                Some((MomentKind::FaultIn, format!("{} stopped", text("service"))))
            }
            "container" if by_drill && text("action") == "start" => {
                Some((MomentKind::FaultOut, format!("{} started", text("service"))))
            }
            "gate" if by_drill && text("action") == "fault" => {
                let fault = text("fault");
                if fault == "pass" {
                    Some((MomentKind::FaultOut, format!("{} gate passes", text("for"))))
                } else {
                    Some((MomentKind::FaultIn, format!("gate: {fault}")))
                }
            }
            "index" if by_drill => Some(if text("action").ends_with("true") {
                (MomentKind::FaultIn, "index write block".to_string())
            } else {
                (MomentKind::FaultOut, "write block lifted".to_string())
            }),
            // Another tool's run (see `foreign_story`): what its files say went in and out.
            "inject" => Some((MomentKind::FaultIn, text("what").to_string())),
            "clean" => Some((MomentKind::FaultOut, text("what").to_string())),
            "worker" if text("action") == "kill -9" => {
                Some((MomentKind::FaultIn, "worker killed (SIGKILL)".to_string()))
            }
            "counters" => self.first_rises(entry),
            "check" if text("id") == "recovered" && text("status") == "passed" => {
                Some((MomentKind::Recovered, "recovered".to_string()))
            }
            "freeze" => Some((MomentKind::Freeze, "freeze".to_string())),
            "marker" => Some((MomentKind::Marker, text("note").to_string())),
            _ => None,
        };
        if let Some((kind, label)) = moment {
            self.moments.push(Moment {
                at: t - start,
                kind,
                label: crate::sanitize::one_line(&label, 80),
            });
        }
    }

    /// The first retry and the first terminal failure, against the first counters seen.
    fn first_rises(&mut self, entry: &Value) -> Option<(MomentKind, String)> {
        let value = |key: &str| entry.get(key).and_then(Value::as_f64);
        let mut first = None;
        if let Some(retry) = value("retry_scheduled") {
            let base = *self.retry_base.get_or_insert(retry);
            if !self.retried && retry > base {
                self.retried = true;
                first = Some((MomentKind::FirstRetry, "first retry".to_string()));
            }
        }
        if let Some(count) = value("terminal_failed") {
            let base = *self.terminal_base.get_or_insert(count);
            if !self.terminal && count > base {
                self.terminal = true;
                first = Some((MomentKind::FirstTerminal, "first terminal".to_string()));
            }
        }
        first
    }
}

/// The drill's moments, oldest first, each at its offset from the journal's start.
pub fn moments(entries: &[Value]) -> Vec<Moment> {
    let mut story = Story::default();
    for entry in entries {
        story.push(entry);
    }
    story.moments
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_journal_tells_fault_retry_recovery_and_markers() {
        let entries = vec![
            json!({"ts": "2026-01-01T00:00:00Z", "kind": "counters", "retry_scheduled": 0.0, "terminal_failed": 0.0}),
            json!({"ts": "2026-01-01T00:00:01Z", "kind": "gate", "action": "fault", "fault": "abort 429 on upsert", "for": "Elasticsearch", "by": "drill"}),
            json!({"ts": "2026-01-01T00:00:02Z", "kind": "container", "service": "es", "action": "die", "by": "docker"}),
            json!({"ts": "2026-01-01T00:00:02Z", "kind": "gate", "action": "fault", "fault": "latency 120000–120000 ms", "for": "Elasticsearch", "by": "drill set-up"}),
            json!({"ts": "2026-01-01T00:00:03Z", "kind": "counters", "retry_scheduled": 1.0, "terminal_failed": 0.0}),
            json!({"ts": "2026-01-01T00:00:04Z", "kind": "counters", "retry_scheduled": 2.0, "terminal_failed": 0.0}),
            json!({"ts": "2026-01-01T00:00:05Z", "kind": "marker", "note": "the room sees \u{1b}[31mred"}),
            json!({"ts": "2026-01-01T00:00:06Z", "kind": "gate", "action": "fault", "fault": "pass", "for": "Elasticsearch", "by": "drill"}),
            json!({"ts": "2026-01-01T00:00:07Z", "kind": "check", "id": "recovered", "status": "passed"}),
        ];
        let found = moments(&entries);
        let kinds: Vec<MomentKind> = found.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MomentKind::FaultIn,
                MomentKind::FirstRetry,
                MomentKind::Marker,
                MomentKind::FaultOut,
                MomentKind::Recovered
            ]
        );
        assert_eq!(found[1].at, 3.0);
        assert!(!found[2].label.contains('\u{1b}'), "{}", found[2].label);
    }
}
