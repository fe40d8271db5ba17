//! **Elasticsearch REST-API simulator** — not Elasticsearch. It speaks the subset of
//! Elasticsearch 8's REST API an outbox worker and the cockpit use, with ES 8's response
//! shapes and status codes: external versioning (409 `version_conflict_engine_exception`),
//! 404 `not_found` deletes with tombstones, `_bulk` with per-item results, write blocks
//! (403 `cluster_block_exception`), mapped-type checks (400 `document_parsing_exception`),
//! `_count` and `_refresh`. Each index keeps at most [`MAX_DOCUMENTS`] documents (and as
//! many tombstones): beyond that the oldest are dropped and counted
//! ([`EsState::dropped_documents`]). Used by the sandbox and, as the tests'
//! Elasticsearch stand-in, by the test suite.
//!
//! Whole-request faults (e.g. a burst of 429s) can be injected through
//! [`EsState::inject`] or `POST /_standin/faults` — an endpoint real ES does not have.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::server::RestartableServer;

#[derive(Debug, Clone, Default)]
pub struct Document {
    pub version: i64,
    pub seq_no: i64,
    pub source: Value,
}

#[derive(Debug, Default)]
struct Index {
    uuid: String,
    docs: HashMap<String, Document>,
    /// Versions of deleted documents, so a stale write after a delete is still refused.
    tombstones: HashMap<String, i64>,
    write_block: bool,
    /// Documents and tombstones dropped to keep memory bounded.
    dropped: u64,
    /// field → mapped type (`long`, `integer`, `double`, `float`, `boolean`, `date`, `keyword`, `text`).
    mappings: HashMap<String, String>,
}

/// A whole-request fault: the next `remaining` write requests get `status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fault {
    pub status: u16,
    pub remaining: u64,
    pub delay: Duration,
}

/// Documents (and tombstones) kept per index; the oldest go first beyond it.
pub const MAX_DOCUMENTS: usize = 100_000;

#[derive(Default)]
struct Store {
    indices: HashMap<String, Index>,
    seq_no: i64,
    fault: Fault,
    requests: u64,
}

/// The stand-in's data, shared by every server start (it survives `stop`/`start`).
#[derive(Clone, Default)]
pub struct EsState {
    store: Arc<Mutex<Store>>,
}

impl EsState {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panicking handler must not wedge every later request.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next `count` write requests (doc or bulk) answer `status` as a whole.
    pub fn inject(&self, status: u16, count: u64) {
        let mut store = self.lock();
        store.fault.status = status;
        store.fault.remaining = count;
    }

    /// Every write request waits this long first (a slow cluster, for timeouts).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().fault.delay = delay;
    }

    pub fn documents(&self, index: &str) -> HashMap<String, Document> {
        self.lock()
            .indices
            .get(index)
            .map(|i| i.docs.clone())
            .unwrap_or_default()
    }

    pub fn document(&self, index: &str, id: &str) -> Option<Document> {
        self.lock()
            .indices
            .get(index)
            .and_then(|i| i.docs.get(id).cloned())
    }

    pub fn set_write_block(&self, index: &str, blocked: bool) {
        let mut store = self.lock();
        ensure_index(&mut store, index).write_block = blocked;
    }

    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Documents and tombstones dropped (the oldest) to keep memory bounded.
    pub fn dropped_documents(&self) -> u64 {
        self.lock().indices.values().map(|i| i.dropped).sum()
    }
}

/// A running stand-in on 127.0.0.1.
pub struct EsSimulator {
    pub state: EsState,
    pub server: RestartableServer,
}

