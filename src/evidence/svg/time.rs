//! The time axis: the window shown (the run's own span, from the first to the last
//! drawn moment, with a small margin) and its ticks, labelled in seconds since the
//! journal's first entry — the same clock as the report's "+N s" story.

/// The share of the span added before the first and after the last drawn moment, so
/// neither sits on the plot's edge.
const MARGIN: f64 = 0.04;
/// A window shorter than this (one instant) is widened to it, centred.
const SHORTEST_SPAN: f64 = 1.0;
/// About this many ticks across the axis.
const TICKS: f64 = 8.0;

#[derive(Debug, Clone, PartialEq)]
pub struct TimeAxis {
    /// Unix seconds of the journal's first entry: the axis' 0 s.
    origin: f64,
    /// Unix seconds at the plot's left and right edges.
    from: f64,
    to: f64,
    /// The last drawn moment (counters hold their value to here).
    last: f64,
    /// The plot's left and right edges (SVG units).
    left: f64,
    right: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

impl TimeAxis {
    /// The window over `drawn` (unix seconds of what the plot shows); `origin` when
    /// nothing is drawn.
    pub fn new(origin: f64, drawn: impl IntoIterator<Item = f64>, left: f64, right: f64) -> Self {
        let (first, last) = drawn
            .into_iter()
            .filter(|t| t.is_finite())
            .fold(None, |range: Option<(f64, f64)>, t| match range {
                None => Some((t, t)),
                Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
            })
            .unwrap_or((origin, origin));
        let span = last - first;
        let (from, to) = if span < SHORTEST_SPAN {
            let middle = (first + last) / 2.0;
            (middle - SHORTEST_SPAN / 2.0, middle + SHORTEST_SPAN / 2.0)
        } else {
            (first - span * MARGIN, last + span * MARGIN)
        };
        TimeAxis {
            origin,
            from,
            to,
            last,
            left,
            right,
        }
    }

    /// The x of unix time `t`.
    pub fn x(&self, t: f64) -> f64 {
        self.left + (t - self.from) / (self.to - self.from) * (self.right - self.left)
    }

    /// The last drawn moment (unix seconds).
    pub fn last(&self) -> f64 {
        self.last
    }

    /// Round-numbered ticks inside the window; none before the journal's start.
    pub fn ticks(&self) -> Vec<Tick> {
        let step = nice_step((self.to - self.from) / TICKS);
        let decimals = if step >= 1.0 {
            0
        } else {
            (-step.log10()).ceil() as usize
        };
        let first = ((self.from - self.origin) / step).ceil().max(0.0) as i64;
        let last = ((self.to - self.origin) / step).floor() as i64;
        (first..=last)
            .map(|n| {
                // `+ 0.0` turns -0.0 into 0.0, which prints without a sign.
                let seconds = n as f64 * step + 0.0;
                Tick {
                    x: self.x(self.origin + seconds),
                    label: format!("{seconds:.decimals$} s"),
                }
            })
            .collect()
    }
}

/// 1, 2 or 5 times a power of ten: the smallest at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_fills_the_width_however_long_its_set_up() {
        // The journal starts 300 s before the drill (a slow start); the drill takes 20 s.
        let origin = 1_000.0;
        let axis = TimeAxis::new(origin, [1_300.0, 1_310.0, 1_320.0], 60.0, 864.0);
        let (first, last) = (axis.x(1_300.0), axis.x(1_320.0));
        assert!(first > 60.0 && first < 60.0 + 0.05 * 804.0, "{first}");
        assert!(last < 864.0 && last > 864.0 - 0.05 * 804.0, "{last}");
        // The ticks count from the journal's start, like the report's story.
        let labels: Vec<String> = axis.ticks().into_iter().map(|t| t.label).collect();
        assert_eq!(
            labels.first().map(String::as_str),
            Some("300 s"),
            "{labels:?}"
        );
        assert!(labels.contains(&"310 s".to_string()), "{labels:?}");
    }

    #[test]
    fn ticks_are_round_inside_the_plot_and_never_negative() {
        let axis = TimeAxis::new(0.0, [0.0, 1.2], 60.0, 864.0);
        let ticks = axis.ticks();
        assert_eq!(ticks[0].label, "0.0 s");
        assert!(ticks.iter().all(|t| (60.0..=864.0).contains(&t.x)));
        assert!(ticks.len() >= 5, "{ticks:?}");
    }

    #[test]
    fn one_instant_gets_a_window_around_it() {
        let axis = TimeAxis::new(5.0, [5.0], 0.0, 100.0);
        assert_eq!(axis.x(5.0), 50.0);
        let nothing = TimeAxis::new(5.0, [], 0.0, 100.0);
        assert_eq!(nothing.x(5.0), 50.0);
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(2.6), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(40.0), 50.0);
    }
}
