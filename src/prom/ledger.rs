//! The drill's counters from Prometheus: what every worker's series stood at when the
//! baseline was taken, and how much each rose since, summed over instances by the
//! contract's own labels. The rules (docs/PROMETHEUS.md) are exact, where PromQL's
//! `increase()` extrapolates to the window's edges and would report 2.7 retries:
//!
//! - **Start.** A series present at the baseline (in the instant vector, so not stale)
//!   starts at its value then; later samples count from its last sample's time. A
//!   series that appears later (a `reason` child made at its first increment, a worker
//!   started after the baseline) starts at 0: its process counted from 0.
//! - **Increase.** Walking a series' samples after its start: a rise counts in full; a
//!   fall is a reset (the worker restarted on the same address) and the new value
//!   counts from 0, as `increase()` does.
//! - **Vanished replicas.** A worker that stopped or was killed keeps its last sample
//!   in the range: what it counted before it went still counts (last value).
//! - **Sums.** `instance` and `job` say where a series was scraped, not what it counts:
//!   counters are summed over them; gauges (one database seen by every worker) take
//!   the largest live value, so two workers do not report twice the lag.

use std::collections::BTreeMap;

use super::query::Series;
use super::{Sample, Samples};

/// Labels that say where a series was scraped from: summed over.
pub const TARGET_LABELS: &[&str] = &["instance", "job"];

/// The contract's gauges (CONTRACT.md §3): read as they are now.
const GAUGES: &str = "outbox_(lag_events|oldest_age_seconds|inflight_events|stuck_processing_events|last_success_timestamp_seconds)";

/// How far back the baseline looks for each series' last sample: Prometheus's own
/// staleness horizon.
pub const BASELINE_LOOKBACK: &str = "5m";

/// Every contract counter of the selected workers (`job="outbox-worker"`, …).
pub fn counters_query(selector: &str) -> String {
    format!("{{__name__=~\"outbox_.+_total\"{}}}", and(selector))
}

/// `,job="w"` from `job="w"` or `{job="w"}`; nothing from an empty selector.
fn and(selector: &str) -> String {
    let inner = selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    match inner.is_empty() {
        true => String::new(),
        false => format!(",{inner}"),
    }
}

/// The `up` series of the selected targets (1 when the last scrape answered).
pub fn up_query(selector: &str) -> String {
    // `up{}` is not PromQL (a selector needs a matcher): bare `up` then.
    match and(selector).strip_prefix(',') {
        Some(inner) => format!("up{{{inner}}}"),
        None => "up".to_string(),
    }
}

/// The contract's gauges of the selected workers.
pub fn gauges_query(selector: &str) -> String {
    format!("{{__name__=~\"{GAUGES}\"{}}}", and(selector))
}

/// A range selector over the counters, e.g. `{…}[12500ms]`.
pub fn counters_range(selector: &str, range: &str) -> String {
    format!("{}[{range}]", counters_query(selector))
}

/// Where one series stands: its value at the baseline, the last sample read and how
/// much it rose since the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Standing {
    /// Its value at the baseline (0 for a series born later).
    before: f64,
    /// The last sample read: samples at or before `since` are already counted.
    last: f64,
    since: f64,
    increase: f64,
}

/// One series (an instance's), before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub labels: BTreeMap<String, String>,
    pub before: f64,
    pub after: f64,
}

/// Every series since the baseline. Each read asks only for the samples since the
/// previous one ([`Ledger::range_to`]) and [`Ledger::advance`]s: a cockpit left open
/// for hours queries (and keeps in `promql-<ts>.json`) seconds of samples, not hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// When the baseline was taken (unix seconds).
    pub at: f64,
    /// When the counters were last read.
    read_at: f64,
    series: BTreeMap<BTreeMap<String, String>, Standing>,
}

/// How far before the last read a later read reaches: a scrape is stored with its
/// start time once it is done (up to the 900 ms scrape timeout later), so a sample
/// may land behind a read that did not see it. Samples already counted are skipped.
const LATE_SAMPLE_MS: u64 = 2_000;

