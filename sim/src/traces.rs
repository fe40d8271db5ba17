//! **Trace store: an OTLP/HTTP receiver and Jaeger's query API** — a simulator, not
//! Jaeger. It receives OTLP/HTTP protobuf on `/v1/traces` as Jaeger's collector does,
//! converts spans the way Jaeger's OTLP translator does (typed tags, `span.kind`,
//! `otel.scope.*`, `otel.status_code` + `error=true` on error status, events as logs,
//! parent as `CHILD_OF`, links as `FOLLOWS_FROM`), and answers the query API: legacy
//! `/api/services`, `/api/services/{svc}/operations`, `/api/operations`, `/api/traces`
//! (service, operation, `tags` JSON, start/end µs, limit), `/api/traces/{id}`, and the
//! post-2.20 `/api/v3/{services,operations,traces}` in OTLP JSON. Response shapes follow
//! `shared/fixtures/jaeger/`. It keeps at most [`MAX_SPANS`] spans: beyond that the
//! oldest are dropped and counted ([`JaegerState::dropped_spans`]). Used by the sandbox
//! and, as the tests' Jaeger stand-in, by the test suite.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Value, json};

use crate::server::RestartableServer;

/// A span as Jaeger stores it, plus what the v3 API needs to give it back as OTLP.
#[derive(Debug, Clone)]
pub struct StoredSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub operation: String,
    pub start_us: i64,
    pub duration_us: i64,
    pub tags: Vec<Tag>,
    pub logs: Vec<(i64, Vec<Tag>)>,
    pub links: Vec<(String, String)>,
    pub service: String,
    pub process_tags: Vec<Tag>,
    pub kind: i32,
    pub status_code: i32,
    pub otlp_attributes: Vec<KeyValue>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub key: String,
    pub value: TagValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    String(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Binary(Vec<u8>),
}

impl Tag {
    fn string(key: &str, value: impl Into<String>) -> Tag {
        Tag {
            key: key.to_string(),
            value: TagValue::String(value.into()),
        }
    }

    /// The tag as the legacy API writes it: `{"key","type","value"}`.
    fn to_json(&self) -> Value {
        let (kind, value) = match &self.value {
            TagValue::String(s) => ("string", json!(s)),
            TagValue::Bool(b) => ("bool", json!(b)),
            TagValue::Int64(i) => ("int64", json!(i)),
            TagValue::Float64(f) => ("float64", json!(f)),
            TagValue::Binary(bytes) => ("binary", json!(base64_encode(bytes))),
        };
        json!({"key": self.key, "type": kind, "value": value})
    }

    /// The value as text, which is how Jaeger compares query tags.
    pub fn value_text(&self) -> String {
        match &self.value {
            TagValue::String(s) => s.clone(),
            TagValue::Bool(b) => b.to_string(),
            TagValue::Int64(i) => i.to_string(),
            TagValue::Float64(f) => f.to_string(),
            TagValue::Binary(bytes) => base64_encode(bytes),
        }
    }
}

/// Spans kept in memory; the oldest go first beyond it.
pub const MAX_SPANS: usize = 50_000;

