//! The fault gate: an HTTP reverse proxy between the worker and Elasticsearch. The
//! worker's `ELASTIC_URL` points at the gate; the gate forwards to the real ES unless the
//! fault in force says otherwise, and records every request (time, method, path, op,
//! status, whether a fault was injected) so the drill can export what it did.
//!
//! Pass-through changes nothing the worker or ES can see but hop-by-hop headers: method,
//! path and query, headers, body and status go through as they are, over keep-alive
//! connections on both sides.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::spec::{Decider, Decision, EsOp, Fault, error_body, rewrite_bulk_item};

/// Requests kept in memory for the Faults pane and the export (oldest dropped first).
pub const RECORDS_KEPT: usize = 10_000;

/// One request that went through the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateRecord {
    /// When the request arrived (Unix ms; exported as RFC 3339 `ts`).
    #[serde(rename = "ts", serialize_with = "rfc3339_ms")]
    pub at_unix_ms: i64,
    pub method: String,
    pub path: String,
    pub op: EsOp,
    /// The status the worker got; `None` when it got none (held, reset, ES unreachable).
    pub status: Option<u16>,
    /// The fault applied to this request, if one was.
    pub injected: Option<String>,
    pub elapsed_ms: u64,
}

fn rfc3339_ms<S: serde::Serializer>(at_unix_ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    let text = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(*at_unix_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    serializer.serialize_str(&text)
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    decider: Mutex<Decider>,
    records: Mutex<VecDeque<GateRecord>>,
    /// Records dropped from memory (the export says how many).
    dropped: Mutex<u64>,
    /// Requests received and not yet answered (a held write among them).
    in_flight: std::sync::atomic::AtomicUsize,
}

/// Counts a request in flight until it is answered (or its connection dropped).
struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a std::sync::atomic::AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub struct FaultGate {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<JoinHandle<()>>>,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and those the client library sets itself.
fn passes(name: &str) -> bool {
    !matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

type GateBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> GateBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

impl FaultGate {
    /// Listens on `listen` (port 0 picks one, kept across refuse/restore) and forwards to
    /// `upstream` (ES's base URL).
    pub async fn start(listen: SocketAddr, upstream: &str) -> std::io::Result<FaultGate> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            // The worker's own timeout decides; the gate never gives up first.
            .timeout(Duration::from_secs(300))
            // A pass-through proxy passes a 3xx on as it is: the worker decides.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let gate = FaultGate {
            addr,
            shared: Arc::new(Shared {
                upstream: upstream.trim_end_matches('/').to_string(),
                client,
                decider: Mutex::new(Decider::new(Fault::Pass)),
                records: Mutex::new(VecDeque::new()),
                dropped: Mutex::new(0),
                in_flight: Default::default(),
            }),
            running: Mutex::new(None),
        };
        gate.serve(listener);
        Ok(gate)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests the gate holds or forwards now, not yet answered: a drill knows its
    /// workers are quiet once none is left.
    pub fn in_flight(&self) -> usize {
        self.shared
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The URL to give the worker as `ELASTIC_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    pub fn fault(&self) -> Fault {
        self.shared
            .decider
            .lock()
            .map(|d| d.fault().clone())
            .unwrap_or(Fault::Pass)
    }

    /// Puts `fault` in force from the next request on. `Refuse` closes the listener and
    /// every connection; any other fault opens it again on the same port.
    pub async fn set_fault(&self, fault: Fault) -> std::io::Result<()> {
        let refuse = fault == Fault::Refuse;
        if let Ok(mut decider) = self.shared.decider.lock() {
            *decider = Decider::new(fault);
        }
        if refuse {
            self.stop();
            Ok(())
        } else {
            self.listen_again().await
        }
    }

    /// The most recent requests, oldest first.
    pub fn records(&self) -> Vec<GateRecord> {
        self.shared
            .records
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The newest `n` records (oldest first), how many requests were recorded, and how
    /// many of those had a fault applied: the Faults pane's view.
    pub fn recent(&self, n: usize) -> (Vec<GateRecord>, usize, usize) {
        let Ok(records) = self.shared.records.lock() else {
            return (Vec::new(), 0, 0);
        };
        let dropped = self.shared.dropped.lock().map(|d| *d).unwrap_or(0) as usize;
        let injected = records.iter().filter(|r| r.injected.is_some()).count();
        let newest = records
            .iter()
            .skip(records.len().saturating_sub(n))
            .cloned()
            .collect();
        (newest, records.len() + dropped, injected)
    }

    /// Every kept record as JSON lines (`_exports/gate-<ts>.jsonl`).
    pub fn export_jsonl(&self) -> String {
        let mut out = String::new();
        let dropped = self.shared.dropped.lock().map(|d| *d).unwrap_or(0);
        if dropped > 0 {
            out.push_str(&format!("{{\"dropped_records\":{dropped}}}\n"));
        }
        for record in self.records() {
            if let Ok(line) = serde_json::to_string(&record) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    fn stop(&self) {
        if let Ok(mut slot) = self.running.lock()
            && let Some(task) = slot.take()
        {
            task.abort();
        }
    }

    async fn listen_again(&self) -> std::io::Result<()> {
        if self.running.lock().map(|r| r.is_some()).unwrap_or(false) {
            return Ok(());
        }
        let mut last_error = None;
        // The port may linger for a moment after the listener closed.
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return Ok(());
                }
                Err(error) => {
                    last_error = Some(error);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| std::io::Error::other("bind failed")))
    }

    fn serve(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            // Connections live in this set: aborting the accept task drops it, and with
            // it every open connection (a refusal is as hard as a stopped container).
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        if hangs_up(&shared) {
                            hang_up(&shared, stream);
                            continue;
                        }
                        let _ = stream.set_nodelay(true);
                        let shared = shared.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                let shared = shared.clone();
                                async move { Ok::<_, Infallible>(handle(&shared, request).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(task);
        }
    }
}

impl Drop for FaultGate {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The id of the newest document the gate saw written (`PUT|POST …/_doc/<id>`) whose id
/// names `entity` (bare, or `<type>:<entity>`): the document a worker wrote for it.
pub fn written_doc_id(records: &[GateRecord], entity: &str) -> Option<String> {
    records
        .iter()
        .rev()
        .filter(|r| r.op == EsOp::Upsert)
        .filter_map(|r| {
            let path = r.path.split('?').next()?;
            let (_, id) = path.rsplit_once("/_doc/")?;
            // A client may percent-encode the `:` of `<type>:<id>`.
            let id = id.replace("%3A", ":").replace("%3a", ":");
            id.contains(entity).then_some(id)
        })
        .next()
}

fn hangs_up(shared: &Shared) -> bool {
    shared
        .decider
        .lock()
        .is_ok_and(|d| *d.fault() == Fault::Hangup)
}

/// Closes a fresh connection with a reset (linger 0), unread, and records the attempt.
fn hang_up(shared: &Shared, stream: tokio::net::TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
    record(
        shared,
        GateRecord {
            at_unix_ms: chrono::Utc::now().timestamp_millis(),
            method: "-".into(),
            path: "(connection)".into(),
            op: EsOp::Other,
            status: None,
            injected: Some(Fault::Hangup.describe()),
            elapsed_ms: 0,
        },
    );
}

fn record(shared: &Shared, record: GateRecord) {
    if let Ok(mut records) = shared.records.lock() {
        if records.len() >= RECORDS_KEPT {
            records.pop_front();
            if let Ok(mut dropped) = shared.dropped.lock() {
                *dropped += 1;
            }
        }
        records.push_back(record);
    }
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<GateBody> {
    let _in_flight = InFlight::enter(&shared.in_flight);
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let op = EsOp::of(&method, &path);
    // The fault is described only for a request it hits: pass-through stays cheap.
    let (decision, injected) = match shared.decider.lock() {
        Ok(mut decider) => {
            let decision = decider.decide(op);
            let injected = (decision != Decision::Forward).then(|| decider.fault().describe());
            (decision, injected)
        }
        Err(_) => (Decision::Forward, None),
    };
    let received = chrono::Utc::now().timestamp_millis();
    let done = |status: Option<u16>| GateRecord {
        at_unix_ms: received,
        method: method.clone(),
        path: path.clone(),
        op,
        status,
        injected: injected.clone(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    match decision {
        Decision::Abort {
            status,
            retry_after_seconds,
        } => {
            record(shared, done(Some(status)));
            let mut response = Response::builder()
                .status(status)
                .header("content-type", "application/json");
            if let Some(seconds) = retry_after_seconds {
                response = response.header("retry-after", seconds.to_string());
            }
            return response
                .body(full(error_body(status).to_string()))
                .unwrap_or_else(|_| Response::new(full(Bytes::new())));
        }
        Decision::Hold => {
            record(shared, done(None));
            // Never answers: the worker's own timeout ends it (`es_timeout`). The
            // connection goes when the worker gives up or the gate is refused.
            std::future::pending::<()>().await;
        }
        Decision::Delay(delay) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let forwarded = forward(shared, request, &method, &path).await;
    let (status, headers, body) = match forwarded {
        Ok(answer) => answer,
        Err(error) => {
            // ES itself is unreachable: the worker sees the gate fail like a proxy does.
            record(shared, done(Some(502)));
            return Response::builder()
                .status(502)
                .header("content-type", "application/json")
                .body(full(
                    serde_json::json!({"error": {"type": "gate_upstream_unreachable", "reason": error}, "status": 502})
                        .to_string(),
                ))
                .unwrap_or_else(|_| Response::new(full(Bytes::new())));
        }
    };
    let body = match decision {
        Decision::RewriteBulkItem {
            item,
            status: item_status,
        } => rewrite_bulk_item(&body, item, item_status)
            .map(Bytes::from)
            .unwrap_or(body),
        _ => body,
    };
    let mut response = Response::builder().status(status);
    for (name, value) in headers.iter() {
        if passes(name.as_str()) {
            response = response.header(name, value);
        }
    }
    if decision == Decision::Reset {
        record(shared, done(None));
        // Half of the body, then an error: hyper cuts the connection mid-response.
        let half = body.slice(..body.len() / 2);
        let frames = futures::stream::iter(vec![
            Ok(Frame::data(half)),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset by the drill-cockpit fault gate",
            )),
        ]);
        return response
            .header("content-length", body.len().to_string())
            .body(StreamBody::new(frames).boxed())
            .unwrap_or_else(|_| Response::new(full(Bytes::new())));
    }
    record(shared, done(Some(status)));
    response
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
    method: &str,
    path: &str,
) -> Result<(u16, reqwest::header::HeaderMap, Bytes), String> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("reading the request body: {e}"))?
        .to_bytes();
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut outgoing = shared
        .client
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in parts.headers.iter() {
        if passes(name.as_str()) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing
        .send()
        .await
        .map_err(|e| crate::sources::metrics::error_chain(&e))?;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let body = answer
        .bytes()
        .await
        .map_err(|e| crate::sources::metrics::error_chain(&e))?;
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(method: &str, path: &str) -> GateRecord {
        GateRecord {
            at_unix_ms: 0,
            method: method.into(),
            path: path.into(),
            op: EsOp::of(method, path),
            status: Some(200),
            injected: None,
            elapsed_ms: 0,
        }
    }

    #[test]
    fn the_document_a_worker_wrote_is_read_off_the_gate_record() {
        let entity = "852ac6b1-0000-4000-8000-000000000001";
        let records = vec![
            record(
                "PUT",
                &format!("/idx/_doc/{entity}?version=2&version_type=external"),
            ),
            record("GET", &format!("/idx/_doc/other:{entity}")),
            record("PUT", &format!("/idx/_doc/block%3A{entity}")),
            record("PUT", "/idx/_doc/someone-else"),
        ];
        assert_eq!(
            written_doc_id(&records, entity),
            Some(format!("block:{entity}"))
        );
        assert_eq!(
            written_doc_id(&records[..1], entity),
            Some(entity.to_string())
        );
        assert_eq!(written_doc_id(&records[3..], entity), None);
    }
}
