//! Jaeger: the trace model shared by the cockpit, the evidence and the checks, and
//! a query client for the legacy `/api` and the post-2.20 `/api/v3`.

pub mod client;
pub mod model;

pub use model::{SpanSummary, TraceSummary, parse_traces};

/// The Jaeger UI page of a trace (the same path on Jaeger 1.x and 2.x).
pub fn trace_link(jaeger_base: &str, trace_id: &str) -> String {
    format!("{}/trace/{trace_id}", jaeger_base.trim_end_matches('/'))
}