#[derive(Clone, Default)]
pub struct JaegerState {
    spans: Arc<Mutex<Vec<StoredSpan>>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl JaegerState {
    fn lock(&self) -> MutexGuard<'_, Vec<StoredSpan>> {
        self.spans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn spans(&self) -> Vec<StoredSpan> {
        self.lock().clone()
    }

    pub fn span_count(&self) -> usize {
        self.lock().len()
    }

    /// Spans dropped (the oldest) to keep memory bounded.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Decodes one OTLP export request and stores its spans; returns how many.
    pub fn ingest(&self, request: ExportTraceServiceRequest) -> usize {
        let mut converted = Vec::new();
        for resource_spans in request.resource_spans {
            let resource_attributes = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            let mut service = "unknown_service".to_string();
            let mut process_tags = Vec::new();
            for attribute in &resource_attributes {
                if attribute.key == "service.name" {
                    service = any_to_tag_value(attribute.value.as_ref())
                        .map(|v| {
                            Tag {
                                key: String::new(),
                                value: v,
                            }
                            .value_text()
                        })
                        .unwrap_or_default();
                } else if let Some(value) = any_to_tag_value(attribute.value.as_ref()) {
                    process_tags.push(Tag {
                        key: attribute.key.clone(),
                        value,
                    });
                }
            }
            for scope_spans in resource_spans.scope_spans {
                let scope = scope_spans.scope.unwrap_or_default();
                for span in scope_spans.spans {
                    let mut tags: Vec<Tag> = span
                        .attributes
                        .iter()
                        .filter_map(|kv| {
                            any_to_tag_value(kv.value.as_ref()).map(|value| Tag {
                                key: kv.key.clone(),
                                value,
                            })
                        })
                        .collect();
                    if !scope.name.is_empty() {
                        tags.push(Tag::string("otel.scope.name", scope.name.clone()));
                    }
                    if !scope.version.is_empty() {
                        tags.push(Tag::string("otel.scope.version", scope.version.clone()));
                    }
                    if let Some(kind) = span_kind_name(span.kind) {
                        tags.push(Tag::string("span.kind", kind));
                    }
                    let status_code = span.status.as_ref().map(|s| s.code).unwrap_or(0);
                    match status_code {
                        2 => {
                            tags.push(Tag::string("otel.status_code", "ERROR"));
                            tags.push(Tag {
                                key: "error".into(),
                                value: TagValue::Bool(true),
                            });
                        }
                        1 => tags.push(Tag::string("otel.status_code", "OK")),
                        _ => {}
                    }
                    if let Some(status) = &span.status
                        && !status.message.is_empty()
                    {
                        tags.push(Tag::string(
                            "otel.status_description",
                            status.message.clone(),
                        ));
                    }
                    let logs = span
                        .events
                        .iter()
                        .map(|event| {
                            let mut fields = vec![Tag::string("event", event.name.clone())];
                            fields.extend(event.attributes.iter().filter_map(|kv| {
                                any_to_tag_value(kv.value.as_ref()).map(|value| Tag {
                                    key: kv.key.clone(),
                                    value,
                                })
                            }));
                            ((event.time_unix_nano / 1000) as i64, fields)
                        })
                        .collect();
                    let links = span
                        .links
                        .iter()
                        .map(|link| (hex::encode(&link.trace_id), hex::encode(&link.span_id)))
                        .collect();
                    let start_us = (span.start_time_unix_nano / 1000) as i64;
                    let end_us = (span.end_time_unix_nano / 1000) as i64;
                    converted.push(StoredSpan {
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        parent_span_id: (!span.parent_span_id.is_empty())
                            .then(|| hex::encode(&span.parent_span_id)),
                        operation: span.name.clone(),
                        start_us,
                        duration_us: (end_us - start_us).max(0),
                        tags,
                        logs,
                        links,
                        service: service.clone(),
                        process_tags: process_tags.clone(),
                        kind: span.kind,
                        status_code,
                        otlp_attributes: span.attributes.clone(),
                        start_unix_nano: span.start_time_unix_nano,
                        end_unix_nano: span.end_time_unix_nano,
                    });
                }
            }
        }
        let count = converted.len();
        let mut spans = self.lock();
        spans.extend(converted);
        if spans.len() > MAX_SPANS {
            // A tenth at once, so a full store does not shift the whole Vec per span.
            let excess = spans.len() - MAX_SPANS + MAX_SPANS / 10;
            spans.drain(..excess);
            self.dropped
                .fetch_add(excess as u64, std::sync::atomic::Ordering::Relaxed);
        }
        count
    }
}

fn span_kind_name(kind: i32) -> Option<&'static str> {
    match kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    }
}

