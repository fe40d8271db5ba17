//! Traces as the cockpit and the checks use them, read from either Jaeger API:
//! the legacy UI JSON (`{"data": [trace…]}`) or `/api/v3` OTLP JSON
//! (`{"result": {"resourceSpans": […]}}`). Tag values are kept as text, the way
//! Jaeger compares them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanSummary {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub operation: String,
    pub service: String,
    pub start_us: i64,
    pub duration_us: i64,
    pub tags: BTreeMap<String, String>,
    pub error: bool,
    /// Span events / logs: (time µs, fields).
    pub events: Vec<(i64, BTreeMap<String, String>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSummary {
    pub trace_id: String,
    pub spans: Vec<SpanSummary>,
}

impl TraceSummary {
    pub fn span(&self, operation: &str) -> Option<&SpanSummary> {
        self.spans.iter().find(|s| s.operation == operation)
    }

    pub fn start_us(&self) -> i64 {
        self.spans.iter().map(|s| s.start_us).min().unwrap_or(0)
    }

    pub fn duration_us(&self) -> i64 {
        let end = self
            .spans
            .iter()
            .map(|s| s.start_us + s.duration_us)
            .max()
            .unwrap_or(0);
        end - self.start_us()
    }

    pub fn has_error(&self) -> bool {
        self.spans.iter().any(|s| s.error)
    }

    /// Whether the drill's unit of work failed in this trace: the `outbox.process`
    /// span's own status and `result` (else the batch span's). A child span's error
    /// alone (the HTTP client's 404 of a no-op delete) is not a failure.
    pub fn failed(&self) -> bool {
        let judged = |span: &SpanSummary| {
            span.error
                || matches!(
                    span.tags.get("result").map(String::as_str),
                    Some("retry" | "failed" | "partial")
                )
        };
        // The event's own span first; its batch's result speaks for it when the
        // process span carries none (upstream writes `result` on the batch only).
        let process = self.span("outbox.process");
        let batch = self.span("projection.process_batch");
        match (process, batch) {
            (None, None) => self.has_error(),
            (Some(process), _) if process.tags.contains_key("result") => judged(process),
            (process, batch) => process.is_some_and(judged) || batch.is_some_and(judged),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not a Jaeger trace response: {0}")]
pub struct ModelError(String);

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Parses a traces response of either API (a `_exports/jaeger-traces-*.json` too).
pub fn parse_traces(body: &Value) -> Result<Vec<TraceSummary>, ModelError> {
    if let Some(data) = body.get("data") {
        return match data {
            Value::Array(traces) => Ok(traces.iter().map(parse_legacy_trace).collect()),
            Value::Null => Ok(Vec::new()),
            _ => Err(ModelError("`data` is not a list".into())),
        };
    }
    if let Some(result) = body.get("result") {
        return Ok(parse_otlp(result));
    }
    if body.get("resourceSpans").is_some() {
        return Ok(parse_otlp(body));
    }
    if body.get("error").is_some() {
        // v3 answers 404 with an error object when nothing matched.
        return Ok(Vec::new());
    }
    Err(ModelError(
        "expected `data` (legacy /api) or `result` (/api/v3)".into(),
    ))
}

fn parse_legacy_trace(trace: &Value) -> TraceSummary {
    let processes = trace.get("processes").and_then(Value::as_object);
    let tags_of = |list: Option<&Value>| -> BTreeMap<String, String> {
        list.and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| {
                        Some((
                            t.get("key")?.as_str()?.to_string(),
                            text_of(t.get("value").unwrap_or(&Value::Null)),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let spans = trace
        .get("spans")
        .and_then(Value::as_array)
        .map(|spans| {
            spans
                .iter()
                .map(|span| {
                    let tags = tags_of(span.get("tags"));
                    let service = span
                        .get("processID")
                        .and_then(Value::as_str)
                        .and_then(|pid| processes.and_then(|p| p.get(pid)))
                        .and_then(|p| p.get("serviceName"))
                        .map(text_of)
                        .unwrap_or_default();
                    let parent = span
                        .get("references")
                        .and_then(Value::as_array)
                        .and_then(|refs| {
                            refs.iter().find(|r| {
                                r.get("refType").and_then(Value::as_str) == Some("CHILD_OF")
                            })
                        })
                        .and_then(|r| r.get("spanID"))
                        .map(text_of);
                    let events = span
                        .get("logs")
                        .and_then(Value::as_array)
                        .map(|logs| {
                            logs.iter()
                                .map(|l| {
                                    (
                                        l.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
                                        tags_of(l.get("fields")),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    SpanSummary {
                        span_id: span.get("spanID").map(text_of).unwrap_or_default(),
                        parent_span_id: parent,
                        operation: span.get("operationName").map(text_of).unwrap_or_default(),
                        service,
                        start_us: span.get("startTime").and_then(Value::as_i64).unwrap_or(0),
                        duration_us: span.get("duration").and_then(Value::as_i64).unwrap_or(0),
                        error: tags.get("error").is_some_and(|v| v == "true")
                            || tags.get("otel.status_code").is_some_and(|v| v == "ERROR"),
                        tags,
                        events,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    TraceSummary {
        trace_id: trace.get("traceID").map(text_of).unwrap_or_default(),
        spans,
    }
}

fn otlp_value(value: &Value) -> String {
    for key in [
        "stringValue",
        "intValue",
        "doubleValue",
        "boolValue",
        "bytesValue",
    ] {
        if let Some(v) = value.get(key) {
            return text_of(v);
        }
    }
    value.to_string()
}

fn otlp_attributes(list: Option<&Value>) -> BTreeMap<String, String> {
    list.and_then(Value::as_array)
        .map(|attrs| {
            attrs
                .iter()
                .filter_map(|a| {
                    Some((
                        a.get("key")?.as_str()?.to_string(),
                        otlp_value(a.get("value").unwrap_or(&Value::Null)),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn nanos(value: Option<&Value>) -> i64 {
    value
        .map(text_of)
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(0)
}

fn parse_otlp(result: &Value) -> Vec<TraceSummary> {
    let mut traces: BTreeMap<String, Vec<SpanSummary>> = BTreeMap::new();
    for resource_spans in result
        .get("resourceSpans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let resource = otlp_attributes(resource_spans.pointer("/resource/attributes"));
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for scope in resource_spans
            .get("scopeSpans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for span in scope
                .get("spans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let start = nanos(span.get("startTimeUnixNano"));
                let end = nanos(span.get("endTimeUnixNano"));
                let tags = otlp_attributes(span.get("attributes"));
                let status_code = span
                    .pointer("/status/code")
                    .map(text_of)
                    .unwrap_or_default();
                let events = span
                    .get("events")
                    .and_then(Value::as_array)
                    .map(|events| {
                        events
                            .iter()
                            .map(|e| {
                                let mut fields = otlp_attributes(e.get("attributes"));
                                fields.insert(
                                    "event".into(),
                                    e.get("name").map(text_of).unwrap_or_default(),
                                );
                                (nanos(e.get("timeUnixNano")) / 1000, fields)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let summary = SpanSummary {
                    span_id: span.get("spanId").map(text_of).unwrap_or_default(),
                    parent_span_id: span
                        .get("parentSpanId")
                        .map(text_of)
                        .filter(|p| !p.is_empty()),
                    operation: span.get("name").map(text_of).unwrap_or_default(),
                    service: service.clone(),
                    start_us: start / 1000,
                    duration_us: (end - start).max(0) / 1000,
                    error: status_code == "2" || status_code == "STATUS_CODE_ERROR",
                    tags,
                    events,
                };
                traces
                    .entry(span.get("traceId").map(text_of).unwrap_or_default())
                    .or_default()
                    .push(summary);
            }
        }
    }
    traces
        .into_iter()
        .map(|(trace_id, spans)| TraceSummary { trace_id, spans })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Value {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures")
            .join(path);
        serde_json::from_str(
            &std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display())),
        )
        .unwrap()
    }

    #[test]
    fn upstream_export_parses_with_both_pivots_visible() {
        let traces = parse_traces(&fixture(
            "upstream-run-es_down_connect/_exports/jaeger-traces-outbox_event_id-8722f068-7acd-4223-986c-d49fc8ca02cf-20260214T104255.json",
        ))
        .unwrap();
        assert_eq!(traces.len(), 3);
        let process = traces[0].span("outbox.process").unwrap();
        assert_eq!(
            process.tags["wordloom.outbox_event_id"],
            "8722f068-7acd-4223-986c-d49fc8ca02cf"
        );
        assert_eq!(process.tags["wordloom.outbox_attempts"], "2");
        assert_eq!(process.service, "wordloom-search-outbox-worker");
        let batch = traces[0].span("projection.process_batch").unwrap();
        assert_eq!(batch.tags["result"], "retry");
        assert!(traces[0].spans.iter().any(|s| s.error));
        assert!(traces[0].duration_us() > 0);
    }

    #[test]
    fn ui_and_v3_fixtures_parse() {
        let ui = parse_legacy_trace(&fixture("jaeger/ui_01.json"));
        assert_eq!(ui.spans.len(), 5);
        assert!(ui.spans[1].error);
        assert_eq!(ui.spans[1].tags["peer.ipv4"], "23456");
        assert_eq!(
            ui.spans[2].parent_span_id.as_deref(),
            Some("0000000000000002")
        );
        assert_eq!(ui.spans[0].events[0].1["event"], "some-event");

        let v3 = parse_traces(&fixture("jaeger/apiv3-FindTraces.json")).unwrap();
        assert_eq!(v3.len(), 1);
        assert_eq!(v3[0].spans[0].operation, "foobar");
        assert!(v3[0].spans[0].error);

        let converted = parse_traces(&fixture("jaeger/otlp2jaeger-out.json")).unwrap();
        assert_eq!(
            converted[0].spans[0].tags["peer.service"],
            "telemetrygen-client"
        );
        assert!(parse_traces(&serde_json::json!({"foo": 1})).is_err());
    }

    fn span(operation: &str, error: bool, result: Option<&str>) -> SpanSummary {
        SpanSummary {
            span_id: operation.into(),
            parent_span_id: None,
            operation: operation.into(),
            service: "w".into(),
            start_us: 0,
            duration_us: 1,
            tags: result
                .map(|r| [("result".to_string(), r.to_string())].into())
                .unwrap_or_default(),
            error,
            events: Vec::new(),
        }
    }

    #[test]
    fn a_trace_fails_by_its_process_span_not_by_a_child() {
        // The no-op delete: the HTTP client's 404 span is ERROR, the event is ok.
        let noop = TraceSummary {
            trace_id: "t".into(),
            spans: vec![
                span("projection.process_batch", false, Some("ok")),
                span("outbox.process", false, Some("ok")),
                span("HTTP DELETE", true, None),
            ],
        };
        assert!(noop.has_error());
        assert!(!noop.failed());
        let retry = TraceSummary {
            trace_id: "t".into(),
            spans: vec![span("outbox.process", false, Some("retry"))],
        };
        assert!(retry.failed());
        let errored = TraceSummary {
            trace_id: "t".into(),
            spans: vec![span("outbox.process", true, Some("ok"))],
        };
        assert!(errored.failed());
        let batch_only = TraceSummary {
            trace_id: "t".into(),
            spans: vec![span("projection.process_batch", false, Some("failed"))],
        };
        assert!(batch_only.failed());
    }
}