impl Ledger {
    /// The baseline at `at`: `present` is the counters' instant vector then (stale
    /// series are not in it), `history` the same selector over [`BASELINE_LOOKBACK`]
    /// (each series' last sample time).
    pub fn baseline(at: f64, present: &[Series], history: &[Series]) -> Ledger {
        let last_time: BTreeMap<_, _> = history
            .iter()
            .filter_map(|s| Some((&s.labels, s.samples.last()?.0)))
            .collect();
        let series = present
            .iter()
            .filter_map(|s| {
                let value = s.samples.last()?.1;
                // Without its history the evaluation time stands (the sample is older).
                let since = last_time.get(&s.labels).copied().unwrap_or(at);
                let standing = Standing {
                    before: value,
                    last: value,
                    since,
                    increase: 0.0,
                };
                Some((s.labels.clone(), standing))
            })
            .collect();
        Ledger {
            at,
            read_at: at,
            series,
        }
    }

    /// The range a read at `now` asks for: back to the last read, and a little more
    /// for late samples (whole milliseconds).
    pub fn range_to(&self, now: f64) -> String {
        let since_read = ((now - self.read_at).max(0.0) * 1000.0).ceil() as u64;
        format!("{}ms", since_read + LATE_SAMPLE_MS)
    }

    /// The ledger after a read at `now`: `history` is the counters over
    /// [`Ledger::range_to`] (a matrix). A series seen for the first time counts from 0,
    /// its samples from the baseline on; a series without samples in the range (a
    /// worker gone) keeps its last value.
    pub fn advance(&self, now: f64, history: &[Series]) -> Ledger {
        let mut next = self.clone();
        next.read_at = now;
        for series in history {
            let standing = next
                .series
                .entry(series.labels.clone())
                .or_insert(Standing {
                    before: 0.0,
                    last: 0.0,
                    since: self.at,
                    increase: 0.0,
                });
            let (increase, last, since) = walk(standing.last, standing.since, &series.samples);
            standing.increase += increase;
            standing.last = last;
            standing.since = since;
        }
        next
    }

    /// Every series before and after.
    pub fn counts(&self) -> Vec<Counted> {
        self.series
            .iter()
            .map(|(labels, standing)| Counted {
                labels: labels.clone(),
                before: standing.before,
                after: standing.before + standing.increase,
            })
            .collect()
    }
}

/// One series' samples after `since`, from its last value `last`: the increase (a
/// rise in full, a fall is a reset and counts from 0), and the new last value and time.
pub fn walk(last: f64, since: f64, samples: &[(f64, f64)]) -> (f64, f64, f64) {
    let (mut previous, mut latest) = (last, since);
    let mut increase = 0.0;
    for &(at, value) in samples {
        if at <= latest || value.is_nan() {
            continue;
        }
        increase += super::delta(previous, value);
        previous = value;
        latest = at;
    }
    (increase, previous, latest)
}

/// The counters summed over instances by the contract's labels: `before` or `after`
/// of every series, optionally only those scraped from `instance`.
pub fn summed(counted: &[Counted], after: bool, instance: Option<&str>) -> Samples {
    let mut sums: BTreeMap<(String, BTreeMap<String, String>), f64> = BTreeMap::new();
    for series in counted {
        if let Some(wanted) = instance
            && series.labels.get("instance").map(String::as_str) != Some(wanted)
        {
            continue;
        }
        let (name, labels) = contract_labels(&series.labels);
        let value = if after { series.after } else { series.before };
        *sums.entry((name, labels)).or_insert(0.0) += value;
    }
    Samples {
        samples: sums
            .into_iter()
            .map(|((name, labels), value)| Sample {
                name,
                labels,
                value,
            })
            .collect(),
    }
}

/// The gauges of an instant vector: the largest live value by the contract's labels.
pub fn gauges(series: &[Series], instance: Option<&str>) -> Samples {
    let mut largest: BTreeMap<(String, BTreeMap<String, String>), f64> = BTreeMap::new();
    for one in series {
        if let Some(wanted) = instance
            && one.labels.get("instance").map(String::as_str) != Some(wanted)
        {
            continue;
        }
        let Some(&(_, value)) = one.samples.last() else {
            continue;
        };
        let slot = largest
            .entry(contract_labels(&one.labels))
            .or_insert(f64::NEG_INFINITY);
        *slot = slot.max(value);
    }
    Samples {
        samples: largest
            .into_iter()
            .map(|((name, labels), value)| Sample {
                name,
                labels,
                value,
            })
            .collect(),
    }
}

/// A series' name and its labels without `__name__` and the target's labels.
fn contract_labels(labels: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
    let name = labels.get("__name__").cloned().unwrap_or_default();
    let kept = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__" && !TARGET_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (name, kept)
}

