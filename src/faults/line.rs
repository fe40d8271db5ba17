//! A fault in one line, for the command line (`--fault`), the gate's control API and a
//! drill file: `abort 429 on bulk every 3 retry-after 2`, `latency 200-800ms ratio 0.5
//! seed 7`, `black-hole on upsert`, `bulk-item 1 400`. Every fault the gate has can be
//! written this way, and [`to_line`] writes a fault back in the same words, so what a
//! run records can be pasted into the next command.
//!
//! The grammar (words separated by spaces; the order of the optional parts is free):
//!
//! ```text
//! pass
//! abort STATUS [on OPS] [PICK] [retry-after SECONDS]
//! latency MS[-MS][ms|s] [on OPS] [PICK]
//! black-hole [on OPS]
//! reset [on OPS]
//! refuse
//! hangup
//! bulk-item ITEM STATUS
//! … for DURATION        (any fault: lifted after that long, e.g. `for 5s`; see parse_lifted)
//! OPS  = writes | upsert, delete, bulk joined by `+` or `,`   (default: writes)
//! PICK = every N | ratio R [seed S] | first N                  (default: every request)
//! ```

use std::time::Duration;

use super::spec::{Fault, Ops, Pick};

/// What `--fault` accepts, for error messages and `--help`.
pub const GRAMMAR: &str = "pass | abort STATUS [on OPS] [every N | ratio R [seed S] | first N] [retry-after SECONDS] \
| latency MS[-MS] [on OPS] [every N | ratio R [seed S] | first N] | black-hole [on OPS] | reset [on OPS] \
| refuse | hangup | bulk-item ITEM STATUS, each optionally followed by `for DURATION` (lifted after that long, e.g. for 5s)   (OPS: writes, or upsert/delete/bulk joined by +)";

const KINDS: &[&str] = &[
    "pass",
    "abort",
    "latency",
    "black-hole",
    "reset",
    "refuse",
    "hangup",
    "bulk-item",
];

/// Parses one line into a fault; the error names the word that is wrong and what
/// would be right there.
pub fn parse(line: &str) -> Result<Fault, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&kind, rest)) = words.split_first() else {
        return Err(format!("the fault is empty: write one of {GRAMMAR}"));
    };
    let mut rest = Words { words: rest, at: 0 };
    let fault = match kind.to_ascii_lowercase().as_str() {
        "pass" => Fault::Pass,
        "refuse" => Fault::Refuse,
        "hangup" | "hang-up" => Fault::Hangup,
        "abort" => {
            let status = rest.status("abort")?;
            let options = rest.options(true, true)?;
            Fault::Abort {
                status,
                ops: options.ops,
                pick: options.pick,
                retry_after_seconds: options.retry_after,
            }
        }
        "latency" | "delay" => {
            let (min, max) = rest.millis_range()?;
            let options = rest.options(true, false)?;
            Fault::Latency {
                min,
                max,
                ops: options.ops,
                pick: options.pick,
            }
        }
        "black-hole" | "blackhole" => Fault::BlackHole {
            ops: rest.options(false, false)?.ops,
        },
        "reset" => Fault::Reset {
            ops: rest.options(false, false)?.ops,
        },
        "bulk-item" | "bulk-partial" => {
            let item =
                rest.number::<usize>("bulk-item's ITEM (which item of each _bulk answer, from 0)")?;
            let status = rest.status("bulk-item")?;
            Fault::BulkPartial { item, status }
        }
        other => {
            return Err(format!(
                "unknown fault '{other}'{}: write one of {}",
                did_you_mean(other, KINDS),
                KINDS.join(", ")
            ));
        }
    };
    rest.end()?;
    Ok(fault)
}

/// Parses a fault with an optional `for DURATION` at its end (`abort 503 on bulk for 5s`):
/// the fault, and how long after it goes in it is lifted again (`None`: until restored).
/// A drill file's `gate` and `--fault` take this form; the gate itself only ever sees
/// the fault, the session lifts it.
pub fn parse_lifted(line: &str) -> Result<(Fault, Option<Duration>), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.iter().rposition(|w| w.eq_ignore_ascii_case("for")) {
        Some(at) => {
            let [duration] = &words[at + 1..] else {
                return Err(format!(
                    "'for' takes one DURATION and ends the fault: write e.g. `{} for 5s`",
                    words[..at].join(" ")
                ));
            };
            let lift = lift_duration(duration)?;
            Ok((parse(&words[..at].join(" "))?, Some(lift)))
        }
        None => Ok((parse(line)?, None)),
    }
}

/// Writes a fault and its lift back as the line [`parse_lifted`] reads.
pub fn to_lifted_line(fault: &Fault, lift: Option<Duration>) -> String {
    match lift {
        None => to_line(fault),
        Some(after) if after.subsec_millis() == 0 => {
            format!("{} for {}s", to_line(fault), after.as_secs())
        }
        Some(after) => format!("{} for {}ms", to_line(fault), after.as_millis()),
    }
}