fn any_to_tag_value(value: Option<&AnyValue>) -> Option<TagValue> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(TagValue::String(s.clone())),
        any_value::Value::BoolValue(b) => Some(TagValue::Bool(*b)),
        any_value::Value::IntValue(i) => Some(TagValue::Int64(*i)),
        any_value::Value::DoubleValue(f) => Some(TagValue::Float64(*f)),
        any_value::Value::BytesValue(bytes) => Some(TagValue::Binary(bytes.clone())),
        // Jaeger stores arrays and maps as their JSON text.
        other => Some(TagValue::String(any_to_json(other).to_string())),
    }
}

fn any_to_json(value: &any_value::Value) -> Value {
    match value {
        any_value::Value::StringValue(s) => json!(s),
        any_value::Value::BoolValue(b) => json!(b),
        any_value::Value::IntValue(i) => json!(i),
        any_value::Value::DoubleValue(f) => json!(f),
        any_value::Value::BytesValue(bytes) => json!(base64_encode(bytes)),
        any_value::Value::ArrayValue(array) => Value::Array(
            array
                .values
                .iter()
                .filter_map(|v| v.value.as_ref().map(any_to_json))
                .collect(),
        ),
        any_value::Value::KvlistValue(list) => Value::Object(
            list.values
                .iter()
                .filter_map(|kv| {
                    kv.value
                        .as_ref()
                        .and_then(|v| v.value.as_ref())
                        .map(|v| (kv.key.clone(), any_to_json(v)))
                })
                .collect(),
        ),
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub struct TraceStore {
    pub state: JaegerState,
    pub server: RestartableServer,
}

impl TraceStore {
    /// One port serves both the OTLP receiver and the query API (Jaeger uses 4318 and
    /// 16686; tests only need distinct URLs, which both point here).
    pub async fn start() -> std::io::Result<TraceStore> {
        TraceStore::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<TraceStore> {
        let state = JaegerState::default();
        let server = RestartableServer::bind(addr, router(state.clone())).await?;
        Ok(TraceStore { state, server })
    }

    /// Like Jaeger after 2.20.0: only `/api/v3` (the legacy search answers 404).
    pub async fn start_v3_only() -> std::io::Result<TraceStore> {
        let state = JaegerState::default();
        let server = RestartableServer::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            v3_router(state.clone()),
        )
        .await?;
        Ok(TraceStore { state, server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

fn v3_router(state: JaegerState) -> Router {
    Router::new()
        .route("/v1/traces", post(receive_otlp))
        .route("/api/v3/services", get(v3_services))
        .route("/api/v3/operations", get(v3_operations))
        .route("/api/v3/traces", get(v3_find_traces))
        .route("/api/v3/traces/{trace_id}", get(v3_get_trace))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n") })
        .with_state(state)
}

pub fn router(state: JaegerState) -> Router {
    Router::new()
        .route("/v1/traces", post(receive_otlp))
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(operations_of_service),
        )
        .route("/api/operations", get(operations_query))
        .route("/api/traces", get(find_traces))
        .route("/api/traces/{trace_id}", get(get_trace))
        .route("/api/v3/services", get(v3_services))
        .route("/api/v3/operations", get(v3_operations))
        .route("/api/v3/traces", get(v3_find_traces))
        .route("/api/v3/traces/{trace_id}", get(v3_get_trace))
        .with_state(state)
}

fn json_reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The legacy API's envelope: `{"data", "total", "limit", "offset", "errors"}`.
fn structured(data: Value, total: usize) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null}),
    )
}

fn structured_error(status: StatusCode, message: &str) -> Response {
    json_reply(
        status,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
               "errors": [{"code": status.as_u16(), "msg": message}]}),
    )
}

