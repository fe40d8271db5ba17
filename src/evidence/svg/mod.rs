//! `timeline.svg`: the drill over time. Counters as lines, container stops/starts,
//! inserts, freezes, fault switches and passed checks as marks, the operator's markers,
//! and the first retry and terminal failure as dots on the axis.
//!
//! Built in two steps: `layout` places everything (pure geometry, tested for overlaps
//! and edges), `draw` writes the markup. Top to bottom: the title, the legend in a band
//! of its own, the plot, the time axis, then the marks' labels in lanes.

mod draw;
mod lanes;
mod layout;
mod marks;
mod series;
mod time;

use serde_json::Value;

/// The drawing's width in SVG units; the browser scales it to the page (viewBox).
pub const WIDTH: f64 = 900.0;
/// Room for the counter axis' numbers.
const LEFT: f64 = 60.0;
/// Room for the last tick's label to the right of the plot.
const RIGHT: f64 = 36.0;
/// No text closer than this to the drawing's left or right edge.
const EDGE: f64 = 4.0;
const FONT_SIZE: f64 = 11.0;
/// The advance of one monospace character at `FONT_SIZE`, rounded up (DejaVu Sans Mono
/// is 0.602 em): a label's estimated box is never narrower than the drawn text.
const CHAR_WIDTH: f64 = 6.8;

/// An axis-aligned box in SVG units (y grows downwards).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    /// Whether the two boxes share any area (touching edges do not count).
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    /// Whether this box lies inside `outer` (edges included).
    pub fn within(&self, outer: &Rect) -> bool {
        self.x0 >= outer.x0 && self.x1 <= outer.x1 && self.y0 >= outer.y0 && self.y1 <= outer.y1
    }
}

/// The drawn width of `text` at `FONT_SIZE` in a monospace font: wide (East Asian)
/// characters take two cells.
fn text_width(text: &str) -> f64 {
    unicode_width::UnicodeWidthStr::width(text) as f64 * CHAR_WIDTH
}

/// Renders the timeline journal (`_timeline.jsonl` entries, in order).
pub fn render(title: &str, entries: &[Value]) -> String {
    draw::svg(&layout::Timeline::of(title, entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draws_counter_lines_marks_and_escapes_text() {
        let entries = vec![
            json!({"ts": "2026-01-01T00:00:00Z", "kind": "counters", "retry_scheduled": 0.0, "failed": 0.0, "processed": 0.0}),
            json!({"ts": "2026-01-01T00:00:01Z", "kind": "container", "service": "es", "action": "stop"}),
            json!({"ts": "2026-01-01T00:00:02Z", "kind": "insert", "op": "delete"}),
            json!({"ts": "2026-01-01T00:00:05Z", "kind": "counters", "retry_scheduled": 3.0, "failed": 3.0, "processed": 1.0}),
            json!({"ts": "2026-01-01T00:00:06Z", "kind": "check", "id": "retry_delta", "status": "passed"}),
        ];
        let svg = render("es_down_connect <run>", &entries);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("es_down_connect &lt;run&gt;"));
        assert_eq!(
            svg.matches("<polyline").count(),
            3,
            "terminal_failed has no points"
        );
        assert!(
            svg.contains("es stop")
                && svg.contains("insert delete")
                && svg.contains("✓ retry_delta")
        );
        assert!(svg.contains(">first retry</text>"), "{svg}");
        assert!(!svg.contains("more marks"), "five marks all get a label");
    }

    #[test]
    fn retry_and_failed_are_told_apart_even_when_equal() {
        let entries = vec![
            json!({"ts": "2026-01-01T00:00:00Z", "kind": "counters", "retry_scheduled": 0.0, "failed": 0.0}),
            json!({"ts": "2026-01-01T00:00:05Z", "kind": "counters", "retry_scheduled": 2.0, "failed": 2.0}),
        ];
        let svg = render("equal", &entries);
        let line_of = |name: &str| {
            svg.lines()
                .find(|l| {
                    l.starts_with("<polyline") && l.contains(&format!("data-series=\"{name}\""))
                })
                .unwrap_or_else(|| panic!("no {name} line: {svg}"))
                .to_string()
        };
        let (retry, failed) = (line_of("retry_scheduled"), line_of("failed"));
        assert!(retry.contains("stroke-dasharray") && !failed.contains("stroke-dasharray"));
        let points = |line: &str| line.split("points=\"").nth(1).unwrap().to_string();
        assert_eq!(points(&retry), points(&failed), "the same values");
        // The narrow dashed retry line is drawn after (over) the wide failed band.
        assert!(svg.find(&retry).unwrap() > svg.find(&failed).unwrap());
        // The legend names both, each with its own stroke.
        assert!(svg.contains(">retry_scheduled</text>") && svg.contains(">failed</text>"));
    }

    #[test]
    fn a_marker_keeps_its_label_however_crowded_the_marks() {
        let mut entries =
            vec![json!({"ts": "2026-01-01T00:00:00Z", "kind": "counters", "processed": 0.0})];
        // 80 freezes in 4 s of a 20 s drill: more labels than a dozen lanes hold.
        for n in 0..80 {
            let ts = format!("2026-01-01T00:00:{:02}.{:02}Z", n / 20 + 1, (n % 20) * 5);
            entries.push(json!({"ts": ts, "kind": "freeze"}));
        }
        entries.push(json!({"ts": "2026-01-01T00:00:20Z", "kind": "counters", "processed": 1.0}));
        entries
            .push(json!({"ts": "2026-01-01T00:00:10Z", "kind": "marker", "note": "ES is <back>"}));
        let svg = render("crowded", &entries);
        assert!(
            svg.contains("more marks"),
            "the freezes overflow their lanes"
        );
        assert!(svg.contains("✎ ES is &lt;back&gt;"), "{svg}");
    }
}