/// `5s`, `1500ms`, `2m`, `1h`: how long a fault stays in; more than zero, at most an hour.
fn lift_duration(word: &str) -> Result<Duration, String> {
    let lower = word.to_ascii_lowercase();
    let (digits, scale_ms) = if let Some(ms) = lower.strip_suffix("ms") {
        (ms, 1)
    } else if let Some(s) = lower.strip_suffix('s') {
        (s, 1000)
    } else if let Some(m) = lower.strip_suffix('m') {
        (m, 60_000)
    } else if let Some(h) = lower.strip_suffix('h') {
        // Read so that `for 2h` is told the cap, not that it lacks a unit.
        (h, 3_600_000)
    } else {
        return Err(format!(
            "for '{word}': write a duration with its unit, e.g. for 5s, for 1500ms or for 2m"
        ));
    };
    let amount: u64 = digits.parse().map_err(|_| {
        format!("for '{word}' is not a duration: write e.g. for 5s, for 1500ms or for 2m")
    })?;
    let millis = amount.saturating_mul(scale_ms);
    if millis == 0 || millis > 3_600_000 {
        return Err(format!(
            "for '{word}': a fault is lifted after more than 0 s and at most 1 h, e.g. for 5s"
        ));
    }
    Ok(Duration::from_millis(millis))
}

/// Writes a fault as the line [`parse`] reads back into the same fault.
pub fn to_line(fault: &Fault) -> String {
    let ops = |ops: &Ops| {
        if *ops == Ops::WRITES {
            return String::new();
        }
        format!(" on {}", ops.names())
    };
    let pick = |pick: &Pick| match pick {
        Pick::All => String::new(),
        Pick::Nth { n } => format!(" every {n}"),
        Pick::Ratio { ratio, seed } => format!(" ratio {ratio} seed {seed}"),
        Pick::First { n } => format!(" first {n}"),
    };
    match fault {
        Fault::Pass => "pass".into(),
        Fault::Refuse => "refuse".into(),
        Fault::Hangup => "hangup".into(),
        Fault::Abort {
            status,
            ops: on,
            pick: p,
            retry_after_seconds,
        } => format!(
            "abort {status}{}{}{}",
            ops(on),
            pick(p),
            retry_after_seconds
                .map(|s| format!(" retry-after {s}"))
                .unwrap_or_default()
        ),
        Fault::Latency {
            min,
            max,
            ops: on,
            pick: p,
        } => {
            let range = if min == max {
                format!("{}ms", min.as_millis())
            } else {
                format!("{}-{}ms", min.as_millis(), max.as_millis())
            };
            format!("latency {range}{}{}", ops(on), pick(p))
        }
        Fault::BlackHole { ops: on } => format!("black-hole{}", ops(on)),
        Fault::Reset { ops: on } => format!("reset{}", ops(on)),
        Fault::BulkPartial { item, status } => format!("bulk-item {item} {status}"),
    }
}

struct Options {
    ops: Ops,
    pick: Pick,
    retry_after: Option<u32>,
}