async fn receive_otlp(
    State(state): State<JaegerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-protobuf") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {content_type:?}; send application/x-protobuf"),
        )
            .into_response();
    }
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        == Some("gzip");
    let raw = if gzip {
        let mut decoded = Vec::new();
        if let Err(error) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut decoded) {
            return (StatusCode::BAD_REQUEST, format!("bad gzip body: {error}")).into_response();
        }
        Bytes::from(decoded)
    } else {
        body
    };
    match ExportTraceServiceRequest::decode(raw) {
        Ok(request) => {
            state.ingest(request);
            let mut response = (
                StatusCode::OK,
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
                .into_response();
            response.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-protobuf"),
            );
            response
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            format!("cannot decode ExportTraceServiceRequest: {error}"),
        )
            .into_response(),
    }
}

fn service_names(spans: &[StoredSpan]) -> Vec<String> {
    let mut names: Vec<String> = spans.iter().map(|s| s.service.clone()).collect();
    names.sort();
    names.dedup();
    names
}

fn operations(spans: &[StoredSpan], service: &str) -> Vec<(String, &'static str)> {
    let mut seen: BTreeMap<String, &'static str> = BTreeMap::new();
    for span in spans.iter().filter(|s| s.service == service) {
        seen.entry(span.operation.clone())
            .or_insert(span_kind_name(span.kind).unwrap_or(""));
    }
    seen.into_iter().collect()
}

async fn services(State(state): State<JaegerState>) -> Response {
    let names = service_names(&state.lock());
    let total = names.len();
    structured(json!(names), total)
}

async fn operations_of_service(
    State(state): State<JaegerState>,
    Path(service): Path<String>,
) -> Response {
    operations_response(&state, &service)
}

async fn operations_query(
    State(state): State<JaegerState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match params.get("service") {
        Some(service) => operations_response(&state, service),
        None => structured_error(StatusCode::BAD_REQUEST, "parameter 'service' is required"),
    }
}

fn operations_response(state: &JaegerState, service: &str) -> Response {
    let ops = operations(&state.lock(), service);
    let total = ops.len();
    let data: Vec<Value> = ops
        .into_iter()
        .map(|(name, kind)| json!({"name": name, "spanKind": kind}))
        .collect();
    structured(json!(data), total)
}

/// What a search asks for, shared by the legacy and v3 APIs.
#[derive(Debug, Default)]
struct TraceQuery {
    service: String,
    operation: Option<String>,
    tags: BTreeMap<String, String>,
    start_min_us: Option<i64>,
    start_max_us: Option<i64>,
    limit: usize,
}

impl TraceQuery {
    /// One span must satisfy the whole query (service, operation and every tag).
    fn matches(&self, span: &StoredSpan) -> bool {
        if span.service != self.service {
            return false;
        }
        if let Some(operation) = &self.operation
            && &span.operation != operation
        {
            return false;
        }
        if self.start_min_us.is_some_and(|min| span.start_us < min)
            || self.start_max_us.is_some_and(|max| span.start_us > max)
        {
            return false;
        }
        self.tags.iter().all(|(key, wanted)| {
            let in_tags = span
                .tags
                .iter()
                .chain(span.process_tags.iter())
                .any(|t| &t.key == key && &t.value_text() == wanted);
            in_tags
                || span.logs.iter().any(|(_, fields)| {
                    fields
                        .iter()
                        .any(|t| &t.key == key && &t.value_text() == wanted)
                })
        })
    }
}

/// Trace ids of matching traces, newest first, at most `limit`.
fn search(spans: &[StoredSpan], query: &TraceQuery) -> Vec<String> {
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for span in spans.iter().filter(|span| query.matches(span)) {
        let entry = newest
            .entry(span.trace_id.as_str())
            .or_insert(span.start_us);
        *entry = (*entry).max(span.start_us);
    }
    let mut found: Vec<(&str, i64)> = newest.into_iter().collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    found
        .into_iter()
        .take(query.limit)
        .map(|(id, _)| id.to_string())
        .collect()
}