/// Samples as Prometheus text exposition, under `header` (one `# ` comment line per
/// line of it): upstream's rules read `_metrics/*.txt` in this format.
pub fn render(samples: &Samples, header: &str) -> String {
    let mut text = String::new();
    for line in header.lines() {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    let mut typed: Option<&str> = None;
    for sample in &samples.samples {
        if typed != Some(sample.name.as_str()) {
            let kind = if sample.name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            text.push_str(&format!("# TYPE {} {kind}\n", sample.name));
            typed = Some(&sample.name);
        }
        let labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{k}=\"{v}\"")
            })
            .collect();
        let value = match sample.value {
            v if v.is_nan() => "NaN".to_string(),
            v if v == f64::INFINITY => "+Inf".to_string(),
            v if v == f64::NEG_INFINITY => "-Inf".to_string(),
            // `4.0`, as Python's client writes counters.
            v => format!("{v:?}"),
        };
        match labels.is_empty() {
            true => text.push_str(&format!("{} {value}\n", sample.name)),
            false => text.push_str(&format!(
                "{}{{{}}} {value}\n",
                sample.name,
                labels.join(",")
            )),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, instance: &str, reason: &str, samples: &[(f64, f64)]) -> Series {
        let labels = [
            ("__name__", name),
            ("instance", instance),
            ("job", "w"),
            ("op", "delete"),
            ("reason", reason),
        ];
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            samples: samples.to_vec(),
        }
    }

    const RETRY: &str = "outbox_retry_scheduled_total";

    fn retry_sum(samples: &Samples) -> f64 {
        samples.sum(RETRY, &[])
    }

    #[test]
    fn a_rise_counts_in_full_and_a_reset_counts_from_zero() {
        // 3 → 5 (+2), restart → 1 (+1), → 4 (+3): 6 since the baseline.
        let samples = [(10.0, 3.0), (11.0, 5.0), (12.0, 1.0), (13.0, 4.0)];
        assert_eq!(walk(3.0, 10.0, &samples), (6.0, 4.0, 13.0));
        // Samples at or before the start are already in its value.
        assert_eq!(walk(5.0, 11.0, &samples).0, 4.0);
        assert_eq!(walk(0.0, 0.0, &[(1.0, f64::NAN), (2.0, 2.0)]).0, 2.0);
    }

    #[test]
    fn sums_over_instances_by_the_contracts_labels_and_exact_deltas() {
        let before = [
            series(RETRY, "a:1", "es_connect", &[(100.0, 2.0)]),
            series(RETRY, "b:2", "es_connect", &[(100.5, 1.0)]),
        ];
        let ledger = Ledger::baseline(101.0, &before, &before);
        let later = [
            series(RETRY, "a:1", "es_connect", &[(100.0, 2.0), (102.0, 4.0)]),
            series(RETRY, "b:2", "es_connect", &[(100.5, 1.0), (102.5, 2.0)]),
        ];
        let counted = ledger.advance(105.0, &later).counts();
        let (b, a) = (summed(&counted, false, None), summed(&counted, true, None));
        assert_eq!((retry_sum(&b), retry_sum(&a)), (3.0, 6.0));
        // One series per contract label set: instance and job are gone.
        assert_eq!(a.samples.len(), 1);
        assert!(!a.samples[0].labels.contains_key("instance"));
        assert_eq!(a.samples[0].labels["reason"], "es_connect");
        // One instance's own page.
        assert_eq!(retry_sum(&summed(&counted, true, Some("b:2"))), 2.0);
    }

    #[test]
    fn a_series_born_after_the_baseline_counts_from_zero() {
        let ledger = Ledger::baseline(100.0, &[], &[]);
        // A reason child first seen at 7 (a worker started after the baseline).
        let later = [series(RETRY, "a:1", "es_429", &[(101.0, 7.0)])];
        let counted = ledger.advance(105.0, &later).counts();
        assert_eq!(retry_sum(&summed(&counted, false, None)), 0.0);
        assert_eq!(retry_sum(&summed(&counted, true, None)), 7.0);
    }

    #[test]
    fn a_vanished_replica_keeps_its_last_value() {
        let at_baseline = [
            series(RETRY, "a:1", "es_connect", &[(100.0, 1.0)]),
            series(RETRY, "b:2", "es_connect", &[(100.0, 0.0)]),
        ];
        let ledger = Ledger::baseline(100.0, &at_baseline, &at_baseline);
        // b:2 was killed after counting 3; its series has no sample since. a:1 rose by 1.
        let later = [
            series(RETRY, "a:1", "es_connect", &[(100.0, 1.0), (104.0, 2.0)]),
            series(RETRY, "b:2", "es_connect", &[(100.0, 0.0), (101.0, 3.0)]),
        ];
        let after = summed(&ledger.advance(105.0, &later).counts(), true, None);
        assert_eq!(retry_sum(&after), 5.0);
        // A series without samples in the range (its worker gone) keeps its last value.
        let after = summed(&ledger.advance(105.0, &later[..1]).counts(), true, None);
        assert_eq!(retry_sum(&after), 2.0);
    }

    #[test]
    fn a_stale_series_at_the_baseline_does_not_start_a_new_process_high() {
        // The last drill's worker left es_connect at 5 on this address (stale: in the
        // history, not in the instant vector); this drill's worker counts 4 of it.
        let old = [series(RETRY, "a:1", "es_connect", &[(50.0, 5.0)])];
        let ledger = Ledger::baseline(100.0, &[], &old);
        let later = [series(
            RETRY,
            "a:1",
            "es_connect",
            &[(50.0, 5.0), (102.0, 4.0)],
        )];
        let counted = ledger.advance(105.0, &later).counts();
        assert_eq!(retry_sum(&summed(&counted, true, None)), 4.0);
    }

    #[test]
    fn queries_take_the_selector_with_or_without_braces() {
        assert_eq!(
            counters_query("{job=\"w\"}"),
            "{__name__=~\"outbox_.+_total\",job=\"w\"}"
        );
        assert_eq!(counters_query(" "), "{__name__=~\"outbox_.+_total\"}");
        assert_eq!(up_query("job=\"w\""), "up{job=\"w\"}");
        assert_eq!(up_query(""), "up");
    }

    #[test]
    fn reads_ask_back_to_the_last_read_and_add_up_to_one_long_read() {
        let present = [series(RETRY, "a:1", "none", &[(100.0, 1.0)])];
        let ledger = Ledger::baseline(100.0, &present, &present);
        assert_eq!(ledger.range_to(110.0), "12000ms");
        let all = [
            (100.0, 1.0),
            (101.0, 3.0),
            (102.0, 0.0),
            (103.0, 2.0),
            (104.0, 5.0),
        ];
        let whole = ledger.advance(104.5, &[series(RETRY, "a:1", "none", &all)]);
        // Two reads whose ranges overlap (a late sample's margin): nothing twice.
        let first = ledger.advance(102.5, &[series(RETRY, "a:1", "none", &all[..3])]);
        assert_eq!(first.range_to(104.5), "4000ms");
        let second = first.advance(104.5, &[series(RETRY, "a:1", "none", &all[1..])]);
        assert_eq!(second.counts(), whole.counts());
        // 1 → 3 (+2), reset → 0, → 2 (+2), → 5 (+3).
        assert_eq!(whole.counts()[0].after - whole.counts()[0].before, 7.0);
    }

    #[test]
    fn gauges_take_the_largest_live_value_and_pages_render_back() {
        let lag = |instance, value| Series {
            labels: [("__name__", "outbox_lag_events"), ("instance", instance)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            samples: vec![(1.0, value)],
        };
        let samples = gauges(&[lag("a:1", 3.0), lag("b:2", 4.0)], None);
        assert_eq!(samples.sum("outbox_lag_events", &[]), 4.0);
        let counted = vec![Counted {
            labels: series(RETRY, "a:1", "q\"x", &[]).labels,
            before: 0.0,
            after: 2.0,
        }];
        let text = render(&summed(&counted, true, None), "from Prometheus\nsummed");
        assert!(text.starts_with(
            "# from Prometheus\n# summed\n# TYPE outbox_retry_scheduled_total counter\n"
        ));
        assert!(
            text.contains("outbox_retry_scheduled_total{op=\"delete\",reason=\"q\\\"x\"} 2.0\n")
        );
        // What is rendered parses back to the same sums.
        let parsed = Samples::parse(&text).unwrap();
        assert_eq!(parsed.sum(RETRY, &[("reason", &["q\"x"])]), 2.0);
    }
}
