//! Faults as data (Envoy's fault filter, Toxiproxy's toxics): what the gate does to a
//! request, decided per request from the fault in force. Pure: no IO here, so every
//! decision is unit-tested and reproducible (ratios use a seeded generator).

use std::time::Duration;

use serde::Serialize;

/// What a request to Elasticsearch is, as the drills tell requests apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EsOp {
    /// `PUT`/`POST …/_doc/…` (and `_create`): an upsert.
    Upsert,
    /// `DELETE …/_doc/…`.
    Delete,
    /// `POST /_bulk` or `…/_bulk`.
    Bulk,
    /// Anything else (health, index admin, searches).
    Other,
}

impl EsOp {
    pub fn of(method: &str, path: &str) -> EsOp {
        let path = path.split('?').next().unwrap_or(path);
        if path.ends_with("/_bulk") || path == "/_bulk" {
            return EsOp::Bulk;
        }
        let is_doc = path.contains("/_doc/") || path.contains("/_create/");
        match (method, is_doc) {
            ("PUT" | "POST", true) => EsOp::Upsert,
            ("DELETE", true) => EsOp::Delete,
            _ => EsOp::Other,
        }
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ops {
    pub upsert: bool,
    pub delete: bool,
    pub bulk: bool,
}

impl Ops {
    pub const WRITES: Ops = Ops {
        upsert: true,
        delete: true,
        bulk: true,
    };

    pub fn only(op: EsOp) -> Ops {
        Ops {
            upsert: op == EsOp::Upsert,
            delete: op == EsOp::Delete,
            bulk: op == EsOp::Bulk,
        }
    }

    /// The ops it names, `+`-joined as fault specs write them (`upsert+bulk`).
    pub fn names(&self) -> String {
        let names: Vec<&str> = [
            ("upsert", self.upsert),
            ("delete", self.delete),
            ("bulk", self.bulk),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| name)
        .collect();
        names.join("+")
    }

    pub fn matches(&self, op: EsOp) -> bool {
        match op {
            EsOp::Upsert => self.upsert,
            EsOp::Delete => self.delete,
            EsOp::Bulk => self.bulk,
            EsOp::Other => false,
        }
    }
}

/// Which of the matching requests a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "every", rename_all = "snake_case")]
pub enum Pick {
    /// Every matching request.
    All,
    /// The Nth, 2Nth, … matching request.
    Nth { n: u64 },
    /// Each matching request with this probability, from a seeded generator.
    Ratio { ratio: f64, seed: u64 },
    /// Only the first `n` matching requests (then the gate passes them).
    First { n: u64 },
}

/// 1st, 2nd, 3rd, 4th, 11th, 22nd: the journal says "every 2nd", not "every 2th".
fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl Pick {
    /// The pick's words after the fault's (empty for every request).
    fn describe(&self) -> String {
        match self {
            Pick::All => String::new(),
            Pick::Nth { n } => format!(", every {}", ordinal(*n)),
            Pick::Ratio { ratio, seed } => format!(", ratio {ratio} (seed {seed})"),
            Pick::First { n } => format!(", the first {n} only"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Forward everything unchanged.
    Pass,
    /// Answer with `status` (an ES-shaped error body) instead of forwarding.
    Abort {
        status: u16,
        ops: Ops,
        pick: Pick,
        retry_after_seconds: Option<u32>,
    },
    /// Wait, then forward.
    Latency {
        min: Duration,
        max: Duration,
        ops: Ops,
        pick: Pick,
    },
    /// Accept the request and never answer (the client times out: `es_timeout`).
    BlackHole { ops: Ops },
    /// The gate's listener closed: a real connection refusal.
    Refuse,
    /// Every connection is accepted and closed at once, unanswered (a TCP reset): the
    /// client fails as against a collector that is down, and each attempt is recorded,
    /// so the drill can show the worker tried and was turned away.
    Hangup,
    /// Forward, then cut the connection in the middle of the response.
    Reset { ops: Ops },
    /// Forward a `_bulk`, then rewrite one item of the real answer to a 4xx with an
    /// ES-shaped error object and `errors: true`.
    BulkPartial { item: usize, status: u16 },
}

impl Fault {
    /// One line for the status bar, the Faults pane and the journal.
    pub fn describe(&self) -> String {
        match self {
            Fault::Pass => "pass".into(),
            Fault::Abort {
                status,
                ops: on,
                pick,
                retry_after_seconds,
            } => format!(
                "abort {status} on {}{}{}",
                on.names(),
                pick.describe(),
                retry_after_seconds
                    .map(|s| format!(", Retry-After {s}"))
                    .unwrap_or_default()
            ),
            Fault::Latency {
                min,
                max,
                ops: on,
                pick,
            } => format!(
                "latency {}–{} ms on {}{}",
                min.as_millis(),
                max.as_millis(),
                on.names(),
                pick.describe()
            ),
            Fault::BlackHole { ops: on } => format!("black hole on {}", on.names()),
            Fault::Refuse => "refuse connections".into(),
            Fault::Hangup => "hang up on every connection (reset)".into(),
            Fault::Reset { ops: on } => format!("reset mid-response on {}", on.names()),
            Fault::BulkPartial { item, status } => {
                format!("bulk partial: item {item} of each _bulk answered {status}")
            }
        }
    }
}

/// What the gate does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Forward,
    Abort {
        status: u16,
        retry_after_seconds: Option<u32>,
    },
    Delay(Duration),
    Hold,
    Reset,
    RewriteBulkItem {
        item: usize,
        status: u16,
    },
}

/// The fault in force and the counters its picks need.
pub struct Decider {
    fault: Fault,
    matched: u64,
    rng: fastrand::Rng,
}

impl Decider {
    pub fn new(fault: Fault) -> Decider {
        let seed = match &fault {
            Fault::Abort {
                pick: Pick::Ratio { seed, .. },
                ..
            }
            | Fault::Latency {
                pick: Pick::Ratio { seed, .. },
                ..
            } => *seed,
            _ => 0,
        };
        Decider {
            fault,
            matched: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    /// Counts one matching request and says whether the pick takes it.
    fn picks(&mut self, pick: &Pick) -> bool {
        self.matched += 1;
        match pick {
            Pick::All => true,
            Pick::Nth { n } => self.matched.is_multiple_of((*n).max(1)),
            Pick::Ratio { ratio, .. } => self.rng.f64() < *ratio,
            Pick::First { n } => self.matched <= *n,
        }
    }

    pub fn decide(&mut self, op: EsOp) -> Decision {
        match &self.fault {
            Fault::Pass | Fault::Refuse | Fault::Hangup => Decision::Forward,
            Fault::Abort {
                status,
                ops,
                pick,
                retry_after_seconds,
            } => {
                if !ops.matches(op) {
                    return Decision::Forward;
                }
                let (status, retry_after_seconds, pick) = (*status, *retry_after_seconds, *pick);
                if self.picks(&pick) {
                    Decision::Abort {
                        status,
                        retry_after_seconds,
                    }
                } else {
                    Decision::Forward
                }
            }
            Fault::Latency {
                min,
                max,
                ops,
                pick,
            } if ops.matches(op) => {
                let (min, max, pick) = (*min, *max, *pick);
                if !self.picks(&pick) {
                    return Decision::Forward;
                }
                let spread = max.saturating_sub(min).as_millis() as u64;
                let extra = if spread == 0 {
                    0
                } else {
                    self.rng.u64(0..=spread)
                };
                Decision::Delay(min + Duration::from_millis(extra))
            }
            Fault::BlackHole { ops } if ops.matches(op) => Decision::Hold,
            Fault::Reset { ops } if ops.matches(op) => Decision::Reset,
            Fault::BulkPartial { item, status } if op == EsOp::Bulk => Decision::RewriteBulkItem {
                item: *item,
                status: *status,
            },
            _ => Decision::Forward,
        }
    }
}

/// The ES-shaped error body of an injected status (what ES itself answers).
pub fn error_body(status: u16) -> serde_json::Value {
    let (kind, reason) = match status {
        429 => (
            "es_rejected_execution_exception",
            "rejected execution (injected by the drill-cockpit fault gate)",
        ),
        403 => (
            "cluster_block_exception",
            "index [blocked by: [FORBIDDEN/8/index write (api)]] (injected by the drill-cockpit fault gate)",
        ),
        400 => (
            "document_parsing_exception",
            "failed to parse (injected by the drill-cockpit fault gate)",
        ),
        _ => ("exception", "injected by the drill-cockpit fault gate"),
    };
    serde_json::json!({
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status
    })
}

/// Rewrites item `item` (the last when fewer) of a real `_bulk` answer to `status`.
/// Returns `None` when the body is not a bulk answer with items.
pub fn rewrite_bulk_item(body: &[u8], item: usize, status: u16) -> Option<Vec<u8>> {
    let mut answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let items = answer.get_mut("items")?.as_array_mut()?;
    let last = items.len().checked_sub(1)?;
    let chosen = items.get_mut(item.min(last))?.as_object_mut()?;
    let (_, result) = chosen.iter_mut().next()?;
    let result = result.as_object_mut()?;
    result.insert("status".into(), status.into());
    result.insert("error".into(), error_body(status)["error"].clone());
    result.remove("result");
    result.remove("_version");
    answer["errors"] = true.into();
    serde_json::to_vec(&answer).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_nth_reads_as_english() {
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 103, 111]
            .into_iter()
            .map(super::ordinal)
            .collect();
        assert_eq!(
            words,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd",
                "111th"
            ]
        );
    }

    use super::*;

    #[test]
    fn requests_are_told_apart_by_method_and_path() {
        assert_eq!(
            EsOp::of("PUT", "/idx/_doc/1?version=2&version_type=external"),
            EsOp::Upsert
        );
        assert_eq!(EsOp::of("POST", "/idx/_doc/1"), EsOp::Upsert);
        assert_eq!(EsOp::of("DELETE", "/idx/_doc/1"), EsOp::Delete);
        assert_eq!(EsOp::of("POST", "/_bulk"), EsOp::Bulk);
        assert_eq!(EsOp::of("POST", "/idx/_bulk?refresh=false"), EsOp::Bulk);
        assert_eq!(EsOp::of("GET", "/idx/_doc/1"), EsOp::Other);
        assert_eq!(EsOp::of("PUT", "/idx"), EsOp::Other);
    }

    #[test]
    fn every_nth_hits_only_matching_requests() {
        let mut decider = Decider::new(Fault::Abort {
            status: 429,
            ops: Ops::only(EsOp::Upsert),
            pick: Pick::Nth { n: 2 },
            retry_after_seconds: Some(1),
        });
        let decisions: Vec<bool> = [
            EsOp::Upsert,
            EsOp::Delete,
            EsOp::Upsert,
            EsOp::Upsert,
            EsOp::Upsert,
        ]
        .into_iter()
        .map(|op| decider.decide(op) != Decision::Forward)
        .collect();
        assert_eq!(decisions, vec![false, false, true, false, true]);
    }

    #[test]
    fn a_seeded_ratio_is_reproducible() {
        let fault = Fault::Abort {
            status: 503,
            ops: Ops::WRITES,
            pick: Pick::Ratio {
                ratio: 0.3,
                seed: 7,
            },
            retry_after_seconds: None,
        };
        let run = || {
            let mut decider = Decider::new(fault.clone());
            (0..200)
                .map(|_| decider.decide(EsOp::Upsert) != Decision::Forward)
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let hits = first.iter().filter(|h| **h).count();
        assert!((40..=80).contains(&hits), "{hits}");
    }

    #[test]
    fn a_bulk_answer_gets_one_poison_item() {
        let body = br#"{"took":3,"errors":false,"items":[{"index":{"_index":"i","_id":"a","status":201,"result":"created","_version":1}},{"index":{"_index":"i","_id":"b","status":201,"result":"created","_version":1}}]}"#;
        let rewritten: serde_json::Value =
            serde_json::from_slice(&rewrite_bulk_item(body, 0, 400).unwrap()).unwrap();
        assert_eq!(rewritten["errors"], true);
        assert_eq!(rewritten["items"][0]["index"]["status"], 400);
        assert_eq!(
            rewritten["items"][0]["index"]["error"]["type"],
            "document_parsing_exception"
        );
        assert_eq!(rewritten["items"][1]["index"]["status"], 201);
        assert!(rewrite_bulk_item(b"{}", 0, 400).is_none());
    }
}