/// One trace in the legacy UI JSON shape (`shared/fixtures/jaeger/ui_01.json`).
pub fn trace_json(spans: &[&StoredSpan]) -> Value {
    let mut process_ids: Vec<(String, Vec<Tag>)> = Vec::new();
    let mut process_of = |span: &StoredSpan| -> String {
        let key = (span.service.clone(), span.process_tags.clone());
        let index = match process_ids
            .iter()
            .position(|p| p.0 == key.0 && p.1 == key.1)
        {
            Some(index) => index,
            None => {
                process_ids.push(key);
                process_ids.len() - 1
            }
        };
        format!("p{}", index + 1)
    };
    let mut ordered: Vec<&&StoredSpan> = spans.iter().collect();
    ordered.sort_by_key(|s| s.start_us);
    let span_values: Vec<Value> = ordered
        .iter()
        .map(|span| {
            let mut references = Vec::new();
            if let Some(parent) = &span.parent_span_id {
                references.push(json!({"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": parent}));
            }
            for (trace_id, span_id) in &span.links {
                references.push(json!({"refType": "FOLLOWS_FROM", "traceID": trace_id, "spanID": span_id}));
            }
            json!({
                "traceID": span.trace_id,
                "spanID": span.span_id,
                "operationName": span.operation,
                "references": references,
                "startTime": span.start_us,
                "duration": span.duration_us,
                "tags": span.tags.iter().map(Tag::to_json).collect::<Vec<_>>(),
                "logs": span.logs.iter().map(|(ts, fields)| json!({"timestamp": ts, "fields": fields.iter().map(Tag::to_json).collect::<Vec<_>>()})).collect::<Vec<_>>(),
                "processID": process_of(span),
                "warnings": null
            })
        })
        .collect();
    let processes: serde_json::Map<String, Value> = process_ids
        .iter()
        .enumerate()
        .map(|(i, (service, tags))| {
            (format!("p{}", i + 1), json!({"serviceName": service, "tags": tags.iter().map(Tag::to_json).collect::<Vec<_>>()}))
        })
        .collect();
    json!({
        "traceID": spans.first().map(|s| s.trace_id.clone()).unwrap_or_default(),
        "spans": span_values,
        "processes": processes,
        "warnings": null
    })
}

async fn find_traces(
    State(state): State<JaegerState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(service) = params.get("service").filter(|s| !s.is_empty()) else {
        return structured_error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    let tags: BTreeMap<String, String> = match params.get("tags") {
        None => BTreeMap::new(),
        Some(text) => match serde_json::from_str::<BTreeMap<String, Value>>(text) {
            Ok(map) => map
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        },
                    )
                })
                .collect(),
            Err(error) => {
                return structured_error(
                    StatusCode::BAD_REQUEST,
                    &format!("malformed 'tags' parameter: {error}"),
                );
            }
        },
    };
    let parse_us = |name: &str| -> Result<Option<i64>, String> {
        match params.get(name) {
            None => Ok(None),
            Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
                format!("unable to parse param '{name}': {text:?} is not microseconds")
            }),
        }
    };
    let (start_min_us, start_max_us) = match (parse_us("start"), parse_us("end")) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(message), _) | (_, Err(message)) => {
            return structured_error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let query = TraceQuery {
        service: service.clone(),
        operation: params.get("operation").filter(|s| !s.is_empty()).cloned(),
        tags,
        start_min_us,
        start_max_us,
        limit: params
            .get("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0)
            .unwrap_or(100),
    };
    let spans = state.lock();
    let data: Vec<Value> = search(&spans, &query)
        .iter()
        .map(|id| {
            trace_json(
                &spans
                    .iter()
                    .filter(|s| &s.trace_id == id)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let total = data.len();
    structured(json!(data), total)
}

async fn get_trace(State(state): State<JaegerState>, Path(trace_id): Path<String>) -> Response {
    let spans = state.lock();
    let wanted = trace_id.to_ascii_lowercase();
    let found: Vec<&StoredSpan> = spans.iter().filter(|s| s.trace_id == wanted).collect();
    if found.is_empty() {
        return structured_error(StatusCode::NOT_FOUND, "trace not found");
    }
    structured(json!([trace_json(&found)]), 1)
}

// ---- /api/v3 (OTLP JSON, Jaeger ≥ 2.x) ----

fn v3_error(status: StatusCode, message: &str) -> Response {
    json_reply(
        status,
        json!({"error": {"httpCode": status.as_u16(), "httpStatus": status.canonical_reason().unwrap_or(""), "message": message}}),
    )
}

async fn v3_services(State(state): State<JaegerState>) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"services": service_names(&state.lock())}),
    )
}