impl EsSimulator {
    pub async fn start() -> std::io::Result<EsSimulator> {
        EsSimulator::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<EsSimulator> {
        let state = EsState::default();
        let server = RestartableServer::bind(addr, router(state.clone())).await?;
        Ok(EsSimulator { state, server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

pub fn router(state: EsState) -> Router {
    Router::new()
        .route("/", get(root).head(root))
        .route("/_cluster/health", get(cluster_health))
        .route("/_bulk", post(bulk_no_index).put(bulk_no_index))
        .route("/_standin/faults", post(set_faults))
        .route(
            "/{index}",
            get(index_info)
                .head(index_exists)
                .put(create_index)
                .delete(delete_index),
        )
        .route("/{index}/_bulk", post(bulk_with_index).put(bulk_with_index))
        .route("/{index}/_settings", get(get_settings).put(put_settings))
        .route("/{index}/_count", get(count).post(count))
        .route("/{index}/_refresh", get(refresh).post(refresh))
        .route(
            "/{index}/_doc/{id}",
            get(get_doc).put(put_doc).post(put_doc).delete(delete_doc),
        )
        .fallback(unknown_route)
        .with_state(state)
}

fn reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

fn error_body(status: u16, kind: &str, reason: &str, index: Option<&str>) -> Value {
    let mut cause = json!({"type": kind, "reason": reason});
    if let Some(index) = index {
        cause["index"] = json!(index);
        cause["index_uuid"] = json!("_na_");
    }
    json!({
        "error": {"root_cause": [cause.clone()], "type": kind, "reason": reason,
                  "index": cause.get("index").cloned().unwrap_or(Value::Null)},
        "status": status
    })
}

fn error_reply(status: u16, kind: &str, reason: &str, index: Option<&str>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = error_body(status, kind, reason, index);
    if index.is_none()
        && let Some(error) = body.get_mut("error").and_then(Value::as_object_mut)
    {
        error.remove("index");
    }
    reply(code, body)
}

async fn root(method: Method) -> Response {
    if method == Method::HEAD {
        return reply(StatusCode::OK, json!({}));
    }
    reply(
        StatusCode::OK,
        json!({
            "name": "es-standin",
            "cluster_name": "docker-cluster",
            "cluster_uuid": "standin-cluster-uuid",
            "version": {
                "number": "8.15.0",
                "build_flavor": "default",
                "build_type": "docker",
                "lucene_version": "9.11.1",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }),
    )
}

async fn cluster_health(State(state): State<EsState>) -> Response {
    let store = state.lock();
    reply(
        StatusCode::OK,
        json!({
            "cluster_name": "docker-cluster",
            "status": "green",
            "timed_out": false,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": store.indices.len(),
            "active_shards": store.indices.len(),
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0
        }),
    )
}

async fn unknown_route(method: Method, uri: axum::http::Uri) -> Response {
    error_reply(
        400,
        "illegal_argument_exception",
        &format!(
            "no handler found for uri [{}] and method [{}]",
            uri.path(),
            method
        ),
        None,
    )
}

#[derive(Deserialize)]
struct FaultRequest {
    status: u16,
    count: u64,
    #[serde(default)]
    delay_ms: u64,
}

async fn set_faults(State(state): State<EsState>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRequest>(&body) {
        Ok(request) => {
            state.inject(request.status, request.count);
            state.set_delay(Duration::from_millis(request.delay_ms));
            reply(StatusCode::OK, json!({"acknowledged": true}))
        }
        Err(error) => error_reply(400, "parse_exception", &error.to_string(), None),
    }
}

fn ensure_index<'a>(store: &'a mut Store, name: &str) -> &'a mut Index {
    store
        .indices
        .entry(name.to_string())
        .or_insert_with(|| Index {
            uuid: format!("{:016x}", fastish_hash(name)),
            ..Index::default()
        })
}

fn fastish_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn no_such_index(index: &str) -> Response {
    error_reply(
        404,
        "index_not_found_exception",
        &format!("no such index [{index}]"),
        Some(index),
    )
}

async fn index_exists(State(state): State<EsState>, Path(index): Path<String>) -> Response {
    let status = if state.lock().indices.contains_key(&index) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    reply(status, json!({}))
}

async fn index_info(State(state): State<EsState>, Path(index): Path<String>) -> Response {
    let store = state.lock();
    let Some(found) = store.indices.get(&index) else {
        return no_such_index(&index);
    };
    reply(
        StatusCode::OK,
        json!({ index.clone(): {
            "aliases": {},
            "mappings": {"properties": mappings_json(found)},
            "settings": settings_json(&index, found)["settings"].clone()
        }}),
    )
}

fn mappings_json(index: &Index) -> Value {
    Value::Object(
        index
            .mappings
            .iter()
            .map(|(field, kind)| (field.clone(), json!({"type": kind})))
            .collect(),
    )
}

fn settings_json(name: &str, index: &Index) -> Value {
    json!({"settings": {"index": {
        "number_of_shards": "1", "number_of_replicas": "1", "uuid": index.uuid,
        "provided_name": name,
        "blocks": {"write": if index.write_block { "true" } else { "false" }}
    }}})
}

async fn create_index(
    State(state): State<EsState>,
    Path(index): Path<String>,
    body: Bytes,
) -> Response {
    let mut store = state.lock();
    if store.indices.contains_key(&index) {
        return error_reply(
            400,
            "resource_already_exists_exception",
            &format!("index [{index}/_na_] already exists"),
            Some(&index),
        );
    }
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(error) => return error_reply(400, "parse_exception", &error.to_string(), None),
        }
    };
    let created = ensure_index(&mut store, &index);
    if let Some(properties) = request
        .pointer("/mappings/properties")
        .and_then(Value::as_object)
    {
        for (field, spec) in properties {
            if let Some(kind) = spec.get("type").and_then(Value::as_str) {
                created.mappings.insert(field.clone(), kind.to_string());
            }
        }
    }
    if write_block_requested(&request).unwrap_or(false) {
        created.write_block = true;
    }
    reply(
        StatusCode::OK,
        json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
    )
}

async fn delete_index(State(state): State<EsState>, Path(index): Path<String>) -> Response {
    if state.lock().indices.remove(&index).is_none() {
        return no_such_index(&index);
    }
    reply(StatusCode::OK, json!({"acknowledged": true}))
}

/// `index.blocks.write` in any of the forms ES accepts: nested, dotted, or under `settings`.
fn write_block_requested(body: &Value) -> Option<bool> {
    let candidates = [
        body.pointer("/index/blocks/write"),
        body.pointer("/settings/index/blocks/write"),
        body.get("index.blocks.write"),
        body.pointer("/settings/index.blocks.write"),
        body.pointer("/index/blocks.write"),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|value| match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse::<bool>().ok(),
            Value::Null => Some(false),
            _ => None,
        })
}

async fn get_settings(State(state): State<EsState>, Path(index): Path<String>) -> Response {
    let store = state.lock();
    match store.indices.get(&index) {
        Some(found) => reply(
            StatusCode::OK,
            json!({ index.clone(): settings_json(&index, found) }),
        ),
        None => no_such_index(&index),
    }
}

async fn put_settings(
    State(state): State<EsState>,
    Path(index): Path<String>,
    body: Bytes,
) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => return error_reply(400, "parse_exception", &error.to_string(), None),
    };
    let mut store = state.lock();
    let Some(found) = store.indices.get_mut(&index) else {
        return no_such_index(&index);
    };
    if let Some(blocked) = write_block_requested(&request) {
        found.write_block = blocked;
    }
    reply(StatusCode::OK, json!({"acknowledged": true}))
}

