//! The fault gate: an HTTP reverse proxy between the worker and Elasticsearch. The
//! worker's `ELASTIC_URL` points at the gate; the gate forwards to the real ES unless the
//! fault in force says otherwise, and records every request (time, method, path, op,
//! status, whether a fault was injected) so the drill can export what it did.
//!
//! Pass-through changes nothing the worker or ES can see but hop-by-hop headers: method,
//! path and query, headers, body and status go through as they are, over keep-alive
//! connections on both sides. A fault proxy sits on every request of every drill, so the
//! pass path is kept as lean as a proxy's: a pooled hyper client (no URL parsing, no
//! header map rebuilt), both bodies streamed through without being buffered or copied,
//! and the record a small push under a lock (JSON is written later, off the path).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderName};
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
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

/// The client the gate forwards with: the request body goes out as it came in.
type Forwarder = Client<HttpConnector, Incoming>;

struct Shared {
    upstream: String,
    /// `http://host:port` of the upstream, parsed once: each request only swaps in its
    /// own path and query.
    upstream_scheme: hyper::http::uri::Scheme,
    upstream_authority: hyper::http::uri::Authority,
    client: Forwarder,
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

/// Hop-by-hop headers (RFC 9110 §7.6.1), and `host`, which the client sets to the
/// upstream's own. `content-length` passes: both bodies go through unchanged, so the
/// length stays true (a rewritten body drops it, see [`answer_with`]).
const NOT_FORWARDED: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Drops the headers a proxy must not pass on, in place (no new map per request).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in NOT_FORWARDED {
        if headers.contains_key(name) {
            headers.remove(HeaderName::from_static(name));
        }
    }
}

type GateBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// What the gate answers with: ES's own body streamed through, or one the gate made.
type Answer = Response<Either<Incoming, GateBody>>;

fn made(response: Response<GateBody>) -> Answer {
    response.map(Either::Right)
}

fn full(bytes: impl Into<Bytes>) -> GateBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

