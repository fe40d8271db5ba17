//! Label lanes: each mark's label goes in the first lane (row) where its horizontal
//! extent is clear of every label already there. More lanes make the drawing taller;
//! only past a generous number of lanes is a label left out (and counted).

/// Empty space kept between two labels of one lane.
const GAP: f64 = 8.0;
/// Space between a mark's line and its label.
const OFFSET: f64 = 3.0;

/// A label to place: its mark's x and the label's drawn width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Label {
    pub anchor: f64,
    pub width: f64,
    /// The operator's own words: placed before any other label, in more lanes.
    pub keep: bool,
}

/// Where one label went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    pub lane: usize,
    pub x0: f64,
    pub x1: f64,
    /// Drawn to the left of its mark (ending there), as it would run past the edge.
    pub end_anchored: bool,
}

/// How many lanes each kind of label may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Lanes for any label.
    pub lanes: usize,
    /// Lanes for the labels to keep (at least `lanes`).
    pub keep_lanes: usize,
    /// The leftmost and rightmost x a label may reach.
    pub left: f64,
    pub right: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// One per label, in the order given; `None`: left out.
    pub placed: Vec<Option<Placed>>,
    pub lanes: usize,
    pub left_out: usize,
}

/// The label's extent: to the right of its mark, or to its left when it would run past
/// `right`, and inside `[left, right]` either way when it fits there at all.
fn extent(label: &Label, limits: &Limits) -> (f64, f64, bool) {
    let start = label.anchor + OFFSET;
    if start + label.width <= limits.right {
        return (start, start + label.width, false);
    }
    let end = label.anchor - OFFSET;
    if end - label.width >= limits.left {
        return (end - label.width, end, true);
    }
    (limits.left, limits.left + label.width, false)
}

fn is_clear(lane: &[(f64, f64)], x0: f64, x1: f64) -> bool {
    lane.iter().all(|&(a, b)| x1 + GAP <= a || b + GAP <= x0)
}

/// Places `labels`: the ones to keep first, then the others, each group left to right.
pub fn place(labels: &[Label], limits: Limits) -> Layout {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| {
        (!labels[a].keep, labels[a].anchor)
            .partial_cmp(&(!labels[b].keep, labels[b].anchor))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut lanes: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut placed = vec![None; labels.len()];
    for index in order {
        let label = &labels[index];
        let (x0, x1, end_anchored) = extent(label, &limits);
        let allowed = if label.keep {
            limits.keep_lanes.max(limits.lanes)
        } else {
            limits.lanes
        };
        let lane = (0..allowed).find(|&lane| lanes.get(lane).is_none_or(|l| is_clear(l, x0, x1)));
        if let Some(lane) = lane {
            if lanes.len() <= lane {
                lanes.resize_with(lane + 1, Vec::new);
            }
            lanes[lane].push((x0, x1));
            placed[index] = Some(Placed {
                lane,
                x0,
                x1,
                end_anchored,
            });
        }
    }
    let left_out = placed.iter().filter(|p| p.is_none()).count();
    Layout {
        placed,
        lanes: lanes.len(),
        left_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        lanes: 3,
        keep_lanes: 5,
        left: 4.0,
        right: 896.0,
    };

    fn label(anchor: f64, width: f64) -> Label {
        Label {
            anchor,
            width,
            keep: false,
        }
    }

    #[test]
    fn labels_at_one_moment_stack_in_lanes() {
        let layout = place(
            &[label(100.0, 50.0), label(100.0, 50.0), label(300.0, 50.0)],
            LIMITS,
        );
        let lanes: Vec<usize> = layout.placed.iter().map(|p| p.unwrap().lane).collect();
        assert_eq!(lanes, vec![0, 1, 0]);
        assert_eq!(layout.lanes, 2);
    }

    #[test]
    fn a_label_near_the_right_edge_ends_at_its_mark() {
        let layout = place(&[label(880.0, 100.0)], LIMITS);
        let placed = layout.placed[0].unwrap();
        assert!(placed.end_anchored);
        assert_eq!((placed.x0, placed.x1), (777.0, 877.0));
    }

    #[test]
    fn past_the_lanes_labels_are_left_out_but_kept_ones_are_not() {
        let mut labels = vec![label(100.0, 50.0); 4];
        labels.push(Label {
            anchor: 100.0,
            width: 50.0,
            keep: true,
        });
        let layout = place(&labels, LIMITS);
        assert_eq!(layout.placed[4].unwrap().lane, 0, "kept labels go first");
        let lanes: Vec<Option<usize>> = layout.placed.iter().map(|p| p.map(|p| p.lane)).collect();
        assert_eq!(lanes, vec![Some(1), Some(2), None, None, Some(0)]);
        assert_eq!(layout.left_out, 2);
    }
}