async fn count(State(state): State<EsState>, Path(index): Path<String>) -> Response {
    let store = state.lock();
    match store.indices.get(&index) {
        Some(found) => reply(
            StatusCode::OK,
            json!({"count": found.docs.len(), "_shards": shards()}),
        ),
        None => no_such_index(&index),
    }
}

async fn refresh(State(state): State<EsState>, Path(index): Path<String>) -> Response {
    if !state.lock().indices.contains_key(&index) {
        return no_such_index(&index);
    }
    reply(StatusCode::OK, json!({"_shards": shards()}))
}

fn shards() -> Value {
    json!({"total": 2, "successful": 1, "failed": 0})
}

async fn get_doc(
    State(state): State<EsState>,
    Path((index, id)): Path<(String, String)>,
) -> Response {
    let store = state.lock();
    let Some(found) = store.indices.get(&index) else {
        return no_such_index(&index);
    };
    match found.docs.get(&id) {
        Some(doc) => reply(
            StatusCode::OK,
            json!({"_index": index, "_id": id, "_version": doc.version, "_seq_no": doc.seq_no,
                   "_primary_term": 1, "found": true, "_source": doc.source}),
        ),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"_index": index, "_id": id, "found": false}),
        ),
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
struct VersionParams {
    version: Option<i64>,
    version_type: Option<String>,
}