/// The words after the fault's kind, read left to right.
struct Words<'a> {
    words: &'a [&'a str],
    at: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let word = self.words.get(self.at).copied();
        self.at += usize::from(word.is_some());
        word
    }

    fn required(&mut self, what: &str) -> Result<&'a str, String> {
        self.next()
            .ok_or_else(|| format!("{what} is missing at the end of the fault"))
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, String> {
        let word = self.required(what)?;
        word.parse()
            .map_err(|_| format!("{what}: '{word}' is not a number of the right kind"))
    }

    fn status(&mut self, kind: &str) -> Result<u16, String> {
        let status: u16 = self.number(&format!("{kind}'s HTTP STATUS"))?;
        if !(100..=599).contains(&status) {
            return Err(format!(
                "{kind}'s HTTP STATUS {status} is not a status: use 100–599, e.g. 429 or 503"
            ));
        }
        Ok(status)
    }

    /// `200`, `200ms`, `1s`, `200-800`, `200-800ms`, `1-2s`.
    fn millis_range(&mut self) -> Result<(Duration, Duration), String> {
        let word = self.required("latency's MS (e.g. 200ms or 200-800ms)")?;
        let (digits, scale) = if let Some(ms) = word.strip_suffix("ms") {
            (ms, 1)
        } else if let Some(s) = word.strip_suffix('s') {
            (s, 1000)
        } else {
            (word, 1)
        };
        let bad = || {
            format!(
                "latency '{word}' is not a duration: write MS or MIN-MAX with ms or s, e.g. 200ms or 200-800ms"
            )
        };
        let (low, high) = digits.split_once('-').unwrap_or((digits, digits));
        let low: u64 = low.parse().map_err(|_| bad())?;
        let high: u64 = high.parse().map_err(|_| bad())?;
        if high < low {
            return Err(format!(
                "latency '{word}': the maximum is below the minimum; write MIN-MAX"
            ));
        }
        Ok((
            Duration::from_millis(low * scale),
            Duration::from_millis(high * scale),
        ))
    }

    fn ops(&mut self) -> Result<Ops, String> {
        let word = self.required("OPS after 'on' (writes, or upsert/delete/bulk joined by +)")?;
        if word.eq_ignore_ascii_case("writes") || word.eq_ignore_ascii_case("all") {
            return Ok(Ops::WRITES);
        }
        let mut ops = Ops {
            upsert: false,
            delete: false,
            bulk: false,
        };
        for name in word.split(['+', ',']).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "upsert" | "upserts" => ops.upsert = true,
                "delete" | "deletes" => ops.delete = true,
                "bulk" => ops.bulk = true,
                other => {
                    return Err(format!(
                        "'{other}' is not an operation{}: write writes, or upsert, delete, bulk joined by +",
                        did_you_mean(other, &["upsert", "delete", "bulk", "writes"])
                    ));
                }
            }
        }
        Ok(ops)
    }

    /// The optional parts after the kind's own arguments, in any order.
    fn options(&mut self, takes_pick: bool, takes_retry_after: bool) -> Result<Options, String> {
        let mut options = Options {
            ops: Ops::WRITES,
            pick: Pick::All,
            retry_after: None,
        };
        let mut allowed = vec!["on"];
        if takes_pick {
            allowed.extend(["every", "ratio", "first"]);
        }
        if takes_retry_after {
            allowed.push("retry-after");
        }
        while let Some(word) = self.next() {
            let word_lower = word.to_ascii_lowercase();
            match word_lower.as_str() {
                "on" => options.ops = self.ops()?,
                "every" if takes_pick => {
                    let n: u64 = self.number("every's N")?;
                    if n == 0 {
                        return Err(
                            "every 0: N counts requests from 1 (every 1 is every request)".into(),
                        );
                    }
                    options.pick = Pick::Nth { n };
                }
                "first" if takes_pick => {
                    options.pick = Pick::First {
                        n: self.number("first's N")?,
                    }
                }
                "ratio" if takes_pick => {
                    let ratio: f64 = self.number("ratio's R (0–1)")?;
                    if !(0.0..=1.0).contains(&ratio) {
                        return Err(format!(
                            "ratio {ratio} is not a probability: use 0–1, e.g. 0.5"
                        ));
                    }
                    let seed = if self
                        .words
                        .get(self.at)
                        .is_some_and(|w| w.eq_ignore_ascii_case("seed"))
                    {
                        self.at += 1;
                        self.number("seed's S")?
                    } else {
                        0
                    };
                    options.pick = Pick::Ratio { ratio, seed };
                }
                "retry-after" if takes_retry_after => {
                    options.retry_after = Some(self.number("retry-after's SECONDS")?)
                }
                // Only a drill lifts a fault on time (parse_lifted); a gate switched by
                // hand keeps its fault until the next switch.
                "for" => {
                    return Err(
                        "'for DURATION' lifts a fault on time only where a drill runs it (a drill file's gate, --fault of run and the cockpit): here the fault stays until it is switched, so drop 'for …'".into(),
                    );
                }
                _ => {
                    return Err(format!(
                        "'{word}' is not understood here{}: after the fault's arguments come {}",
                        did_you_mean(&word_lower, &allowed),
                        allowed.join(", ")
                    ));
                }
            }
        }
        Ok(options)
    }

    fn end(&mut self) -> Result<(), String> {
        match self.next() {
            None => Ok(()),
            Some(word) => Err(format!(
                "'{word}' is one word too many: this fault takes nothing more"
            )),
        }
    }
}

