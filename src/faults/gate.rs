//! The fault gate: an HTTP reverse proxy between the worker and Elasticsearch. The
//! worker's `ELASTIC_URL` points at the gate; the gate forwards to the real ES unless the
//! fault in force says otherwise, and records every request (time, method, path, op,
//! status, whether a fault was injected) so the drill can export what it did.
//!
//! Pass-through changes nothing the worker or ES can see but hop-by-hop headers: method,
//! path and query, headers, body and status go through as they are, over keep-alive
//! connections on both sides. A fault proxy sits on every request of every drill, so the
//! pass path is kept as lean as a proxy's: each worker connection is served on one
//! thread ([`super::lanes`]) by one task that also holds its upstream connection
//! ([`super::relay`]), the HTTP/1.1 framing read in place ([`super::wire`]), no body
//! copied but a small one read whole to go with its head, and the record a small push
//! under a lock (JSON is written later, off the path). Once a fault is in force, or a
//! request is outside the common shape, the connection goes on in the full gate below:
//! hyper's server, which every fault is written against.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderName};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::lanes::Lanes;
use super::spec::{Decider, Decision, EsOp, Fault, error_body, rewrite_bulk_item};
use super::upstream::{UpstreamAddress, UpstreamConnection, with_body_ready};

/// Requests kept in memory for the Faults pane and the export (oldest dropped first).
pub const RECORDS_KEPT: usize = 10_000;

/// One request that went through the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateRecord {
    /// When the request arrived (Unix ms; exported as RFC 3339 `ts`).
    #[serde(rename = "ts", serialize_with = "rfc3339_ms")]
    pub at_unix_ms: i64,
    /// The request's own method (no copy: a standard method is a plain value).
    #[serde(serialize_with = "method_text")]
    pub method: hyper::Method,
    /// A copy of the path and query: the request's own would keep hyper's whole read
    /// buffer alive in memory for as long as the record is kept. `(connection)` for a
    /// connection hung up on before anything was read.
    pub path: String,
    pub op: EsOp,
    /// The status the worker got; `None` when it got none (held, reset, ES unreachable).
    pub status: Option<u16>,
    /// The fault applied to this request, if one was.
    pub injected: Option<String>,
    pub elapsed_ms: u64,
}

fn method_text<S: serde::Serializer>(
    method: &hyper::Method,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(method.as_str())
}