async fn v3_operations(
    State(state): State<JaegerState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(service) = params.get("service") else {
        return v3_error(StatusCode::BAD_REQUEST, "service is required");
    };
    let ops: Vec<Value> = operations(&state.lock(), service)
        .into_iter()
        .map(|(name, kind)| json!({"name": name, "spanKind": kind}))
        .collect();
    json_reply(StatusCode::OK, json!({"operations": ops}))
}

fn rfc3339_to_us(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

async fn v3_find_traces(
    State(state): State<JaegerState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(service) = params.get("query.service_name").filter(|s| !s.is_empty()) else {
        return v3_error(StatusCode::BAD_REQUEST, "query.service_name is required");
    };
    let (Some(min), Some(max)) = (
        params
            .get("query.start_time_min")
            .and_then(|t| rfc3339_to_us(t)),
        params
            .get("query.start_time_max")
            .and_then(|t| rfc3339_to_us(t)),
    ) else {
        return v3_error(
            StatusCode::BAD_REQUEST,
            "query.start_time_min and query.start_time_max are required RFC 3339 times",
        );
    };
    let tags: BTreeMap<String, String> = params
        .iter()
        .filter_map(|(k, v)| {
            // grpc-gateway's map syntax `query.attributes[key]=value`, or `query.attributes.key`.
            k.strip_prefix("query.attributes[")
                .and_then(|rest| rest.strip_suffix(']'))
                .or_else(|| k.strip_prefix("query.attributes."))
                .map(|key| (key.to_string(), v.clone()))
        })
        .chain(
            params
                .get("query.attributes")
                .and_then(|text| serde_json::from_str::<BTreeMap<String, Value>>(text).ok())
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        },
                    )
                }),
        )
        .collect();
    let query = TraceQuery {
        service: service.clone(),
        operation: params
            .get("query.operation_name")
            .filter(|s| !s.is_empty())
            .cloned(),
        tags,
        start_min_us: Some(min),
        start_max_us: Some(max),
        limit: params
            .get("query.search_depth")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0)
            .unwrap_or(100),
    };
    let spans = state.lock();
    let ids = search(&spans, &query);
    if ids.is_empty() {
        return v3_error(StatusCode::NOT_FOUND, "No traces found");
    }
    let selected: Vec<&StoredSpan> = spans.iter().filter(|s| ids.contains(&s.trace_id)).collect();
    json_reply(StatusCode::OK, json!({"result": otlp_json(&selected)}))
}

async fn v3_get_trace(State(state): State<JaegerState>, Path(trace_id): Path<String>) -> Response {
    let spans = state.lock();
    let wanted = trace_id.to_ascii_lowercase();
    let selected: Vec<&StoredSpan> = spans.iter().filter(|s| s.trace_id == wanted).collect();
    if selected.is_empty() {
        return v3_error(StatusCode::NOT_FOUND, "trace not found");
    }
    json_reply(StatusCode::OK, json!({"result": otlp_json(&selected)}))
}

