//! Reading Prometheus text exposition (`/metrics`) as the cockpit and the checks need
//! it: samples matched on name and labels, never on declared type, so Python's
//! `*_created` gauges, OpenMetrics counters and untyped `_sum`/`_count` all work. A
//! series that is absent counts as 0, because upstream creates a `reason` child only
//! at its first increment.

pub mod ledger;
pub mod query;

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "this is an HTML page, not Prometheus metrics (first line: {first_line:?}); check that the metrics URL points at the worker's /metrics port"
    )]
    Html { first_line: String },
    #[error(
        "no Prometheus samples found in {bytes} bytes (first line: {first_line:?}); is this the worker's /metrics endpoint?"
    )]
    NoSamples { bytes: usize, first_line: String },
}

/// A label filter: the label must have one of the listed values.
pub type LabelFilter<'a> = &'a [(&'a str, &'a [&'a str])];

impl Samples {
    /// Parses exposition text. Malformed lines are skipped; a page with no sample at all
    /// (an HTML error page, an empty body) is an error naming what came back.
    pub fn parse(text: &str) -> Result<Samples, ParseError> {
        let first_line = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .chars()
            .take(80)
            .collect::<String>();
        let head = text
            .trim_start()
            .get(..15.min(text.trim_start().len()))
            .unwrap_or("")
            .to_ascii_lowercase();
        if head.starts_with("<!doctype") || head.starts_with("<html") {
            return Err(ParseError::Html { first_line });
        }
        let samples: Vec<Sample> = text.lines().filter_map(read_line).collect();
        if samples.is_empty()
            && !text
                .lines()
                .any(|l| l.starts_with("# TYPE") || l.starts_with("# HELP"))
        {
            return Err(ParseError::NoSamples {
                bytes: text.len(),
                first_line,
            });
        }
        Ok(Samples { samples })
    }

    /// Sum of every sample named `name` whose labels pass `filter` (0 when none).
    pub fn sum(&self, name: &str, filter: LabelFilter<'_>) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                filter.iter().all(|(label, allowed)| {
                    s.labels
                        .get(*label)
                        .is_some_and(|v| allowed.contains(&v.as_str()))
                })
            })
            .map(|s| s.value)
            // A fold from +0.0: `sum()` of nothing is -0.0, which prints as "-0".
            .fold(0.0, |total, value| total + value)
    }

    /// Whether any sample's name starts with `prefix` (e.g. the page is an outbox worker's).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.samples.iter().any(|s| s.name.starts_with(prefix))
    }

    /// Series of `name`, for per-label views (e.g. by reason).
    pub fn series(&self, name: &str) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// One line, read by `prometheus-parse` where it can: it tells a sample from a comment
/// and splits the name, the label text and the value. Its label parsing is not public
/// and splits on every `,` and `=` without unescaping (`a="x,y"` and `b="q\"x"` come
/// out wrong), so the label text is read by [`parse_labels`]. Where it does not read
/// a sample line at all, [`parse_line`] does: names with `:` (recording rules; its
/// names are `\w+`), a `}` inside a label value (its labels end at the first `}`),
/// values its float parser refuses.
fn read_line(line: &str) -> Option<Sample> {
    use prometheus_parse::LineInfo;
    let trimmed = line.trim();
    match LineInfo::parse(trimmed) {
        LineInfo::Sample {
            metric_name,
            labels,
            value,
            ..
        } => {
            let labels = match labels {
                // The crate's label text stops before the `}`, which parse_labels needs;
                // what follows must be nothing (else a `}` was inside a value).
                Some(inside) => match parse_labels(&format!("{inside}}}")) {
                    Some((labels, "")) => labels,
                    _ => return parse_line(trimmed),
                },
                None => BTreeMap::new(),
            };
            match parse_value(value) {
                Some(value) => Some(Sample {
                    name: metric_name.to_string(),
                    labels,
                    value,
                }),
                None => parse_line(trimmed),
            }
        }
        LineInfo::Ignored if !trimmed.starts_with('#') => parse_line(trimmed),
        _ => None,
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse::<f64>().ok(),
    }
}

/// The hand-written reader: the fallback of [`read_line`], and the "before" of the
/// scrape benchmark (`benches/scrape.rs`).
pub fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, rest) = match line.find(['{', ' ', '\t']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inside) => parse_labels(inside)?,
        None => (BTreeMap::new(), rest),
    };
    // Value, then an optional timestamp and (OpenMetrics) exemplar, which we drop.
    let value_text = rest.split_whitespace().next()?;
    let value = parse_value(value_text)?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `k="v",k2="v2"}` with escapes (`\"`, `\\`, `\n`); returns labels and what follows `}`.
