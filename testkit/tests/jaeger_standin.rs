//! The Jaeger stand-in ingests real OTLP protobuf and answers with the JSON shapes of
//! the real responses in `shared/fixtures/jaeger/`.

use std::collections::BTreeSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;
use serde_json::Value;
use testkit::jaeger::JaegerStandin;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn id(byte: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    bytes[len - 1] = byte;
    bytes
}

/// A batch span with one failed `outbox.process` child, as the worker sends them.
fn worker_export(now_ns: u64) -> ExportTraceServiceRequest {
    let batch = Span {
        trace_id: id(1, 16),
        span_id: id(2, 8),
        name: "projection.process_batch".into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: now_ns,
        end_time_unix_nano: now_ns + 5_000_000,
        attributes: vec![
            text("wordloom.claim_batch_id", "batch-1"),
            text("wordloom.obs_schema", "labs-009-v2"),
            text("result", "retry"),
            kv("retry_count", any_value::Value::IntValue(1)),
        ],
        status: Some(Status {
            code: status::StatusCode::Error as i32,
            message: "es_connect".into(),
        }),
        ..Default::default()
    };
    let process = Span {
        trace_id: id(1, 16),
        span_id: id(3, 8),
        parent_span_id: id(2, 8),
        name: "outbox.process".into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: now_ns + 1_000,
        end_time_unix_nano: now_ns + 4_000_000,
        attributes: vec![
            text(
                "wordloom.outbox_event_id",
                "8722f068-7acd-4223-986c-d49fc8ca02cf",
            ),
            text("wordloom.obs_schema", "labs-009-v2"),
            kv("wordloom.outbox_attempts", any_value::Value::IntValue(2)),
            kv(
                "wordloom.idempotent_noop",
                any_value::Value::BoolValue(false),
            ),
        ],
        events: vec![span::Event {
            time_unix_nano: now_ns + 2_000,
            name: "exception".into(),
            attributes: vec![text("exception.message", "connection refused")],
            ..Default::default()
        }],
        links: vec![span::Link {
            trace_id: id(9, 16),
            span_id: id(9, 8),
            ..Default::default()
        }],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "wordloom-search-outbox-worker"),
                    text("host.name", "box"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "drill-cockpit".into(),
                    version: "0.1.0".into(),
                    ..Default::default()
                }),
                spans: vec![batch, process],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Keys of an object, or of every object in an array.
fn keys(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(items) => items.iter().flat_map(keys).collect(),
        _ => BTreeSet::new(),
    }
}