impl VersionParams {
    fn external(&self) -> Result<Option<i64>, String> {
        match (self.version, self.version_type.as_deref()) {
            (Some(v), Some("external") | Some("external_gt")) => Ok(Some(v)),
            (Some(v), Some("external_gte")) => Ok(Some(v)),
            (None, Some(kind)) if kind.starts_with("external") => {
                Err("an external version type requires a version".to_string())
            }
            _ => Ok(None),
        }
    }
}

/// Takes one fault off the plan, if any is armed; returns the response to send.
async fn take_fault(state: &EsState) -> Option<Response> {
    let (fault, delay) = {
        let mut store = state.lock();
        store.requests += 1;
        let delay = store.fault.delay;
        let fault = if store.fault.remaining > 0 {
            store.fault.remaining -= 1;
            Some(store.fault.status)
        } else {
            None
        };
        (fault, delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = fault?;
    Some(match status {
        429 => error_reply(
            429,
            "es_rejected_execution_exception",
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=0, max_coordinating_and_primary_bytes=0]",
            None,
        ),
        503 => error_reply(
            503,
            "cluster_block_exception",
            "blocked by: [SERVICE_UNAVAILABLE/2/no master];",
            None,
        ),
        other => error_reply(
            other,
            "standin_injected_fault",
            "fault injected by the test",
            None,
        ),
    })
}

async fn put_doc(
    State(state): State<EsState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Query<VersionParams>,
    body: Bytes,
) -> Response {
    if let Some(fault) = take_fault(&state).await {
        return fault;
    }
    let source: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return error_reply(
                400,
                "document_parsing_exception",
                &format!("[1:1] failed to parse: {error}"),
                Some(&index),
            );
        }
    };
    let external = match params.external() {
        Ok(external) => external,
        Err(reason) => {
            return error_reply(400, "action_request_validation_exception", &reason, None);
        }
    };
    let (status, item) = write_document(&mut state.lock(), &index, &id, source, external);
    single_doc_reply(status, item)
}

async fn delete_doc(
    State(state): State<EsState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Query<VersionParams>,
) -> Response {
    if let Some(fault) = take_fault(&state).await {
        return fault;
    }
    let external = match params.external() {
        Ok(external) => external,
        Err(reason) => {
            return error_reply(400, "action_request_validation_exception", &reason, None);
        }
    };
    let mut store = state.lock();
    if !store.indices.contains_key(&index) {
        return no_such_index(&index);
    }
    let (status, item) = delete_document(&mut store, &index, &id, external);
    single_doc_reply(status, item)
}

/// A single-document API answers errors as `{"error": {"root_cause": […], …}, "status": N}`;
/// the bulk form of the same error is flat inside the item.
fn single_doc_reply(status: u16, item: Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    match item.get("error") {
        Some(error) if item.get("_index").is_some() => {
            let mut full = error.clone();
            if let Some(object) = full.as_object_mut() {
                object.insert("root_cause".to_string(), json!([error.clone()]));
            }
            reply(code, json!({"error": full, "status": status}))
        }
        _ => reply(code, item),
    }
}

