//! Where everything of the timeline goes, in SVG units: bands from top to bottom (title,
//! legend, plot, time axis, label lanes, the note of labels left out). Pure geometry:
//! `draw` only writes it down.

use serde_json::Value;

use super::lanes::{self, Label, Limits};
use super::marks::{Mark, MarkStyle, marks};
use super::series::{self, SERIES, Series};
use super::time::{Tick, TimeAxis};
use super::{EDGE, LEFT, RIGHT, Rect, WIDTH, text_width};

const TITLE_BASELINE: f64 = 18.0;
const LEGEND_TOP: f64 = 28.0;
const LEGEND_ROW: f64 = 16.0;
/// The stroke sample drawn before a series' name.
pub const SWATCH: f64 = 28.0;
const PLOT_GAP: f64 = 12.0;
const PLOT_HEIGHT: f64 = 220.0;
/// From the plot's bottom to the ticks' baseline.
pub const TICK_BASELINE: f64 = 15.0;
/// From the plot's bottom to the first lane.
const LANES_GAP: f64 = 24.0;
const LANE_HEIGHT: f64 = 14.0;
/// From a lane's top to its text's baseline.
pub const LANE_BASELINE: f64 = 10.0;
/// Lanes for any mark's label: a dozen labels at one moment all show.
const LANES: usize = 12;
/// Lanes for markers, whose labels are never counted away while these last.
const MARKER_LANES: usize = 40;
const FOOTNOTE_HEIGHT: f64 = 20.0;
const BOTTOM_PADDING: f64 = 8.0;

