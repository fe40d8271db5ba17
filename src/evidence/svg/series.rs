//! The counters drawn as lines, each with a stroke of its own. `retry_scheduled` often
//! equals `failed` (every failed attempt of a retryable error is rescheduled): `failed`
//! is a wide pale band and `retry_scheduled` a narrow dashed line drawn over it, so
//! both show where they coincide.

use serde_json::Value;

use crate::evidence::moments::seconds;

#[derive(Debug, PartialEq)]
pub struct Series {
    /// The counter's key in a `counters` journal entry.
    pub name: &'static str,
    pub colour: &'static str,
    pub width: f64,
    pub dash: Option<&'static str>,
    pub opacity: f64,
}

/// In drawing order: the widest first, so the narrower lines stay on top.
pub const SERIES: [Series; 4] = [
    Series {
        name: "failed",
        colour: "#dc2626",
        width: 7.0,
        dash: None,
        opacity: 0.35,
    },
    Series {
        name: "processed",
        colour: "#16a34a",
        width: 2.5,
        dash: None,
        opacity: 1.0,
    },
    Series {
        name: "retry_scheduled",
        colour: "#d97706",
        width: 2.0,
        dash: Some("8,5"),
        opacity: 1.0,
    },
    Series {
        name: "terminal_failed",
        colour: "#7c3aed",
        width: 2.0,
        dash: Some("2,4"),
        opacity: 1.0,
    },
];

/// The series' values as the journal recorded each change: (unix seconds, value).
pub fn steps(entries: &[Value], series: &Series) -> Vec<(f64, f64)> {
    entries
        .iter()
        .filter(|e| e.get("kind").and_then(Value::as_str) == Some("counters"))
        .filter_map(|e| Some((seconds(e)?, e.get(series.name)?.as_f64()?)))
        .collect()
}

/// The times of every counters entry (what the lines draw).
pub fn times(entries: &[Value]) -> Vec<f64> {
    entries
        .iter()
        .filter(|e| e.get("kind").and_then(Value::as_str) == Some("counters"))
        .filter_map(seconds)
        .collect()
}

/// The highest value of any series, at least 1 (the axis' top).
pub fn highest(entries: &[Value]) -> f64 {
    SERIES
        .iter()
        .flat_map(|series| steps(entries, series))
        .map(|(_, value)| value)
        .filter(|value| value.is_finite())
        .fold(1.0, f64::max)
}

/// The corners of a step line: each value held until the next change, the last one
/// until `end`.
pub fn corners(steps: &[(f64, f64)], end: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(steps.len() * 2 + 1);
    for (index, &(t, value)) in steps.iter().enumerate() {
        if index > 0 {
            points.push((t, steps[index - 1].1));
        }
        points.push((t, value));
    }
    if let Some(&(t, value)) = steps.last() {
        points.push((t.max(end), value));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_holds_its_value_until_it_changes() {
        let points = corners(&[(0.0, 0.0), (2.0, 3.0)], 5.0);
        assert_eq!(points, vec![(0.0, 0.0), (2.0, 0.0), (2.0, 3.0), (5.0, 3.0)]);
        assert!(corners(&[], 5.0).is_empty());
    }

    #[test]
    fn every_series_has_its_own_look() {
        for (i, a) in SERIES.iter().enumerate() {
            for b in &SERIES[i + 1..] {
                assert!(
                    a.colour != b.colour && (a.dash != b.dash || a.width != b.width),
                    "{} and {}",
                    a.name,
                    b.name
                );
            }
        }
    }
}