impl FaultGate {
    /// Listens on `listen` (port 0 picks one, kept across refuse/restore) and forwards to
    /// `upstream` (ES's base URL).
    pub async fn start(listen: SocketAddr, upstream: &str) -> std::io::Result<FaultGate> {
        let (upstream_scheme, upstream_authority) = parse_upstream(upstream)?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // The worker's own timeout decides; the gate never gives up first, and passes a
        // 3xx on as it is (the hyper client follows no redirects).
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        let gate = FaultGate {
            addr,
            shared: Arc::new(Shared {
                upstream: upstream.trim_end_matches('/').to_string(),
                upstream_scheme,
                upstream_authority,
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

    /// The records from sequence number `since` on (the first request the gate saw is
    /// 0), the number to ask from next time, and how many of those asked for had already
    /// left memory (more than [`RECORDS_KEPT`] behind): a reader that polls gets every
    /// request once, or is told how many it missed.
    pub fn records_since(&self, since: u64) -> (Vec<GateRecord>, u64, u64) {
        let Ok(records) = self.shared.records.lock() else {
            return (Vec::new(), since, 0);
        };
        let dropped = self.shared.dropped.lock().map(|d| *d).unwrap_or(0);
        let next = dropped + records.len() as u64;
        let missed = dropped.saturating_sub(since);
        let skip = since.saturating_sub(dropped).min(records.len() as u64) as usize;
        (records.iter().skip(skip).cloned().collect(), next, missed)
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

/// `http://host:port[/]` → its scheme and authority; anything else is refused with the fix.
fn parse_upstream(
    upstream: &str,
) -> std::io::Result<(hyper::http::uri::Scheme, hyper::http::uri::Authority)> {
    let refused = |why: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the fault gate's upstream {upstream:?} {why}: give Elasticsearch's base URL, e.g. http://127.0.0.1:9200"
            ),
        )
    };
    let uri: Uri = upstream
        .trim_end_matches('/')
        .parse()
        .map_err(|_| refused("is not a URL"))?;
    let scheme = uri
        .scheme()
        .cloned()
        .ok_or_else(|| refused("has no scheme"))?;
    if scheme != hyper::http::uri::Scheme::HTTP {
        return Err(refused(
            "is not plain http (the gate forwards HTTP/1.1 without TLS, as the lab's Elasticsearch speaks)",
        ));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(refused(
            "has a path (the gate forwards each request's own path)",
        ));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| refused("has no host"))?;
    Ok((scheme, authority))
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Answer {
    let _in_flight = InFlight::enter(&shared.in_flight);
    let started = std::time::Instant::now();
    let op = EsOp::of(
        request.method().as_str(),
        request.uri().path_and_query().map_or("/", |p| p.as_str()),
    );
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
    let method = request.method().clone();
    let path_and_query = request.uri().path_and_query().cloned();
    let done = |status: Option<u16>| GateRecord {
        at_unix_ms: received,
        method: method.as_str().to_string(),
        path: path_and_query
            .as_ref()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
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
            return made(
                response
                    .body(full(error_body(status).to_string()))
                    .unwrap_or_else(|_| Response::new(full(Bytes::new()))),
            );
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
    let answer = match forward(shared, request).await {
        Ok(answer) => answer,
        Err(error) => {
            // ES itself is unreachable: the worker sees the gate fail like a proxy does.
            record(shared, done(Some(502)));
            return made(
                Response::builder()
                    .status(502)
                    .header("content-type", "application/json")
                    .body(full(
                        serde_json::json!({"error": {"type": "gate_upstream_unreachable", "reason": error}, "status": 502})
                            .to_string(),
                    ))
                    .unwrap_or_else(|_| Response::new(full(Bytes::new()))),
            );
        }
    };
    let status = answer.status().as_u16();
    match decision {
        Decision::RewriteBulkItem {
            item,
            status: item_status,
        } => {
            let (parts, body) = answer.into_parts();
            let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
                record(shared, done(None));
                return made(cut_short(parts, Bytes::new()));
            };
            let body = rewrite_bulk_item(&body, item, item_status)
                .map(Bytes::from)
                .unwrap_or(body);
            record(shared, done(Some(status)));
            made(answer_with(parts, body))
        }
        Decision::Reset => {
            let (parts, body) = answer.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            record(shared, done(None));
            made(cut_short(parts, body))
        }
        _ => {
            record(shared, done(Some(status)));
            answer.map(Either::Left)
        }
    }
}

/// ES's answer with a body the gate changed: the length is the new body's.
fn answer_with(mut parts: hyper::http::response::Parts, body: Bytes) -> Response<GateBody> {
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    Response::from_parts(parts, full(body))
}

/// Half of ES's answer, then an error: hyper cuts the connection mid-response, and the
/// announced length tells the worker the answer was cut short.
fn cut_short(mut parts: hyper::http::response::Parts, body: Bytes) -> Response<GateBody> {
    let half = body.slice(..body.len() / 2);
    parts.headers.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(body.len()),
    );
    let frames = futures::stream::iter(vec![
        Ok(Frame::data(half)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset by the drill-cockpit fault gate",
        )),
    ]);
    Response::from_parts(parts, StreamBody::new(frames).boxed())
}

/// Sends the request on to ES as it came (its body streamed), and ES's answer back
/// with its body still streaming.
async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<Incoming>, String> {
    let (mut parts, body) = request.into_parts();
    let mut uri = hyper::http::uri::Parts::default();
    uri.scheme = Some(shared.upstream_scheme.clone());
    uri.authority = Some(shared.upstream_authority.clone());
    uri.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| hyper::http::uri::PathAndQuery::from_static("/")),
    );
    parts.uri = Uri::from_parts(uri).map_err(|e| format!("the upstream URL: {e}"))?;
    // HTTP/1.1 to ES whatever the worker spoke: the pool keeps these connections.
    parts.version = hyper::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    let mut answer = shared
        .client
        .request(Request::from_parts(parts, body))
        .await
        .map_err(|e| crate::sources::metrics::error_chain(&e))?;
    strip_hop_by_hop(answer.headers_mut());
    Ok(answer)
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