fn item_error(
    status: u16,
    kind: &str,
    reason: String,
    index: &str,
    id: &str,
    uuid: &str,
) -> (u16, Value) {
    (
        status,
        json!({"_index": index, "_id": id, "status": status, "error": {
            "type": kind, "reason": reason, "index_uuid": uuid, "shard": "0", "index": index
        }}),
    )
}

/// ES's answer to a write on an index with `index.blocks.write=true`.
fn write_blocked(index: &str) -> (u16, Value) {
    let reason = format!("index [{index}] blocked by: [FORBIDDEN/8/index write (api)];");
    (
        403,
        json!({"error": {
            "root_cause": [{"type": "cluster_block_exception", "reason": reason}],
            "type": "cluster_block_exception",
            "reason": reason
        }, "status": 403}),
    )
}

/// Returns the status and the item body (a bulk item, or a single-doc response without `status`).
fn write_document(
    store: &mut Store,
    index: &str,
    id: &str,
    source: Value,
    external: Option<i64>,
) -> (u16, Value) {
    store.seq_no += 1;
    let seq_no = store.seq_no;
    let target = ensure_index(store, index);
    if target.write_block {
        return write_blocked(index);
    }
    if let Some(problem) = mapping_violation(&target.mappings, &source, id) {
        return (
            400,
            json!({"error": {
                "root_cause": [{"type": "document_parsing_exception", "reason": problem}],
                "type": "document_parsing_exception", "reason": problem,
                "caused_by": {"type": "illegal_argument_exception", "reason": "value does not fit the mapped type"}
            }, "status": 400}),
        );
    }
    if let Some(conflict) = version_conflict(target, index, id, external) {
        return conflict;
    }
    let version =
        external.unwrap_or_else(|| target.docs.get(id).map(|doc| doc.version + 1).unwrap_or(1));
    let created = !target.docs.contains_key(id);
    target.tombstones.remove(id);
    if created {
        let freed = make_room(target);
        target.dropped += freed;
    }
    target.docs.insert(
        id.to_string(),
        Document {
            version,
            seq_no,
            source,
        },
    );
    let status = if created { 201 } else { 200 };
    (
        status,
        json!({"_index": index, "_id": id, "_version": version,
               "result": if created { "created" } else { "updated" },
               "_shards": shards(), "_seq_no": seq_no, "_primary_term": 1}),
    )
}

/// Keeps an index under [`MAX_DOCUMENTS`] documents and tombstones: when full, the
/// oldest tenth (by sequence number; tombstones in any order) goes. Returns how many.
fn make_room(target: &mut Index) -> u64 {
    let mut dropped = 0;
    if target.docs.len() >= MAX_DOCUMENTS {
        // The oldest tenth picked in linear time, ids copied only for those: a full
        // sort with every id copied held the lock for ~50 ms, a stall every 10 000
        // writes that showed in benchmarks as every request's p99.
        let mut by_age: Vec<(i64, &String)> = target
            .docs
            .iter()
            .map(|(id, doc)| (doc.seq_no, id))
            .collect();
        let oldest = MAX_DOCUMENTS / 10;
        by_age.select_nth_unstable(oldest - 1);
        let gone: Vec<String> = by_age[..oldest]
            .iter()
            .map(|(_, id)| (*id).clone())
            .collect();
        for id in gone {
            target.docs.remove(&id);
            dropped += 1;
        }
    }
    if target.tombstones.len() >= MAX_DOCUMENTS {
        let excess: Vec<String> = target
            .tombstones
            .keys()
            .take(MAX_DOCUMENTS / 10)
            .cloned()
            .collect();
        for id in excess {
            target.tombstones.remove(&id);
            dropped += 1;
        }
    }
    dropped
}