fn fixture(name: &str) -> Value {
    let path = testkit::env::fixtures_dir().join("jaeger").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

async fn post_otlp(base: &str, request: &ExportTraceServiceRequest) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn event_and_batch_pivots_find_the_trace_in_the_fixture_shape() {
    let jaeger = JaegerStandin::start().await.unwrap();
    let base = jaeger.url();
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
    post_otlp(&base, &worker_export(now_ns)).await;
    assert_eq!(jaeger.state.span_count(), 2);

    let client = reqwest::Client::new();
    let by_event: Value = client
        .get(format!("{base}/api/traces"))
        .query(&[
            ("service", "wordloom-search-outbox-worker"),
            ("operation", "outbox.process"),
            ("tags", r#"{"wordloom.outbox_event_id":"8722f068-7acd-4223-986c-d49fc8ca02cf","wordloom.obs_schema":"labs-009-v2"}"#),
            ("start", &((now_ns / 1000) - 60_000_000).to_string()),
            ("end", &((now_ns / 1000) + 60_000_000).to_string()),
            ("limit", "20"),
        ])
        .send().await.unwrap().json().await.unwrap();
    let traces = by_event["data"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{by_event}");
    let trace = &traces[0];
    assert_eq!(trace["traceID"], "00000000000000000000000000000001");

    // Same keys as the real UI JSON at every level.
    let real = fixture("ui_01.json");
    assert_eq!(keys(trace), keys(&real));
    assert_eq!(keys(&trace["spans"]), keys(&real["spans"]));
    assert_eq!(
        keys(&trace["spans"][0]["tags"]),
        keys(&real["spans"][1]["tags"])
    );
    assert_eq!(
        keys(&trace["processes"]["p1"]),
        keys(&real["processes"]["p1"])
    );
    let references: Vec<&Value> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["references"].as_array().unwrap())
        .collect();
    assert!(
        references
            .iter()
            .any(|r| r["refType"] == "CHILD_OF" && r["spanID"] == "0000000000000002")
    );
    assert!(references.iter().any(|r| r["refType"] == "FOLLOWS_FROM"));
    assert_eq!(
        keys(&Value::Array(references.into_iter().cloned().collect())),
        keys(&real["spans"][2]["references"])
    );
    let process_span = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == "outbox.process")
        .unwrap();
    assert_eq!(keys(&process_span["logs"]), keys(&real["spans"][0]["logs"]));
    let tag = |span: &Value, key: &str| {
        span["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .cloned()
    };
    assert_eq!(
        tag(process_span, "wordloom.outbox_attempts").unwrap()["type"],
        "int64"
    );
    assert_eq!(
        tag(process_span, "wordloom.idempotent_noop").unwrap()["type"],
        "bool"
    );
    assert_eq!(tag(process_span, "span.kind").unwrap()["value"], "internal");
    let batch_span = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == "projection.process_batch")
        .unwrap();
    assert_eq!(tag(batch_span, "error").unwrap()["value"], true);
    assert_eq!(
        tag(batch_span, "otel.status_code").unwrap()["value"],
        "ERROR"
    );
    assert_eq!(
        trace["processes"]["p1"]["serviceName"],
        "wordloom-search-outbox-worker"
    );

    // The batch pivot; an int tag compared as a string; a wrong value finds nothing.
    for (operation, tags, expected) in [
        (
            "projection.process_batch",
            r#"{"wordloom.claim_batch_id":"batch-1","wordloom.obs_schema":"labs-009-v2"}"#,
            1,
        ),
        ("outbox.process", r#"{"wordloom.outbox_attempts":"2"}"#, 1),
        (
            "outbox.process",
            r#"{"exception.message":"connection refused"}"#,
            1,
        ),
        (
            "outbox.process",
            r#"{"wordloom.claim_batch_id":"batch-1"}"#,
            0,
        ),
        (
            "projection.process_batch",
            r#"{"wordloom.claim_batch_id":"batch-2"}"#,
            0,
        ),
    ] {
        let found: Value = client
            .get(format!("{base}/api/traces"))
            .query(&[
                ("service", "wordloom-search-outbox-worker"),
                ("operation", operation),
                ("tags", tags),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            found["data"].as_array().unwrap().len(),
            expected,
            "{operation} {tags}: {found}"
        );
    }

    // Envelope and error shapes of the legacy API.
    let services: Value = client
        .get(format!("{base}/api/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        services["data"],
        serde_json::json!(["wordloom-search-outbox-worker"])
    );
    let real_services: Value = serde_json::from_str(
        &std::fs::read_to_string(
            testkit::env::fixtures_dir()
                .join("upstream-run-es_down_connect/_exports/jaeger-services-20260214T104255.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(keys(&services), keys(&real_services));
    let operations: Value = client
        .get(format!(
            "{base}/api/services/wordloom-search-outbox-worker/operations"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys(&operations["data"]),
        BTreeSet::from(["name".to_string(), "spanKind".to_string()])
    );
    let missing_service = client
        .get(format!("{base}/api/traces"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing_service.status().as_u16(), 400);
    let by_id: Value = client
        .get(format!(
            "{base}/api/traces/00000000000000000000000000000001"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_id["data"][0]["spans"].as_array().unwrap().len(), 2);
    assert_eq!(
        client
            .get(format!("{base}/api/traces/ffff"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn api_v3_answers_in_the_otlp_json_fixture_shape() {
    let jaeger = JaegerStandin::start().await.unwrap();
    let base = jaeger.url();
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
    post_otlp(&base, &worker_export(now_ns)).await;
    let client = reqwest::Client::new();
    let window =
        |offset: i64| (chrono::Utc::now() + chrono::Duration::seconds(offset)).to_rfc3339();
    let found = client
        .get(format!("{base}/api/v3/traces"))
        .query(&[
            (
                "query.service_name",
                "wordloom-search-outbox-worker".to_string(),
            ),
            ("query.operation_name", "outbox.process".to_string()),
            (
                "query.attributes",
                r#"{"wordloom.outbox_event_id":"8722f068-7acd-4223-986c-d49fc8ca02cf"}"#
                    .to_string(),
            ),
            ("query.start_time_min", window(-60)),
            ("query.start_time_max", window(60)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(found.status().as_u16(), 200);
    let found: Value = found.json().await.unwrap();
    let real = fixture("apiv3-FindTraces.json");
    assert_eq!(keys(&found), keys(&real));
    assert_eq!(keys(&found["result"]), keys(&real["result"]));
    let span = &found["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let real_span = &real["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert!(keys(real_span).is_subset(&keys(span)), "{span}");
    assert_eq!(span["traceId"].as_str().unwrap().len(), 32);

    let none = client
        .get(format!("{base}/api/v3/traces"))
        .query(&[
            (
                "query.service_name",
                "wordloom-search-outbox-worker".to_string(),
            ),
            ("query.operation_name", "nothing".to_string()),
            ("query.start_time_min", window(-60)),
            ("query.start_time_max", window(60)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        none.status().as_u16(),
        404,
        "v3 answers 404 when nothing matches"
    );
    let services: Value = client
        .get(format!("{base}/api/v3/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&services), keys(&fixture("apiv3-GetServices.json")));
    let operations: Value = client
        .get(format!(
            "{base}/api/v3/operations?service=wordloom-search-outbox-worker"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let real_ops = fixture("apiv3-GetOperations.json");
    assert_eq!(keys(&operations), keys(&real_ops));
    assert_eq!(
        keys(&operations["operations"]),
        keys(&real_ops["operations"])
    );
}