#[derive(Debug, Clone, PartialEq)]
pub struct LegendItem {
    pub series: &'static Series,
    /// The swatch and the name together.
    pub rect: Rect,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelBox {
    pub text: String,
    pub rect: Rect,
    /// Drawn ending at `rect.x1` (left of its mark).
    pub end_anchored: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlacedMark {
    pub x: f64,
    pub colour: &'static str,
    pub style: MarkStyle,
    /// `None`: left out (counted in `left_out`).
    pub label: Option<LabelBox>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub series: &'static Series,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub title: String,
    pub width: f64,
    pub height: f64,
    pub legend: Vec<LegendItem>,
    /// The legend's own band, the full width: nothing else is drawn in it.
    pub legend_band: Rect,
    pub plot: Rect,
    /// The counters' value at the plot's top.
    pub highest: f64,
    pub lines: Vec<Line>,
    pub ticks: Vec<Tick>,
    pub marks: Vec<PlacedMark>,
    pub left_out: usize,
}

/// The legend's items left to right, wrapping to a new row at the right edge.
fn legend() -> (Vec<LegendItem>, Rect) {
    let mut items = Vec::new();
    let (mut x, mut row) = (LEFT, 0.0);
    for series in &SERIES {
        let width = SWATCH + 6.0 + text_width(series.name);
        if x + width > WIDTH - EDGE && x > LEFT {
            x = LEFT;
            row += 1.0;
        }
        let y0 = LEGEND_TOP + row * LEGEND_ROW;
        items.push(LegendItem {
            series,
            rect: Rect {
                x0: x,
                y0,
                x1: x + width,
                y1: y0 + LEGEND_ROW - 4.0,
            },
        });
        x += width + 18.0;
    }
    let band = Rect {
        x0: 0.0,
        y0: LEGEND_TOP,
        x1: WIDTH,
        y1: LEGEND_TOP + (row + 1.0) * LEGEND_ROW,
    };
    (items, band)
}

/// The counters as lines in plot coordinates.
fn lines(entries: &[Value], axis: &TimeAxis, plot: &Rect, highest: f64) -> Vec<Line> {
    let y = |value: f64| plot.y1 - value / highest * (plot.y1 - plot.y0);
    SERIES
        .iter()
        .map(|series| Line {
            series,
            points: series::corners(&series::steps(entries, series), axis.last())
                .into_iter()
                .map(|(t, value)| (axis.x(t), y(value)))
                .collect(),
        })
        .filter(|line| !line.points.is_empty())
        .collect()
}

/// The plot's box, below the legend's band.
fn plot_below(legend_band: &Rect) -> Rect {
    let top = legend_band.y1 + PLOT_GAP;
    Rect {
        x0: LEFT,
        y0: top,
        x1: WIDTH - RIGHT,
        y1: top + PLOT_HEIGHT,
    }
}

/// Each mark at its x, its label in the lane `lanes::place` found (from `lanes_top`).
fn place_marks(
    marks: Vec<Mark>,
    axis: &TimeAxis,
    lanes_top: f64,
) -> (Vec<PlacedMark>, lanes::Layout) {
    let labels: Vec<Label> = marks
        .iter()
        .map(|mark| Label {
            anchor: axis.x(mark.at),
            width: text_width(&mark.label),
            keep: mark.style == MarkStyle::Marker,
        })
        .collect();
    let limits = Limits {
        lanes: LANES,
        keep_lanes: MARKER_LANES,
        left: EDGE,
        right: WIDTH - EDGE,
    };
    let placement = lanes::place(&labels, limits);
    let label_box = |text: String, placed: &lanes::Placed| {
        let y0 = lanes_top + placed.lane as f64 * LANE_HEIGHT;
        LabelBox {
            text,
            rect: Rect {
                x0: placed.x0,
                y0,
                x1: placed.x1,
                y1: y0 + LANE_HEIGHT - 2.0,
            },
            end_anchored: placed.end_anchored,
        }
    };
    let placed = marks
        .into_iter()
        .zip(&labels)
        .zip(&placement.placed)
        .map(|((mark, label), placed)| PlacedMark {
            x: label.anchor,
            colour: mark.colour,
            style: mark.style,
            label: placed.as_ref().map(|placed| label_box(mark.label, placed)),
        })
        .collect();
    (placed, placement)
}

impl Timeline {
    pub fn of(title: &str, entries: &[Value]) -> Timeline {
        let (legend, legend_band) = legend();
        let plot = plot_below(&legend_band);
        let (marks, start) = marks(entries);
        let drawn = series::times(entries)
            .into_iter()
            .chain(marks.iter().map(|m| m.at));
        let axis = TimeAxis::new(start.unwrap_or(0.0), drawn, plot.x0, plot.x1);
        let highest = series::highest(entries);
        let lanes_top = plot.y1 + LANES_GAP;
        let (marks, placement) = place_marks(marks, &axis, lanes_top);
        let footnote = if placement.left_out > 0 {
            FOOTNOTE_HEIGHT
        } else {
            0.0
        };
        Timeline {
            title: title.to_string(),
            width: WIDTH,
            height: lanes_top + placement.lanes as f64 * LANE_HEIGHT + footnote + BOTTOM_PADDING,
            legend,
            legend_band,
            lines: lines(entries, &axis, &plot, highest),
            plot,
            highest,
            ticks: axis.ticks(),
            marks,
            left_out: placement.left_out,
        }
    }

    pub fn title_baseline(&self) -> f64 {
        TITLE_BASELINE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A journal entry `ms` after the start, of one of the marked kinds (or counters).
    fn entry(ms: u64, kind: u8, note: &str) -> Value {
        let ts = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + ms as i64)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match kind {
            0 => {
                json!({"ts": ts, "kind": "container", "service": "es", "action": "stop", "by": "drill"})
            }
            1 => json!({"ts": ts, "kind": "insert", "op": "delete"}),
            2 => json!({"ts": ts, "kind": "check", "id": note, "status": "passed"}),
            3 => json!({"ts": ts, "kind": "freeze"}),
            4 => json!({"ts": ts, "kind": "marker", "note": note}),
            5 => json!({"ts": ts, "kind": "gate", "action": "fault", "fault": note, "by": "drill"}),
            _ => {
                json!({"ts": ts, "kind": "counters", "retry_scheduled": ms as f64, "failed": ms as f64, "processed": 1.0})
            }
        }
    }

    fn journal(marks: &[(u64, u8, String)]) -> Vec<Value> {
        let mut sorted = marks.to_vec();
        sorted.sort_by_key(|(ms, _, _)| *ms);
        sorted
            .iter()
            .map(|(ms, kind, note)| entry(*ms, *kind, note))
            .collect()
    }

    fn label_boxes(timeline: &Timeline) -> Vec<&LabelBox> {
        timeline
            .marks
            .iter()
            .filter_map(|m| m.label.as_ref())
            .collect()
    }

    fn check_geometry(timeline: &Timeline) -> Result<(), TestCaseError> {
        let frame = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: timeline.width,
            y1: timeline.height,
        };
        let boxes = label_boxes(timeline);
        for (i, a) in boxes.iter().enumerate() {
            prop_assert!(a.rect.within(&frame), "{:?} outside {:?}", a.rect, frame);
            prop_assert!(
                !a.rect.overlaps(&timeline.legend_band),
                "{:?} in the legend",
                a.rect
            );
            prop_assert!(!a.rect.overlaps(&timeline.plot), "{:?} in the plot", a.rect);
            for b in &boxes[i + 1..] {
                prop_assert!(!a.rect.overlaps(&b.rect), "{:?} over {:?}", a.rect, b.rect);
            }
        }
        for mark in &timeline.marks {
            prop_assert!(
                (timeline.plot.x0..=timeline.plot.x1).contains(&mark.x),
                "mark at {}",
                mark.x
            );
        }
        for tick in &timeline.ticks {
            prop_assert!((timeline.plot.x0..=timeline.plot.x1).contains(&tick.x));
        }
        for line in &timeline.lines {
            for &(x, y) in &line.points {
                prop_assert!((timeline.plot.x0..=timeline.plot.x1).contains(&x), "x {x}");
                prop_assert!((timeline.plot.y0..=timeline.plot.y1).contains(&y), "y {y}");
            }
        }
        for item in &timeline.legend {
            prop_assert!(item.rect.within(&timeline.legend_band));
        }
        prop_assert!(timeline.legend_band.y1 <= timeline.plot.y0);
        Ok(())
    }

    /// Notes of any length, with wide characters and markup.
    fn note() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a",
                "retry_delta",
                "漢字",
                "<b>",
                "&",
                " ",
                "ES is back",
                "✓",
            ]),
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn labels_never_overlap_each_other_the_legend_or_the_edges(
            marks in prop::collection::vec((0u64..20_000, 0u8..7, note()), 0..60),
        ) {
            let timeline = Timeline::of("t", &journal(&marks));
            check_geometry(&timeline)?;
        }

        #[test]
        fn a_dozen_marks_all_get_a_label_and_markers_always_do(
            marks in prop::collection::vec((0u64..20_000, 0u8..6, note()), 0..=12),
            markers in prop::collection::vec((0u64..20_000, Just(4u8), note()), 0..10),
            crowd in prop::collection::vec((0u64..20_000, 0u8..4, note()), 0..80),
        ) {
            let few = Timeline::of("t", &journal(&marks));
            prop_assert_eq!(few.left_out, 0);
            let all: Vec<_> = crowd.into_iter().chain(markers).collect();
            let crowded = Timeline::of("t", &journal(&all));
            check_geometry(&crowded)?;
            for mark in &crowded.marks {
                prop_assert!(mark.style != MarkStyle::Marker || mark.label.is_some());
            }
        }
    }

    #[test]
    fn the_drill_fills_the_width_after_a_long_set_up() {
        // The worker started 5 minutes before a 20 s drill: its start is not drawn.
        let mut entries = vec![
            json!({"ts": "2026-01-01T00:00:00Z", "kind": "worker", "action": "start", "state": "running (pid 1)"}),
        ];
        entries.extend(journal(&[
            (300_000, 0, String::new()),
            (305_000, 6, String::new()),
            (320_000, 4, "done".into()),
        ]));
        let timeline = Timeline::of("t", &entries);
        let width = timeline.plot.x1 - timeline.plot.x0;
        let xs: Vec<f64> = timeline.marks.iter().map(|m| m.x).collect();
        assert!(xs[0] - timeline.plot.x0 < 0.05 * width, "{xs:?}");
        assert!(
            timeline.plot.x1 - xs.last().unwrap() < 0.05 * width,
            "{xs:?}"
        );
        assert_eq!(timeline.ticks[0].label, "300 s");
    }

    #[test]
    fn a_label_at_the_right_edge_is_drawn_to_the_left_of_its_mark() {
        let entries = journal(&[
            (0, 3, String::new()),
            (
                20_000,
                4,
                "the operator's rather long note at the very end".into(),
            ),
        ]);
        let timeline = Timeline::of("t", &entries);
        let last = timeline
            .marks
            .iter()
            .find(|m| m.style == MarkStyle::Marker)
            .unwrap();
        let label = last.label.as_ref().unwrap();
        assert!(label.end_anchored);
        assert!(label.rect.x1 <= last.x && label.rect.x1 <= WIDTH - EDGE);
    }
}