/// External versioning: a write or delete whose version is not newer than the document's
/// (or its tombstone's) is a 409 `version_conflict_engine_exception`.
fn version_conflict(
    target: &Index,
    index: &str,
    id: &str,
    external: Option<i64>,
) -> Option<(u16, Value)> {
    let requested = external?;
    let current = target
        .docs
        .get(id)
        .map(|doc| doc.version)
        .or_else(|| target.tombstones.get(id).copied())?;
    (current >= requested).then(|| {
        let reason = format!(
            "[{id}]: version conflict, current version [{current}] is higher or equal to the one provided [{requested}]"
        );
        item_error(409, "version_conflict_engine_exception", reason, index, id, &target.uuid)
    })
}

fn delete_document(
    store: &mut Store,
    index: &str,
    id: &str,
    external: Option<i64>,
) -> (u16, Value) {
    store.seq_no += 1;
    let seq_no = store.seq_no;
    let target = ensure_index(store, index);
    if target.write_block {
        return write_blocked(index);
    }
    if let Some(conflict) = version_conflict(target, index, id, external) {
        return conflict;
    }
    let existed = target.docs.remove(id);
    let version =
        external.unwrap_or_else(|| existed.as_ref().map(|doc| doc.version + 1).unwrap_or(1));
    target.tombstones.insert(id.to_string(), version);
    let (status, result) = if existed.is_some() {
        (200, "deleted")
    } else {
        (404, "not_found")
    };
    (
        status,
        json!({"_index": index, "_id": id, "_version": version, "result": result,
               "_shards": shards(), "_seq_no": seq_no, "_primary_term": 1}),
    )
}