fn parse_labels(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(key, value);
        rest = &rest[end + 1..];
    }
}

/// A counter's change between two scrapes. A missing series counts as 0; a counter that
/// went down (the worker restarted) counts from 0 again, as Prometheus's `increase` does.
pub fn delta(before: f64, after: f64) -> f64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_commas_equals_and_escapes_parse_whole() {
        let samples =
            Samples::parse("m{a=\"x,y=z\",b=\"q\\\"uote\\\\\"} 3 1700000000000\n").unwrap();
        assert_eq!(samples.samples[0].labels["a"], "x,y=z");
        assert_eq!(samples.samples[0].labels["b"], "q\"uote\\");
        assert_eq!(samples.samples[0].value, 3.0);
    }

    /// The crate's reading and the hand-written one agree on every page of upstream's
    /// runs (the Python worker's output: `_created` gauges, histograms, process_*).
    #[test]
    fn the_crate_reads_every_fixture_page_as_the_hand_written_reader_does() {
        let root = testkit::env::fixtures_dir();
        let mut pages = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.to_string_lossy().contains("_metrics")
                    && path.extension().is_some_and(|e| e == "txt")
                {
                    pages.push(path);
                }
            }
        }
        if pages.is_empty() {
            testkit::env::unavailable::<()>("the shared fixtures", "set DRILL_SHARED_DIR");
            return;
        }
        let mut compared = 0;
        for page in &pages {
            let text = std::fs::read_to_string(page).unwrap();
            let by_hand: Vec<Sample> = text.lines().filter_map(parse_line).collect();
            let read: Vec<Sample> = text.lines().filter_map(read_line).collect();
            // NaN is not equal to itself: compare the values' bits.
            let bits = |s: &[Sample]| {
                s.iter()
                    .map(|s| (s.name.clone(), s.labels.clone(), s.value.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&read), bits(&by_hand), "{}", page.display());
            // …and it is the crate that read them: every sample line is one to it.
            let by_crate = text
                .lines()
                .filter(|l| {
                    matches!(
                        prometheus_parse::LineInfo::parse(l.trim()),
                        prometheus_parse::LineInfo::Sample { .. }
                    )
                })
                .count();
            assert_eq!(by_crate, by_hand.len(), "{}", page.display());
            compared += by_hand.len();
        }
        assert!(
            compared > 100,
            "{compared} samples in {} pages",
            pages.len()
        );
    }

    #[test]
    fn what_the_crate_gets_wrong_falls_back_to_the_hand_written_reader() {
        let text = "job:rate5m{a=\"x}y\"} 2\nm{a=\"x,y=z\"} 3\nn NaN\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 4\n";
        let samples = Samples::parse(text).unwrap().samples;
        let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["job:rate5m", "m", "n", "h_bucket"]);
        assert_eq!(samples[0].labels["a"], "x}y");
        assert_eq!(samples[1].labels["a"], "x,y=z");
        assert!(samples[2].value.is_nan());
        assert_eq!(samples[3].labels["le"], "+Inf");
    }

    #[test]
    fn html_and_empty_pages_are_errors_that_say_so() {
        let html =
            Samples::parse("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>").unwrap_err();
        assert!(matches!(html, ParseError::Html { .. }));
        assert!(html.to_string().contains("HTML page"));
        assert!(matches!(
            Samples::parse("not metrics at all"),
            Err(ParseError::NoSamples { .. })
        ));
    }

    #[test]
    fn sum_filters_on_labels_and_missing_series_is_zero() {
        let text = "outbox_retry_scheduled_total{op=\"delete\",projection=\"p\",reason=\"es_connect\"} 4.0\n\
                    outbox_retry_scheduled_total{op=\"delete\",projection=\"p\",reason=\"none\"} 0.0\n\
                    outbox_retry_scheduled_created{op=\"delete\",projection=\"p\",reason=\"es_connect\"} 1.7e9\n";
        let samples = Samples::parse(text).unwrap();
        let reasons: &[&str] = &["es_connect", "es_unreachable"];
        assert_eq!(
            samples.sum("outbox_retry_scheduled_total", &[("reason", reasons)]),
            4.0
        );
        assert_eq!(
            samples.sum("outbox_terminal_failed_total", &[("reason", reasons)]),
            0.0
        );
        assert_eq!(delta(5.0, 2.0), 2.0);
        assert_eq!(delta(1.0, 4.0), 3.0);
    }
}