fn rfc3339_ms<S: serde::Serializer>(at_unix_ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    let text = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(*at_unix_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    serializer.serialize_str(&text)
}

pub(super) struct Shared {
    upstream: String,
    /// `http://host:port` of the upstream, parsed once: each request only gets its host.
    pub(super) upstream_address: UpstreamAddress,
    decider: Mutex<Decider>,
    /// The fault in force is `pass` (or one decided at accept: refuse, hang-up): a
    /// request need not ask the decider.
    passing: std::sync::atomic::AtomicBool,
    records: Mutex<Records>,
    /// Requests received and not yet answered (a held write among them).
    pub(super) in_flight: std::sync::atomic::AtomicUsize,
}

/// The requests kept in memory, and how many older ones were let go: one lock, taken
/// once per request. Readers hold it for one pass at most, never to serialise or
/// count the whole history (a drill's gate serves every connection on one thread,
/// which waits while the lock is held).
#[derive(Default)]
struct Records {
    kept: VecDeque<GateRecord>,
    /// Records dropped from memory (the export says how many).
    dropped: u64,
    /// Requests a fault was applied to since the gate started, dropped ones included:
    /// counted as they come, not by walking `kept` under the lock at each read.
    injected: u64,
}

impl Shared {
    /// No fault in force can touch a request: the pass path serves it.
    pub(super) fn passing(&self) -> bool {
        self.passing.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Counts a request in flight until it is answered (or its connection dropped).
pub(super) struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> InFlight<'a> {
    pub(super) fn enter(count: &'a std::sync::atomic::AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

pub struct FaultGate {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The threads connections are served on; the accept task hands them over.
    lanes: Arc<Lanes>,
    running: Mutex<Option<JoinHandle<()>>>,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), and `host`, which the upstream connection sets
/// to the upstream's own. `content-length` passes: both bodies go through unchanged, so
/// the length stays true (a rewritten body drops it, see [`answer_with`]). Names made
/// once: a lookup by a ready `HeaderName` skips parsing the name on every request.
static NOT_FORWARDED: [HeaderName; 8] = [
    hyper::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    hyper::header::TE,
    hyper::header::TRAILER,
    hyper::header::TRANSFER_ENCODING,
    hyper::header::UPGRADE,
    hyper::header::HOST,
];

/// Drops the headers a proxy must not pass on, in place (no new map per request).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &NOT_FORWARDED {
        headers.remove(name);
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

/// The lanes of a drill's gate. A drill's gate serves one worker, or a few replicas:
/// one lane carried 0.95x haproxy's 2-thread req/s in `scripts/bench-gate` (tens of
/// thousands a second), far more than they send, and it wakes one thread per burst
/// where two lanes split the burst and both wake. Measured per event in `scripts/bench`:
/// one lane cost 1.2-3.9 µs less CPU than two (docs/PERFORMANCE.md).
/// The standalone `drill-cockpit gate`, which any number of clients may share, runs
/// one lane per core unless told (`--threads`).
pub const DRILL_LANES: usize = 1;

impl FaultGate {
    /// A drill's gate ([`DRILL_LANES`]): listens on `listen` (port 0 picks one, kept
    /// across refuse/restore) and forwards to `upstream` (ES's base URL).
    pub async fn start(listen: SocketAddr, upstream: &str) -> std::io::Result<FaultGate> {
        FaultGate::start_with_threads(listen, upstream, Some(DRILL_LANES)).await
    }

    /// [`FaultGate::start`] with `threads` serving connections (`None`: one per core).
    pub async fn start_with_threads(
        listen: SocketAddr,
        upstream: &str,
        threads: Option<usize>,
    ) -> std::io::Result<FaultGate> {
        let upstream_authority = parse_upstream(upstream)?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        // The worker's own timeout decides: the gate never gives up first, and passes a
        // 3xx on as it is (it follows no redirects).
        let gate = FaultGate {
            addr,
            lanes: Arc::new(Lanes::start("fault-gate", threads)?),
            shared: Arc::new(Shared {
                upstream: upstream.trim_end_matches('/').to_string(),
                upstream_address: UpstreamAddress::new(upstream_authority),
                decider: Mutex::new(Decider::new(Fault::Pass)),
                passing: std::sync::atomic::AtomicBool::new(true),
                records: Mutex::new(Records::default()),
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
        let passing = matches!(fault, Fault::Pass | Fault::Refuse | Fault::Hangup);
        if let Ok(mut decider) = self.shared.decider.lock() {
            *decider = Decider::new(fault);
            self.shared
                .passing
                .store(passing, std::sync::atomic::Ordering::Release);
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
            .map(|r| r.kept.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The newest `n` records (oldest first), how many requests were recorded, and how
    /// many of those had a fault applied: the Faults pane's view.
    pub fn recent(&self, n: usize) -> (Vec<GateRecord>, usize, usize) {
        let Ok(records) = self.shared.records.lock() else {
            return (Vec::new(), 0, 0);
        };
        let kept = &records.kept;
        let newest = kept
            .iter()
            .skip(kept.len().saturating_sub(n))
            .cloned()
            .collect();
        (
            newest,
            kept.len() + records.dropped as usize,
            records.injected as usize,
        )
    }

    /// How many requests (or connections) the gate applied a fault to since it started:
    /// the collector's gate's refusals.
    pub fn injected(&self) -> u64 {
        self.shared.records.lock().map_or(0, |r| r.injected)
    }

    /// The id of the newest document the gate saw written for `entity`
    /// ([`written_doc_id`]), looked up in place.
    pub fn written_doc_id(&self, entity: &str) -> Option<String> {
        let records = self.shared.records.lock().ok()?;
        written_doc_id(records.kept.iter(), entity)
    }

    /// The records from sequence number `since` on (the first request the gate saw is
    /// 0), the number to ask from next time, and how many of those asked for had already
    /// left memory (more than [`RECORDS_KEPT`] behind): a reader that polls gets every
    /// request once, or is told how many it missed.
    pub fn records_since(&self, since: u64) -> (Vec<GateRecord>, u64, u64) {
        let Ok(records) = self.shared.records.lock() else {
            return (Vec::new(), since, 0);
        };
        let (kept, dropped) = (&records.kept, records.dropped);
        let next = dropped + kept.len() as u64;
        let missed = dropped.saturating_sub(since);
        let skip = since.saturating_sub(dropped).min(kept.len() as u64) as usize;
        (kept.iter().skip(skip).cloned().collect(), next, missed)
    }

    /// How many requests the gate has recorded since it started.
    pub fn recorded(&self) -> u64 {
        self.shared
            .records
            .lock()
            .map_or(0, |r| r.kept.len() as u64 + r.dropped)
    }

    /// Every kept record as JSON lines (`_exports/gate-<ts>.jsonl`).
    pub fn export_jsonl(&self) -> String {
        let mut out = String::new();
        // Read under one lock, so the count and the records agree.
        let (dropped, injected, kept) = self
            .shared
            .records
            .lock()
            .map(|r| {
                (
                    r.dropped,
                    r.injected,
                    r.kept.iter().cloned().collect::<Vec<_>>(),
                )
            })
            .unwrap_or_default();
        // With records let go, the faulted ones among them are only in this count:
        // `verify` reads it, so it grades what the live run graded.
        if dropped > 0 {
            out.push_str(&format!(
                "{{\"dropped_records\":{dropped},\"injected_total\":{injected}}}\n"
            ));
        }
        for record in kept {
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
        self.lanes.close_all();
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
        let lanes = self.lanes.clone();
        // Taken now, before the first accept: a `refuse` from here on closes every
        // connection this listener accepted, even one still on its way to its lane.
        let closing = lanes.closing();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if hangs_up(&shared) {
                    hang_up(&shared, stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                lanes.hand_over(
                    stream,
                    Box::new(move |stream| Box::pin(super::relay::serve(shared, stream))),
                    closing.clone(),
                );
            }
        });
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(task);
        }
    }
}

/// The full gate for one worker connection (hyper's server), with its own upstream
/// connection: where the pass path ([`super::relay`]) hands a connection over once a
/// fault is in force or a request is outside its common shape.
pub(super) async fn serve_full<I>(shared: Arc<Shared>, io: I)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new((shared, Mutex::new(UpstreamConnection::default())));
    let service = hyper::service::service_fn(move |request| {
        let connection = connection.clone();
        async move {
            let (shared, upstream) = &*connection;
            Ok::<_, Infallible>(handle(shared, upstream, request).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

impl Drop for FaultGate {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The id of the newest document the gate saw written (`PUT|POST …/_doc/<id>`) whose id
/// names `entity` (bare, or `<type>:<entity>`): the document a worker wrote for it.
pub fn written_doc_id<'a>(
    records: impl DoubleEndedIterator<Item = &'a GateRecord>,
    entity: &str,
) -> Option<String> {
    records
        .rev()
        .filter(|r| r.op == EsOp::Upsert)
        .filter_map(|r| {
            let path = r.path.split('?').next()?;
            let (_, id) = path.rsplit_once("/_doc/")?;
            // A client may percent-encode the `:` of `<type>:<id>` (decoded only then:
            // this runs under the records' lock, over every write the gate kept).
            if !id.contains('%') {
                return id.contains(entity).then(|| id.to_string());
            }
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
            method: hyper::Method::from_bytes(b"-").unwrap_or_default(),
            path: "(connection)".into(),
            op: EsOp::Other,
            status: None,
            injected: Some(Fault::Hangup.describe()),
            elapsed_ms: 0,
        },
    );
}

pub(super) fn record(shared: &Shared, record: GateRecord) {
    if let Ok(mut records) = shared.records.lock() {
        if record.injected.is_some() {
            records.injected += 1;
        }
        if records.kept.len() >= RECORDS_KEPT {
            records.kept.pop_front();
            records.dropped += 1;
        }
        records.kept.push_back(record);
    }
}

/// `http://host:port[/]` → its authority; anything else is refused with the fix.
fn parse_upstream(upstream: &str) -> std::io::Result<hyper::http::uri::Authority> {
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
    uri.authority()
        .cloned()
        .ok_or_else(|| refused("has no host"))
}

/// What the gate knows of a request when it is recorded. Recorded once: with the status
/// the worker got, or, if the request's future is dropped first (the worker closed its
/// connection, the gate was refused), with none, as the pass path records it.
struct Seen<'a> {
    shared: &'a Shared,
    recorded: bool,
    started: std::time::Instant,
    at_unix_ms: i64,
    method: hyper::Method,
    path: PathAndQuery,
    op: EsOp,
    injected: Option<String>,
}

impl<'a> Seen<'a> {
    fn of(
        shared: &'a Shared,
        request: &Request<Incoming>,
        op: EsOp,
        injected: Option<String>,
    ) -> Seen<'a> {
        Seen {
            shared,
            recorded: false,
            started: std::time::Instant::now(),
            at_unix_ms: chrono::Utc::now().timestamp_millis(),
            method: request.method().clone(),
            path: request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            op,
            injected,
        }
    }

    /// Records the request with `status` (`None`: the worker got none), once.
    fn record(&mut self, status: Option<u16>) {
        if !self.recorded {
            self.recorded = true;
            record(self.shared, self.done(status));
        }
    }

    fn done(&self, status: Option<u16>) -> GateRecord {
        GateRecord {
            at_unix_ms: self.at_unix_ms,
            method: self.method.clone(),
            path: self.path.as_str().to_string(),
            op: self.op,
            status,
            injected: self.injected.clone(),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

impl Drop for Seen<'_> {
    fn drop(&mut self) {
        self.record(None);
    }
}

async fn handle(
    shared: &Shared,
    upstream: &Mutex<UpstreamConnection>,
    request: Request<Incoming>,
) -> Answer {
    let _in_flight = InFlight::enter(&shared.in_flight);
    let op = EsOp::of(
        request.method().as_str(),
        request.uri().path_and_query().map_or("/", |p| p.as_str()),
    );
    if let Some((decision, injected)) = hit_by_fault(shared, op) {
        // Off the pass path, boxed: the pass path's future stays small.
        return Box::pin(handle_faulted(
            shared, upstream, request, op, decision, injected,
        ))
        .await;
    }
    let mut seen = Seen::of(shared, &request, op, None);
    match forward(shared, upstream, request).await {
        Ok(answer) => {
            seen.record(Some(answer.status().as_u16()));
            answer.map(Either::Left)
        }
        Err(failure) => not_forwarded(&mut seen, failure),
    }
}

/// What the fault in force does to a request of `op`, and the fault described, when it
/// does anything. The decider is asked only when a fault is in force, and the fault
/// described only for a request it hits.
fn hit_by_fault(shared: &Shared, op: EsOp) -> Option<(Decision, String)> {
    if shared.passing() {
        return None;
    }
    let mut decider = shared.decider.lock().ok()?;
    let decision = decider.decide(op);
    (decision != Decision::Forward).then(|| (decision, decider.fault().describe()))
}

/// Why a request did not reach ES.
pub(super) enum NotForwarded {
    /// The worker's own body broke off before its end: nothing was sent upstream.
    BodyIncomplete(String),
    /// ES could not be reached, or closed the connection before answering.
    Upstream(String),
}

impl NotForwarded {
    /// The gate's own answer: its status (400 when the worker's body broke off, 502 when
    /// ES was unreachable, as a proxy answers) and its JSON body, shaped as ES's errors.
    fn status_and_body(&self) -> (u16, String) {
        let (status, kind, reason) = match self {
            NotForwarded::BodyIncomplete(why) => (
                400,
                "gate_request_body_incomplete",
                format!("the request's body broke off before its end: {why}"),
            ),
            NotForwarded::Upstream(error) => (502, "gate_upstream_unreachable", error.clone()),
        };
        let body = serde_json::json!({"error": {"type": kind, "reason": reason}, "status": status});
        (status, body.to_string())
    }
}

/// The gate's own answer to a request that did not reach ES, recorded with its status.
fn not_forwarded(seen: &mut Seen, failure: NotForwarded) -> Answer {
    let (status, body) = failure.status_and_body();
    seen.record(Some(status));
    made(
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(full(body))
            .unwrap_or_else(|_| Response::new(full(Bytes::new()))),
    )
}

/// [`not_forwarded`]'s answer as the bytes the pass path writes; `closes`: the
/// connection ends after it.
pub(super) fn not_forwarded_answer(failure: &NotForwarded, closes: bool) -> (u16, Vec<u8>) {
    let (status, body) = failure.status_and_body();
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("");
    let connection = if closes { "connection: close\r\n" } else { "" };
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{connection}\r\n{body}",
        body.len()
    );
    (status, answer.into_bytes())
}

/// A request the fault in force hits.
async fn handle_faulted(
    shared: &Shared,
    upstream: &Mutex<UpstreamConnection>,
    request: Request<Incoming>,
    op: EsOp,
    decision: Decision,
    injected: String,
) -> Answer {
    let mut seen = Seen::of(shared, &request, op, Some(injected));
    match decision {
        Decision::Abort {
            status,
            retry_after_seconds,
        } => {
            seen.record(Some(status));
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
            seen.record(None);
            // Never answers: the worker's own timeout ends it (`es_timeout`). The
            // connection goes when the worker gives up or the gate is refused.
            std::future::pending::<()>().await;
        }
        Decision::Delay(delay) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let answer = match forward(shared, upstream, request).await {
        Ok(answer) => answer,
        Err(failure) => return not_forwarded(&mut seen, failure),
    };
    let status = answer.status().as_u16();
    match decision {
        Decision::RewriteBulkItem {
            item,
            status: item_status,
        } => {
            let (parts, body) = answer.into_parts();
            let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
                seen.record(None);
                return made(cut_short(parts, Bytes::new()));
            };
            let body = rewrite_bulk_item(&body, item, item_status)
                .map(Bytes::from)
                .unwrap_or(body);
            seen.record(Some(status));
            made(answer_with(parts, body))
        }
        Decision::Reset => {
            let (parts, body) = answer.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            seen.record(None);
            made(cut_short(parts, body))
        }
        _ => {
            seen.record(Some(status));
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

/// Sends the request on to ES as it came (its body whole when small, else streamed;
/// [`with_body_ready`]), and ES's answer back with its body still streaming.
async fn forward(
    shared: &Shared,
    upstream: &Mutex<UpstreamConnection>,
    request: Request<Incoming>,
) -> Result<Response<Incoming>, NotForwarded> {
    // The worker's body is read before the upstream connection is taken: a body that
    // breaks off never sends half a request to ES.
    let mut request = with_body_ready(request)
        .await
        .map_err(|error| NotForwarded::BodyIncomplete(error.to_string()))?;
    // HTTP/1.1 to ES whatever the worker spoke, in origin form (a worker that speaks to
    // the gate as to a proxy sends the absolute form).
    *request.version_mut() = hyper::Version::HTTP_11;
    if request.uri().authority().is_some() {
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(path);
    }
    strip_hop_by_hop(request.headers_mut());
    // The connection is taken out for the request and put back after: HTTP/1.1 sends one
    // request at a time on a connection, so nothing else wants it meanwhile.
    let slot = || {
        upstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let mut connection = std::mem::take(&mut *slot());
    let answer = connection.send(&shared.upstream_address, request).await;
    *slot() = connection;
    let mut answer = answer.map_err(NotForwarded::Upstream)?;
    strip_hop_by_hop(answer.headers_mut());
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(method: &str, path: &str) -> GateRecord {
        GateRecord {
            at_unix_ms: 0,
            method: method.parse().unwrap(),
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
        let records = [
            record(
                "PUT",
                &format!("/idx/_doc/{entity}?version=2&version_type=external"),
            ),
            record("GET", &format!("/idx/_doc/other:{entity}")),
            record("PUT", &format!("/idx/_doc/block%3A{entity}")),
            record("PUT", "/idx/_doc/someone-else"),
        ];
        assert_eq!(
            written_doc_id(records.iter(), entity),
            Some(format!("block:{entity}"))
        );
        assert_eq!(
            written_doc_id(records[..1].iter(), entity),
            Some(entity.to_string())
        );
        assert_eq!(written_doc_id(records[3..].iter(), entity), None);
    }

    #[tokio::test]
    async fn the_faulted_count_keeps_requests_let_go_from_memory() {
        let gate = FaultGate::start_with_threads(
            "127.0.0.1:0".parse().unwrap(),
            "http://127.0.0.1:9",
            Some(1),
        )
        .await
        .unwrap();
        let faulted = GateRecord {
            injected: Some("refuse".into()),
            ..record("-", "(connection)")
        };
        for _ in 0..3 {
            super::record(&gate.shared, faulted.clone());
        }
        for i in 0..RECORDS_KEPT {
            super::record(&gate.shared, record("PUT", &format!("/idx/_doc/{i}")));
        }
        // The three faulted ones left memory; they still count, as the total does.
        let (newest, total, injected) = gate.recent(2);
        assert_eq!((total, injected), (RECORDS_KEPT + 3, 3));
        assert_eq!(gate.injected(), 3);
        assert!(newest.iter().all(|r| r.injected.is_none()));
        let last = format!("{}", RECORDS_KEPT - 1);
        assert_eq!(gate.written_doc_id(&last), Some(last.clone()));
        assert_eq!(gate.written_doc_id("no-such-entity"), None);
        // The export says so too: `verify` grades the count the live run graded.
        let export = gate.export_jsonl();
        assert!(
            export.starts_with("{\"dropped_records\":3,\"injected_total\":3}\n"),
            "{}",
            &export[..80]
        );
        assert_eq!(crate::drill::observations::refusals_in_export(&export), 3);
    }

    #[test]
    fn a_record_exports_its_method_and_path_as_text() {
        let json = serde_json::to_value(record("PUT", "/idx/_doc/7?version=2")).unwrap();
        assert_eq!(json["method"], "PUT");
        assert_eq!(json["path"], "/idx/_doc/7?version=2");
        let hang_up = GateRecord {
            method: hyper::Method::from_bytes(b"-").unwrap(),
            path: "(connection)".into(),
            ..record("GET", "/")
        };
        let json = serde_json::to_value(hang_up).unwrap();
        assert_eq!(
            (json["method"].as_str(), json["path"].as_str()),
            (Some("-"), Some("(connection)"))
        );
    }
}
