//! The counters pane's model: every contract counter by reason and op, its value, its
//! delta since the drill's baseline, and a short history of the delta for a sparkline.

use std::collections::{BTreeMap, VecDeque};

use crate::prom::{Samples, delta};

pub const COUNTERS: &[(&str, &str)] = &[
    ("outbox_retry_scheduled_total", "retry_scheduled"),
    ("outbox_failed_total", "failed"),
    ("outbox_terminal_failed_total", "terminal_failed"),
    ("outbox_processed_total", "processed"),
    ("outbox_idempotent_noop_total", "idempotent_noop"),
];

pub const GAUGES: &[(&str, &str)] = &[
    ("outbox_lag_events", "lag"),
    ("outbox_oldest_age_seconds", "oldest age s"),
    ("outbox_inflight_events", "inflight"),
    ("outbox_stuck_processing_events", "stuck"),
];

/// How many scrapes a sparkline remembers.
pub const HISTORY: usize = 60;

#[derive(Debug, Clone, PartialEq)]
pub struct CounterRow {
    pub metric: &'static str,
    /// `reason=…, op=…` (empty for a label-less counter).
    pub labels: String,
    pub value: f64,
    pub delta: f64,
    pub history: Vec<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct CounterBoard {
    baseline: Option<Samples>,
    histories: BTreeMap<(&'static str, String), VecDeque<f64>>,
    pub rows: Vec<CounterRow>,
    pub gauges: Vec<(&'static str, f64)>,
}

fn label_text(labels: &BTreeMap<String, String>) -> String {
    let mut parts = Vec::new();
    for key in ["reason", "op"] {
        if let Some(value) = labels.get(key) {
            parts.push(format!("{key}={value}"));
        }
    }
    parts.join(" ")
}

impl CounterBoard {
    pub fn set_baseline(&mut self, baseline: Samples) {
        self.baseline = Some(baseline);
    }

    pub fn has_baseline(&self) -> bool {
        self.baseline.is_some()
    }

    /// Folds in one scrape. Series at zero both now and at baseline are hidden
    /// (upstream pre-creates `reason="none"` children); each counter keeps at least one row.
    pub fn update(&mut self, current: &Samples) {
        let mut rows = Vec::new();
        for (metric, short) in COUNTERS {
            let mut series: BTreeMap<String, f64> = BTreeMap::new();
            for sample in current.series(metric) {
                *series.entry(label_text(&sample.labels)).or_default() += sample.value;
            }
            let mut baseline_series: BTreeMap<String, f64> = BTreeMap::new();
            for sample in self.baseline.iter().flat_map(|b| b.series(metric)) {
                *baseline_series
                    .entry(label_text(&sample.labels))
                    .or_default() += sample.value;
                series.entry(label_text(&sample.labels)).or_default();
            }
            let mut shown = 0;
            for (labels, value) in &series {
                let before = baseline_series.get(labels).copied().unwrap_or(0.0);
                if *value == 0.0 && before == 0.0 {
                    continue;
                }
                let change = if self.baseline.is_some() {
                    delta(before, *value)
                } else {
                    0.0
                };
                let history = self.histories.entry((short, labels.clone())).or_default();
                if history.len() == HISTORY {
                    history.pop_front();
                }
                history.push_back(change);
                rows.push(CounterRow {
                    metric: short,
                    labels: labels.clone(),
                    value: *value,
                    delta: change,
                    history: history.iter().copied().collect(),
                });
                shown += 1;
            }
            if shown == 0 {
                rows.push(CounterRow {
                    metric: short,
                    labels: String::new(),
                    value: 0.0,
                    delta: 0.0,
                    history: Vec::new(),
                });
            }
        }
        self.rows = rows;
        self.gauges = GAUGES
            .iter()
            .map(|(metric, short)| (*short, current.sum(metric, &[])))
            .collect();
    }
}

/// A sparkline of `values` in `width` cells, scaled to the largest value.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().fold(0.0f64, f64::max);
    tail.iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_value_delta_and_hide_untouched_none_children() {
        let before = Samples::parse("outbox_retry_scheduled_total{op=\"delete\",projection=\"p\",reason=\"none\"} 0\noutbox_processed_total{op=\"delete\",projection=\"p\"} 5\n").unwrap();
        let after = Samples::parse(
            "outbox_retry_scheduled_total{op=\"delete\",projection=\"p\",reason=\"none\"} 0\n\
             outbox_retry_scheduled_total{op=\"delete\",projection=\"p\",reason=\"es_connect\"} 3\n\
             outbox_processed_total{op=\"delete\",projection=\"p\"} 6\noutbox_lag_events{projection=\"p\"} 2\n",
        )
        .unwrap();
        let mut board = CounterBoard::default();
        board.set_baseline(before);
        board.update(&after);
        let retry: Vec<_> = board
            .rows
            .iter()
            .filter(|r| r.metric == "retry_scheduled")
            .collect();
        assert_eq!(retry.len(), 1);
        assert_eq!(
            (retry[0].labels.as_str(), retry[0].value, retry[0].delta),
            ("reason=es_connect op=delete", 3.0, 3.0)
        );
        let processed = board.rows.iter().find(|r| r.metric == "processed").unwrap();
        assert_eq!((processed.value, processed.delta), (6.0, 1.0));
        assert!(
            board
                .rows
                .iter()
                .any(|r| r.metric == "terminal_failed" && r.value == 0.0)
        );
        assert_eq!(board.gauges[0], ("lag", 2.0));
    }

    #[test]
    fn sparkline_scales_to_the_maximum() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 4.0], 10), "▁▃▅█");
        assert_eq!(sparkline(&[0.0, 0.0], 10), "▁▁");
        assert_eq!(sparkline(&[1.0; 100], 5).chars().count(), 5);
    }
}