fn mapping_violation(
    mappings: &HashMap<String, String>,
    source: &Value,
    id: &str,
) -> Option<String> {
    let fields = source.as_object()?;
    for (field, value) in fields {
        let Some(kind) = mappings.get(field) else {
            continue;
        };
        let fits = match (kind.as_str(), value) {
            (_, Value::Null) => true,
            ("long" | "integer" | "short" | "byte", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("long" | "integer" | "short" | "byte", Value::String(s)) => s.parse::<i64>().is_ok(),
            ("double" | "float" | "half_float" | "scaled_float", Value::Number(_)) => true,
            ("double" | "float" | "half_float" | "scaled_float", Value::String(s)) => {
                s.parse::<f64>().is_ok()
            }
            ("boolean", Value::Bool(_)) => true,
            ("boolean", Value::String(s)) => s == "true" || s == "false",
            ("date", Value::Number(_)) => true,
            ("date", Value::String(s)) => {
                chrono::DateTime::parse_from_rfc3339(s).is_ok()
                    || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
            }
            ("keyword" | "text", Value::String(_) | Value::Number(_) | Value::Bool(_)) => true,
            ("object", Value::Object(_)) => true,
            _ => false,
        };
        if !fits {
            let preview = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Some(format!(
                "[1:2] failed to parse field [{field}] of type [{kind}] in document with id '{id}'. Preview of field's value: '{preview}'"
            ));
        }
    }
    None
}

async fn bulk_no_index(
    State(state): State<EsState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bulk(state, None, params, headers, body).await
}

async fn bulk_with_index(
    State(state): State<EsState>,
    Path(index): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bulk(state, Some(index), params, headers, body).await
}

async fn bulk(
    state: EsState,
    path_index: Option<String>,
    _params: HashMap<String, String>,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(fault) = take_fault(&state).await {
        return fault;
    }
    let started = std::time::Instant::now();
    let text = match std::str::from_utf8(&body) {
        Ok(text) => text,
        Err(_) => return error_reply(400, "parse_exception", "request body is not UTF-8", None),
    };
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let mut items = Vec::new();
    let mut errors = false;
    let mut store = state.lock();
    while let Some(action_line) = lines.next() {
        let action: Map<String, Value> = match serde_json::from_str(action_line) {
            Ok(action) => action,
            Err(error) => {
                return error_reply(
                    400,
                    "x_content_parse_exception",
                    &format!("[1:1] malformed action/metadata line: {error}"),
                    None,
                );
            }
        };
        let Some((kind, meta)) = action.into_iter().next() else {
            return error_reply(
                400,
                "illegal_argument_exception",
                "Malformed action/metadata line, expected a single action",
                None,
            );
        };
        let index = meta
            .get("_index")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| path_index.clone());
        let Some(index) = index else {
            return error_reply(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
                None,
            );
        };
        let id = meta
            .get("_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                store.seq_no += 1;
                format!("auto-{}", store.seq_no)
            });
        let params = VersionParams {
            version: meta.get("version").and_then(Value::as_i64),
            version_type: meta
                .get("version_type")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let external = params.external().ok().flatten();
        let (status, mut item) = match kind.as_str() {
            "index" | "create" => {
                let Some(source_line) = lines.next() else {
                    return error_reply(
                        400,
                        "illegal_argument_exception",
                        "The bulk request must be terminated by a newline [\\n]",
                        None,
                    );
                };
                match serde_json::from_str::<Value>(source_line) {
                    Ok(source) => {
                        if kind == "create"
                            && store
                                .indices
                                .get(&index)
                                .is_some_and(|i| i.docs.contains_key(&id))
                        {
                            let uuid = ensure_index(&mut store, &index).uuid.clone();
                            item_error(
                                409,
                                "version_conflict_engine_exception",
                                format!(
                                    "[{id}]: version conflict, document already exists (current version [1])"
                                ),
                                &index,
                                &id,
                                &uuid,
                            )
                        } else {
                            write_document(&mut store, &index, &id, source, external)
                        }
                    }
                    Err(error) => (
                        400,
                        json!({"_index": index, "_id": id, "status": 400, "error": {
                            "type": "document_parsing_exception",
                            "reason": format!("[1:1] failed to parse: {error}")}}),
                    ),
                }
            }
            "delete" => delete_document(&mut store, &index, &id, external),
            other => {
                return error_reply(
                    400,
                    "illegal_argument_exception",
                    &format!(
                        "Malformed action/metadata line, expected one of [create, delete, index, update] but found [{other}]"
                    ),
                    None,
                );
            }
        };
        // Single-doc error bodies are `{"error":…,"status":…}`; in a bulk the item carries them.
        if let Some(error) = item.get("error").cloned()
            && item.get("_index").is_none()
        {
            let flat_error = json!({
                "type": error.get("type").cloned().unwrap_or(Value::Null),
                "reason": error.get("reason").cloned().unwrap_or(Value::Null),
                "index": index, "index_uuid": "_na_"
            });
            item = json!({"_index": index, "_id": id, "status": status, "error": flat_error});
        }
        if let Some(object) = item.as_object_mut() {
            object.insert("status".to_string(), json!(status));
        }
        if item.get("error").is_some() {
            errors = true;
        }
        items.push(json!({ kind: item }));
    }
    drop(store);
    reply(
        StatusCode::OK,
        json!({"errors": errors, "took": started.elapsed().as_millis() as u64, "items": items}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_keeps_at_most_max_documents_dropping_the_oldest() {
        let mut store = Store::default();
        for n in 0..=MAX_DOCUMENTS {
            let (status, _) = write_document(&mut store, "i", &format!("d{n}"), json!({}), None);
            assert_eq!(status, 201);
        }
        let index = &store.indices["i"];
        assert!(index.docs.len() <= MAX_DOCUMENTS);
        assert_eq!(index.dropped as usize + index.docs.len(), MAX_DOCUMENTS + 1);
        assert!(!index.docs.contains_key("d0"), "the oldest went first");
        assert!(index.docs.contains_key(&format!("d{MAX_DOCUMENTS}")));
    }
}
