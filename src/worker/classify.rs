//! What an Elasticsearch answer means for an outbox event: done, an idempotent no-op,
//! a transient failure to retry, or a deterministic one to stop at.

use crate::db::outbox::Op;

/// Low-cardinality reasons (CONTRACT.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    EsConnect,
    EsTimeout,
    Es429,
    Es5xx,
    Es4xx,
    Es404,
    Es409,
    NoSourceRow,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::EsConnect => "es_connect",
            Reason::EsTimeout => "es_timeout",
            Reason::Es429 => "es_429",
            Reason::Es5xx => "es_5xx",
            Reason::Es4xx => "es_4xx",
            Reason::Es404 => "es_404",
            Reason::Es409 => "es_409",
            Reason::NoSourceRow => "no_source_row",
        }
    }

    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Reason::EsConnect | Reason::EsTimeout | Reason::Es429 | Reason::Es5xx
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Nothing to do, and that is correct (a delete of a missing doc, an older version).
    Noop(Reason),
    /// Failed this attempt; `reason` says whether another attempt can help.
    Failed {
        reason: Reason,
        error: String,
    },
}

/// From an HTTP status of a single-document call or of a bulk item.
pub fn from_status(op: Op, status: u16, body: &str) -> Outcome {
    match status {
        200..=299 => Outcome::Done,
        404 if op == Op::Delete => Outcome::Noop(Reason::Es404),
        409 => Outcome::Noop(Reason::Es409),
        429 => failed(Reason::Es429, status, body),
        500..=599 => failed(Reason::Es5xx, status, body),
        _ => failed(Reason::Es4xx, status, body),
    }
}

fn failed(reason: Reason, status: u16, body: &str) -> Outcome {
    Outcome::Failed {
        reason,
        error: format!("HTTP {status}: {}", truncate(body, 500)),
    }
}

/// From a transport error: no HTTP answer at all.
pub fn from_transport(error: &reqwest::Error) -> Outcome {
    let reason = if error.is_timeout() {
        Reason::EsTimeout
    } else {
        // Refused, reset, or cut mid-response: the cluster is not reachable.
        Reason::EsConnect
    };
    Outcome::Failed {
        reason,
        error: truncate(&format!("{error:?}"), 500),
    }
}

pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_contract_reasons() {
        assert_eq!(from_status(Op::Upsert, 201, ""), Outcome::Done);
        assert_eq!(
            from_status(Op::Delete, 404, "{\"result\":\"not_found\"}"),
            Outcome::Noop(Reason::Es404)
        );
        assert_eq!(
            from_status(Op::Upsert, 409, ""),
            Outcome::Noop(Reason::Es409)
        );
        for (status, reason) in [
            (429, Reason::Es429),
            (503, Reason::Es5xx),
            (403, Reason::Es4xx),
            (400, Reason::Es4xx),
            (404, Reason::Es4xx),
        ] {
            match from_status(Op::Upsert, status, "x") {
                Outcome::Failed { reason: got, .. } => assert_eq!(got, reason, "{status}"),
                other => panic!("{status}: {other:?}"),
            }
        }
        assert!(Reason::Es429.is_transient() && Reason::EsConnect.is_transient());
        assert!(!Reason::Es4xx.is_transient());
    }

    #[test]
    fn truncation_respects_utf8() {
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