/// ` (did you mean 'x'?)` for the closest known word within two edits, else nothing.
fn did_you_mean(word: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::spec::EsOp;

    fn every_kind() -> Vec<Fault> {
        vec![
            Fault::Pass,
            Fault::Refuse,
            Fault::Hangup,
            Fault::Abort {
                status: 429,
                ops: Ops::WRITES,
                pick: Pick::All,
                retry_after_seconds: Some(2),
            },
            Fault::Abort {
                status: 503,
                ops: Ops::only(EsOp::Bulk),
                pick: Pick::Nth { n: 3 },
                retry_after_seconds: None,
            },
            Fault::Abort {
                status: 500,
                ops: Ops {
                    upsert: true,
                    delete: true,
                    bulk: false,
                },
                pick: Pick::Ratio {
                    ratio: 0.25,
                    seed: 7,
                },
                retry_after_seconds: None,
            },
            Fault::Abort {
                status: 429,
                ops: Ops::only(EsOp::Delete),
                pick: Pick::First { n: 2 },
                retry_after_seconds: Some(1),
            },
            Fault::Latency {
                min: Duration::from_millis(200),
                max: Duration::from_millis(800),
                ops: Ops::WRITES,
                pick: Pick::All,
            },
            Fault::Latency {
                min: Duration::from_millis(50),
                max: Duration::from_millis(50),
                ops: Ops::only(EsOp::Upsert),
                pick: Pick::Nth { n: 2 },
            },
            Fault::BlackHole {
                ops: Ops::only(EsOp::Upsert),
            },
            Fault::Reset { ops: Ops::WRITES },
            Fault::BulkPartial {
                item: 1,
                status: 400,
            },
        ]
    }

    #[test]
    fn every_fault_reads_back_from_its_own_line() {
        for fault in every_kind() {
            let line = to_line(&fault);
            assert_eq!(parse(&line), Ok(fault.clone()), "line: {line}");
        }
    }

    #[test]
    fn the_written_forms_a_person_types_are_understood() {
        assert_eq!(
            parse("abort 429 on bulk every 3 retry-after 2").unwrap(),
            Fault::Abort {
                status: 429,
                ops: Ops::only(EsOp::Bulk),
                pick: Pick::Nth { n: 3 },
                retry_after_seconds: Some(2)
            }
        );
        assert_eq!(
            parse("  latency 1-2s   ratio 0.5 ").unwrap(),
            Fault::Latency {
                min: Duration::from_secs(1),
                max: Duration::from_secs(2),
                ops: Ops::WRITES,
                pick: Pick::Ratio {
                    ratio: 0.5,
                    seed: 0
                }
            }
        );
        assert_eq!(
            parse("ABORT 503 retry-after 5 on upsert,delete").unwrap(),
            Fault::Abort {
                status: 503,
                ops: Ops {
                    upsert: true,
                    delete: true,
                    bulk: false
                },
                pick: Pick::All,
                retry_after_seconds: Some(5)
            }
        );
        assert_eq!(
            parse("blackhole").unwrap(),
            Fault::BlackHole { ops: Ops::WRITES }
        );
    }

    #[test]
    fn a_fault_for_a_while_reads_back_with_its_lift() {
        for (line, lift) in [
            ("abort 503 on bulk for 5s", Some(Duration::from_secs(5))),
            (
                "latency 200ms for 1500ms",
                Some(Duration::from_millis(1500)),
            ),
            ("refuse FOR 2m", Some(Duration::from_secs(120))),
            ("abort 429", None),
        ] {
            let (fault, lifted) = parse_lifted(line).expect(line);
            assert_eq!(lifted, lift, "{line}");
            assert_eq!(
                parse_lifted(&to_lifted_line(&fault, lifted)),
                Ok((fault, lifted))
            );
        }
        for (line, expected) in [
            ("abort 503 for", "takes one DURATION"),
            ("abort 503 for 5s now", "takes one DURATION"),
            ("abort 503 for 5", "with its unit"),
            ("abort 503 for 0s", "more than 0 s"),
            ("abort 503 for 2h", "at most 1 h"),
            ("abrot 503 for 5s", "did you mean 'abort'"),
        ] {
            let error = parse_lifted(line).expect_err(line);
            assert!(error.contains(expected), "{line:?} gave {error:?}");
        }
    }

    #[test]
    fn a_wrong_word_is_named_with_what_would_be_right() {
        let cases = [
            ("", "empty"),
            ("abrot 429", "did you mean 'abort'"),
            ("abort", "STATUS is missing"),
            ("abort 42x", "'42x' is not a number"),
            ("abort 999", "use 100–599"),
            ("abort 429 on bluk", "did you mean 'bulk'"),
            ("abort 429 evry 2", "did you mean 'every'"),
            ("abort 429 every 0", "every 0"),
            ("abort 429 ratio 1.5", "not a probability"),
            ("latency fast", "not a duration"),
            ("latency 800-200ms", "below the minimum"),
            (
                "latency 200ms retry-after 2",
                "'retry-after' is not understood here",
            ),
            ("refuse now", "one word too many"),
            ("abort 503 for 5s", "only where a drill runs it"),
            ("bulk-item 1", "STATUS is missing"),
        ];
        for (line, expected) in cases {
            let error = parse(line).expect_err(line);
            assert!(
                error.contains(expected),
                "{line:?} gave {error:?}, expected it to mention {expected:?}"
            );
        }
    }

    #[test]
    fn a_lift_in_hours_is_read_and_held_to_the_cap() {
        assert_eq!(lift_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(lift_duration("60m"), Ok(Duration::from_secs(3600)));
    }
}