fn any_value_json(value: &AnyValue) -> Value {
    match value.value.as_ref() {
        Some(any_value::Value::StringValue(s)) => json!({"stringValue": s}),
        Some(any_value::Value::BoolValue(b)) => json!({"boolValue": b}),
        Some(any_value::Value::IntValue(i)) => json!({"intValue": i.to_string()}),
        Some(any_value::Value::DoubleValue(f)) => json!({"doubleValue": f}),
        Some(any_value::Value::BytesValue(b)) => json!({"bytesValue": base64_encode(b)}),
        Some(other) => json!({"stringValue": any_to_json(other).to_string()}),
        None => json!({}),
    }
}

/// Spans as OTLP JSON `{"resourceSpans": […]}`, one resource per service (fixture `apiv3-FindTraces.json`).
fn otlp_json(spans: &[&StoredSpan]) -> Value {
    let mut by_service: BTreeMap<&str, Vec<&StoredSpan>> = BTreeMap::new();
    for span in spans {
        by_service
            .entry(span.service.as_str())
            .or_default()
            .push(span);
    }
    let resource_spans: Vec<Value> = by_service
        .into_iter()
        .map(|(service, spans)| {
            let otlp_spans: Vec<Value> = spans
                .iter()
                .map(|span| {
                    let mut value = json!({
                        "traceId": span.trace_id,
                        "spanId": span.span_id,
                        "name": span.operation,
                        "kind": span.kind,
                        "startTimeUnixNano": span.start_unix_nano.to_string(),
                        "endTimeUnixNano": span.end_unix_nano.to_string(),
                        "attributes": span.otlp_attributes.iter().map(|kv| json!({"key": kv.key, "value": kv.value.as_ref().map(any_value_json).unwrap_or(json!({}))})).collect::<Vec<_>>(),
                        "events": span.logs.iter().map(|(ts, fields)| json!({
                            "timeUnixNano": (ts * 1000).to_string(),
                            "name": fields.first().map(Tag::value_text).unwrap_or_default(),
                            "attributes": fields.iter().skip(1).map(|t| json!({"key": t.key, "value": {"stringValue": t.value_text()}})).collect::<Vec<_>>()
                        })).collect::<Vec<_>>(),
                        "links": span.links.iter().map(|(t, s)| json!({"traceId": t, "spanId": s})).collect::<Vec<_>>(),
                        "status": if span.status_code == 0 { json!({}) } else { json!({"code": span.status_code}) }
                    });
                    if let Some(parent) = &span.parent_span_id {
                        value["parentSpanId"] = json!(parent);
                    }
                    value
                })
                .collect();
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {}, "spans": otlp_spans}]
            })
        })
        .collect();
    json!({"resourceSpans": resource_spans})
}

#[cfg(test)]
mod tests {
    use super::base64_encode;

    #[test]
    fn base64_matches_the_fixture_blob() {
        // ui_01.json carries the binary tag value "AAAwOQ==" for bytes 00 00 30 39.
        assert_eq!(base64_encode(&[0, 0, 0x30, 0x39]), "AAAwOQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }

    #[test]
    fn the_store_keeps_at_most_max_spans_dropping_the_oldest() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let state = super::JaegerState::default();
        let spans = |from: usize, count: usize| super::ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: (from..from + count)
                        .map(|n| Span {
                            trace_id: (n as u128).to_be_bytes().to_vec(),
                            span_id: (n as u64).to_be_bytes().to_vec(),
                            name: format!("span-{n}"),
                            ..Span::default()
                        })
                        .collect(),
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        state.ingest(spans(0, super::MAX_SPANS));
        assert_eq!(state.dropped_spans(), 0);
        state.ingest(spans(super::MAX_SPANS, 10));
        assert!(state.span_count() <= super::MAX_SPANS);
        assert_eq!(
            state.dropped_spans() as usize + state.span_count(),
            super::MAX_SPANS + 10
        );
        let kept = state.spans();
        // The newest stayed, the oldest went.
        assert_eq!(
            kept.last().unwrap().operation,
            format!("span-{}", super::MAX_SPANS + 9)
        );
        assert_ne!(kept.first().unwrap().operation, "span-0");
    }
}
