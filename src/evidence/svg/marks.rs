//! Which journal entries the timeline marks, and in what words and colour.

use serde_json::Value;

use crate::evidence::moments::{MomentKind, Story, seconds};

/// The widest label (SVG units): half the drawing less its edges, so a label always
/// fits on one side of its mark or the other.
const WIDEST_LABEL: f64 = 330.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkStyle {
    /// Something that happened (a container stop, an insert, a passed check): a dashed line.
    Event,
    /// The operator's note: a solid line, and its label is never left out.
    Marker,
    /// The first retry or terminal failure: a dot on the time axis.
    Moment,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Unix seconds.
    pub at: f64,
    pub label: String,
    pub colour: &'static str,
    pub style: MarkStyle,
}

fn text<'a>(entry: &'a Value, key: &str) -> &'a str {
    entry.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The label and colour of an entry worth a mark, or `None`.
fn event_mark(entry: &Value) -> Option<(&'static str, String, MarkStyle)> {
    let one_line = crate::sanitize::one_line;
    let by_drill = text(entry, "by") == "drill";
    let (colour, label) = match text(entry, "kind") {
        // Docker reports kill/die around every stop; the stop and start tell the story.
        "container" if matches!(text(entry, "action"), "stop" | "start") => (
            "#2563eb",
            format!("{} {}", text(entry, "service"), text(entry, "action")),
        ),
        "insert" => ("#0891b2", format!("insert {}", text(entry, "op"))),
        "check" if text(entry, "status") == "passed" => {
            ("#15803d", format!("✓ {}", text(entry, "id")))
        }
        "freeze" => ("#6b7280", "freeze".to_string()),
        "marker" => {
            let note = format!("✎ {}", one_line(text(entry, "note"), 40));
            return Some(("#db2777", note, MarkStyle::Marker));
        }
        // The drill's own fault switches: the gate, the write block, a kill.
        "gate" if by_drill && text(entry, "action") == "fault" => (
            "#ea580c",
            match entry.get("fault").and_then(Value::as_str) {
                Some("pass") => "gate passes".to_string(),
                Some(fault) => format!("gate: {}", one_line(fault, 30)),
                None => "gate".to_string(),
            },
        ),
        "index" if by_drill => (
            "#ea580c",
            entry
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("index")
                .to_string(),
        ),
        "worker" if text(entry, "action") == "kill -9" => ("#ea580c", "worker kill -9".to_string()),
        _ => return None,
    };
    Some((colour, label, MarkStyle::Event))
}

/// `label` cut (with `…`) to at most `WIDEST_LABEL` wide.
fn fitted(label: &str) -> String {
    let clean = crate::sanitize::one_line(label, 120);
    if super::text_width(&clean) <= WIDEST_LABEL {
        return clean;
    }
    let mut cut = String::new();
    for c in clean.chars() {
        let candidate = format!("{cut}{c}…");
        if super::text_width(&candidate) > WIDEST_LABEL {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// The marks of the journal, in its order, then the first retry and terminal failure
/// (the same moments as the cockpit's strip and the report's story). Also returns the
/// journal's start (unix seconds), the axis' origin.
pub fn marks(entries: &[Value]) -> (Vec<Mark>, Option<f64>) {
    let mut marks = Vec::new();
    let mut story = Story::default();
    for entry in entries {
        story.push(entry);
        let (Some(at), Some((colour, label, style))) = (seconds(entry), event_mark(entry)) else {
            continue;
        };
        marks.push(Mark {
            at,
            label: fitted(&label),
            colour,
            style,
        });
    }
    let start = story.start();
    for moment in &story.moments {
        let colour = match moment.kind {
            MomentKind::FirstRetry => "#d97706",
            MomentKind::FirstTerminal => "#7c3aed",
            _ => continue,
        };
        marks.push(Mark {
            at: start.unwrap_or(0.0) + moment.at,
            label: fitted(&moment.label),
            colour,
            style: MarkStyle::Moment,
        });
    }
    (marks, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_story_becomes_marks_and_the_noise_does_not() {
        let entries = vec![
            json!({"ts": "2026-01-01T00:00:00Z", "kind": "counters", "retry_scheduled": 0.0}),
            json!({"ts": "2026-01-01T00:00:01Z", "kind": "container", "service": "es", "action": "die"}),
            json!({"ts": "2026-01-01T00:00:01Z", "kind": "container", "service": "es", "action": "stop", "by": "drill"}),
            json!({"ts": "2026-01-01T00:00:02Z", "kind": "check", "id": "retry_delta", "status": "failed"}),
            json!({"ts": "2026-01-01T00:00:03Z", "kind": "counters", "retry_scheduled": 1.0}),
            json!({"ts": "2026-01-01T00:00:04Z", "kind": "worker", "action": "kill -9", "state": "killed by signal 9"}),
        ];
        let (marks, start) = marks(&entries);
        let labels: Vec<&str> = marks.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, vec!["es stop", "worker kill -9", "first retry"]);
        assert_eq!(marks[2].style, MarkStyle::Moment);
        assert_eq!(marks[2].at - start.unwrap(), 3.0);
    }

    #[test]
    fn a_long_wide_label_is_cut_to_fit() {
        let label = fitted(&"漢".repeat(60));
        assert!(label.ends_with('…'));
        assert!(crate::evidence::svg::text_width(&label) <= WIDEST_LABEL);
    }
}
