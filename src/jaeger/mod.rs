//! Jaeger: the trace model shared by the cockpit, the evidence and the checks, and
//! a query client for the legacy `/api` and the post-2.20 `/api/v3`.

pub mod client;
pub mod model;

pub use model::{SpanSummary, TraceSummary, parse_traces};
