//! The gate's pass path: one worker connection served in one task, with its upstream
//! connection in the same task. A request is read whole, its head rewritten as a proxy
//! must ([`super::wire`]) and sent on with its body; the answer comes back the same way,
//! its body passed through as ES framed it. No task, channel or wake-up sits between the
//! worker's socket and ES's: hyper's server and client, a task each with a channel
//! between them, cost the gate twice haproxy's user CPU per request (docs/PERFORMANCE.md).
//!
//! Only the pass path is here. The first request a fault in force could touch, a body
//! over [`PASS_BODY_MAX`], and any request outside the common shape
//! ([`super::wire::Parsed::Unusual`]) hand the connection, with every byte read but not
//! yet served, to the full gate (hyper's server), which serves it from then on.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::gate::{GateRecord, NotForwarded, Shared, not_forwarded_answer, record};
use super::spec::EsOp;
use super::upstream::open;
use super::wire::{self, Answer, BodyLeft, Parsed, RequestHead, ResponseHead};

/// Room made in a read buffer before each read.
const READ_ROOM: usize = 16 * 1024;

/// The largest request body the pass path serves: it is read whole before anything goes
/// to ES, so a body that breaks off never reaches ES, and a request ES closed a kept
/// connection under can be sent again. It is small enough for the sockets' buffers to
/// take whole while the gate then watches for ES's answer and for the worker leaving
/// (an answer ES gives before the body's end, such as a 413, is read then). A larger
/// one goes to the full gate, which streams it and watches both while it does.
pub(super) const PASS_BODY_MAX: u64 = 1024 * 1024;

/// The read buffer that held a body larger than this is let go after it, so a kept
/// connection does not hold a large body's memory for its whole life.
const KEPT_BUFFER_MAX: usize = 256 * 1024;

/// A body up to this size is copied behind its head so both go in one write; a larger
/// one is written from where it was read.
const ONE_WRITE_BODY_MAX: usize = 64 * 1024;

/// What the worker may send ahead (pipelined) while its answer is awaited, read only to
/// see whether it went away; past this the gate stops reading ahead.
const READ_AHEAD_MAX: usize = 64 * 1024;

/// Why a request got no answer from ES.
enum Unanswered {
    /// The gate answers itself. The connection goes on only when the request was read
    /// to its end (`request_read_whole`) and the worker did not ask to close.
    ByGate {
        failure: NotForwarded,
        request_read_whole: bool,
    },
    /// The worker closed its connection while it waited: nobody is left to answer.
    WorkerLeft,
}

/// Why no answer's head came from ES.
enum NoAnswer {
    /// ES closed the connection; `after_bytes`: after sending part of a head, or an
    /// interim answer, so it had the request.
    Closed {
        after_bytes: bool,
    },
    Failed(String),
    WorkerLeft,
}

/// What a read from ES brought, while the worker is watched.
enum FromUpstream {
    More,
    Closed,
    WorkerLeft,
}

struct Relay {
    shared: Arc<Shared>,
    upstream: Option<TcpStream>,
    from_worker: BytesMut,
    from_upstream: BytesMut,
    /// The head (and a small body) going upstream; kept until the answer begins, to be
    /// sent again on a fresh connection when that is safe.
    to_upstream: Vec<u8>,
    /// The answer's head (and the first of its body) going back.
    to_worker: Vec<u8>,
    /// A request of this connection is counted in the gate's `in_flight`. Kept here
    /// rather than through a per-request clone of the shared `Arc` (two more atomic
    /// writes per request on a line every lane shares).
    counted_in_flight: bool,
    /// The request being served, until it is recorded (when its status is known).
    unrecorded: Option<Unrecorded>,
}

/// What the record of a request needs, kept from its arrival until its status is known.
struct Unrecorded {
    method: hyper::Method,
    path: String,
    at_unix_ms: i64,
    started: Instant,
}

impl Relay {
    fn enter_flight(&mut self) {
        debug_assert!(!self.counted_in_flight, "one request at a time");
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        self.counted_in_flight = true;
    }

    fn leave_flight(&mut self) {
        if std::mem::take(&mut self.counted_in_flight) {
            self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Records the request being served with `status` (`None`: the worker got none),
    /// once.
    fn record_status(&mut self, status: Option<u16>) {
        if let Some(request) = self.unrecorded.take() {
            record(
                &self.shared,
                GateRecord {
                    at_unix_ms: request.at_unix_ms,
                    op: EsOp::of(request.method.as_str(), &request.path),
                    method: request.method,
                    path: request.path,
                    status,
                    injected: None,
                    elapsed_ms: request.started.elapsed().as_millis() as u64,
                },
            );
        }
    }
}

/// A connection's future dropped in the middle of a request (the gate stopped, or every
/// connection closed at once) still records the request, with no status as the full
/// gate does, and leaves the count right; recorded first, as on every other path.
impl Drop for Relay {
    fn drop(&mut self) {
        self.record_status(None);
        self.leave_flight();
    }
}

/// Serves `worker` on the pass path for as long as that can, then hands it over to the
/// full gate.
pub(super) async fn serve(shared: Arc<Shared>, mut worker: TcpStream) {
    let mut relay = Relay {
        shared: shared.clone(),
        upstream: None,
        from_worker: BytesMut::with_capacity(READ_ROOM),
        from_upstream: BytesMut::with_capacity(READ_ROOM),
        to_upstream: Vec::with_capacity(1024),
        to_worker: Vec::with_capacity(1024),
        counted_in_flight: false,
        unrecorded: None,
    };
    if relay.run(&mut worker).await {
        let unserved = relay.from_worker.split().freeze();
        drop(relay);
        super::gate::serve_full(shared, Rewound::new(unserved, worker)).await;
    }
}

impl Relay {
    /// Serves requests until the connection ends (false) or must go to the full gate
    /// (true).
    async fn run(&mut self, worker: &mut TcpStream) -> bool {
        loop {
            let head = loop {
                if !self.from_worker.is_empty() {
                    let host = self.shared.upstream_address.host.as_bytes();
                    match wire::parse_request(&self.from_worker, host, &mut self.to_upstream) {
                        Parsed::Complete(head) => break head,
                        Parsed::Unusual => return true,
                        Parsed::Partial => {}
                    }
                }
                if !read_more(worker, &mut self.from_worker).await {
                    return false;
                }
            };
            // Asked once the request is here: a fault put in force while the connection
            // was idle applies to it.
            if !self.shared.passing() || head.content_length > PASS_BODY_MAX {
                return true;
            }
            if !self.exchange(worker, head).await {
                let _ = worker.shutdown().await;
                return false;
            }
        }
    }

    /// One request and its answer, recorded as soon as its status is known (before the
    /// worker has it, as the full gate does); whether the connection goes on.
    async fn exchange(&mut self, worker: &mut TcpStream, head: RequestHead) -> bool {
        self.enter_flight();
        let goes_on = self.exchange_counted(worker, head).await;
        self.leave_flight();
        goes_on
    }

    async fn exchange_counted(&mut self, worker: &mut TcpStream, mut head: RequestHead) -> bool {
        self.unrecorded = Some(Unrecorded {
            method: head.method.clone(),
            // The path went upstream in `to_upstream`; only the record needs it now.
            path: std::mem::take(&mut head.path),
            at_unix_ms: chrono::Utc::now().timestamp_millis(),
            started: Instant::now(),
        });
        self.from_worker.advance(head.len);
        let answer = self.forward(worker, &head).await;
        // The body stayed in the buffer while it might be sent again.
        let body = (head.content_length as usize).min(self.from_worker.len());
        self.from_worker.advance(body);
        // Judged by the body, not by `capacity()`: once a body is consumed, that counts
        // only the room behind it, not the allocation it still holds.
        if body > KEPT_BUFFER_MAX {
            let ahead = self.from_worker.split();
            self.from_worker = BytesMut::with_capacity(READ_ROOM.max(ahead.len()));
            self.from_worker.extend_from_slice(&ahead);
        }
        match answer {
            Ok(answer) => {
                self.record_status(Some(answer.status));
                let goes_on = !answer.worker_closes;
                self.pass_answer_back(worker, answer).await && goes_on
            }
            Err(Unanswered::ByGate {
                failure,
                request_read_whole,
            }) => {
                let closes = head.close || !request_read_whole;
                let (status, answer) = not_forwarded_answer(&failure, closes);
                self.record_status(Some(status));
                worker.write_all(&answer).await.is_ok() && !closes
            }
            Err(Unanswered::WorkerLeft) => {
                self.record_status(None);
                false
            }
        }
    }

    /// Reads the request's body whole, sends the request on and reads the head of ES's
    /// answer. A request goes again on a fresh connection, once, when nothing of it
    /// reached ES, or when ES closed a kept connection before answering a request that
    /// changes nothing (GET, HEAD, OPTIONS): anything else might already have been
    /// applied, and is answered 502 as a proxy does.
    async fn forward(
        &mut self,
        worker: &mut TcpStream,
        head: &RequestHead,
    ) -> Result<ResponseHead, Unanswered> {
        let length = head.content_length as usize;
        while self.from_worker.len() < length {
            if !read_more(worker, &mut self.from_worker).await {
                return Err(Unanswered::ByGate {
                    failure: NotForwarded::BodyIncomplete(format!(
                        "{} of its {length} bytes came before the connection ended",
                        self.from_worker.len()
                    )),
                    request_read_whole: false,
                });
            }
        }
        let one_write = length <= ONE_WRITE_BODY_MAX;
        if one_write {
            self.to_upstream
                .extend_from_slice(&self.from_worker[..length]);
        }
        let mut sent_again = false;
        loop {
            // A kept connection ES closed while it was idle is seen here, before
            // anything is written on it.
            if self.upstream.as_ref().is_some_and(|up| !still_open(up)) {
                self.upstream = None;
            }
            let reused = self.upstream.is_some();
            let upstream = match self.upstream.as_mut() {
                Some(upstream) => upstream,
                None => match open(&self.shared.upstream_address).await {
                    Ok(opened) => self.upstream.insert(opened),
                    Err(error) => return Err(self.upstream_failed(error)),
                },
            };
            let body: &[u8] = if one_write {
                &[]
            } else {
                &self.from_worker[..length]
            };
            match write_parts(upstream, &self.to_upstream, body).await {
                Ok(()) => {}
                Err((_, 0)) if !sent_again => {
                    // Nothing reached ES: safe to send again, whatever the method.
                    self.upstream = None;
                    sent_again = true;
                    continue;
                }
                Err((error, _)) => {
                    return Err(self.upstream_failed(format!("writing to it: {error}")));
                }
            }
            match self.read_answer_head(worker, head, length).await {
                Ok(answer) => return Ok(answer),
                Err(NoAnswer::WorkerLeft) => {
                    self.upstream = None;
                    return Err(Unanswered::WorkerLeft);
                }
                Err(NoAnswer::Closed { after_bytes: false })
                    if reused && !sent_again && head.is_safe() =>
                {
                    self.upstream = None;
                    sent_again = true;
                }
                Err(NoAnswer::Closed { after_bytes }) => {
                    let when = if after_bytes {
                        "in the middle of its answer"
                    } else {
                        "before answering"
                    };
                    return Err(self.upstream_failed(format!("it closed the connection {when}")));
                }
                Err(NoAnswer::Failed(error)) => return Err(self.upstream_failed(error)),
            }
        }
    }

    /// ES failed this request (its body was read whole): the gate's 502.
    fn upstream_failed(&mut self, error: String) -> Unanswered {
        self.upstream = None;
        let shown = self.shared.upstream_address.shown();
        let error = if error.contains(shown) {
            error
        } else {
            format!("{shown}: {error}")
        };
        Unanswered::ByGate {
            failure: NotForwarded::Upstream(error),
            request_read_whole: true,
        }
    }

    /// `request_body`: bytes of the request's body still at the front of the worker's
    /// buffer.
    async fn read_answer_head(
        &mut self,
        worker: &mut TcpStream,
        request: &RequestHead,
        request_body: usize,
    ) -> Result<ResponseHead, NoAnswer> {
        self.from_upstream.clear();
        let mut after_bytes = false;
        loop {
            if !self.from_upstream.is_empty() {
                after_bytes = true;
                match wire::parse_response(
                    &self.from_upstream,
                    &request.method,
                    request.close,
                    &mut self.to_worker,
                ) {
                    Parsed::Complete(Answer::Final(head)) => return Ok(head),
                    Parsed::Complete(Answer::Interim(len)) => {
                        self.from_upstream.advance(len);
                        continue;
                    }
                    Parsed::Unusual => {
                        return Err(NoAnswer::Failed(
                            "its answer is not an HTTP/1.1 answer the gate can pass on".into(),
                        ));
                    }
                    Parsed::Partial => {}
                }
            }
            match self.read_upstream(worker, request_body).await {
                FromUpstream::More => {}
                FromUpstream::Closed => return Err(NoAnswer::Closed { after_bytes }),
                FromUpstream::WorkerLeft => return Err(NoAnswer::WorkerLeft),
            }
        }
    }

    /// ES's answer to the worker: the head rewritten ([`wire::parse_response`]) and sent
    /// with the start of the body in one write, then the body as it comes; false when it
    /// was cut short (ES broke off or broke the framing, or the worker went away).
    async fn pass_answer_back(&mut self, worker: &mut TcpStream, head: ResponseHead) -> bool {
        self.from_upstream.advance(head.len);
        let mut body = BodyLeft::of(head.framing);
        let mut head_sent = false;
        let whole = loop {
            let Ok(taken) = body.take(&self.from_upstream) else {
                // The head goes, then the connection: the worker sees the answer cut.
                if !head_sent {
                    let _ = worker.write_all(&self.to_worker).await;
                }
                break false;
            };
            let written = if head_sent {
                worker.write_all(&self.from_upstream[..taken]).await
            } else {
                head_sent = true;
                self.to_worker
                    .extend_from_slice(&self.from_upstream[..taken]);
                worker.write_all(&self.to_worker).await
            };
            self.from_upstream.advance(taken);
            if written.is_err() {
                break false;
            }
            if body.ended() {
                break true;
            }
            match self.read_upstream(worker, 0).await {
                FromUpstream::More => {}
                FromUpstream::Closed => break matches!(body, BodyLeft::UntilClose),
                FromUpstream::WorkerLeft => break false,
            }
        };
        // Bytes past the answer's end are not HTTP/1.1 any more: that connection goes
        // (the worker's answer was whole all the same).
        if !whole || head.upstream_closes || !body.ended() || !self.from_upstream.is_empty() {
            self.upstream = None;
        }
        whole
    }

    /// Reads more of ES's answer. Meanwhile the worker is watched: if it closes its
    /// connection, waiting on ES serves nobody (ES is let go, as hyper's server does on
    /// a client's EOF). What it sends ahead is kept for the next request, up to
    /// [`READ_AHEAD_MAX`] past the `request_body` bytes still at the buffer's front.
    async fn read_upstream(&mut self, worker: &mut TcpStream, request_body: usize) -> FromUpstream {
        let Relay {
            upstream,
            from_upstream,
            from_worker,
            ..
        } = self;
        let Some(upstream) = upstream.as_mut() else {
            return FromUpstream::Closed;
        };
        from_upstream.reserve(READ_ROOM);
        loop {
            let watch_worker = from_worker.len() < request_body + READ_AHEAD_MAX;
            tokio::select! {
                biased;
                read = upstream.read_buf(from_upstream) => {
                    return match read {
                        Ok(n) if n > 0 => FromUpstream::More,
                        _ => FromUpstream::Closed,
                    };
                }
                // `poll_read_ready` keeps one waker in the socket's reader slot;
                // `readable()` would queue and unqueue a waiter, under a lock, for each
                // request.
                _ = std::future::poll_fn(|cx| worker.poll_read_ready(cx)), if watch_worker => {
                    from_worker.reserve(READ_ROOM);
                    match worker.try_read_buf(from_worker) {
                        Ok(0) => return FromUpstream::WorkerLeft,
                        Ok(_) => {}
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return FromUpstream::WorkerLeft,
                    }
                }
            }
        }
    }
}

/// A kept connection ES has not closed (nor sent anything on unasked). No system call
/// unless the reactor saw the socket become readable since it was last read dry.
fn still_open(upstream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(upstream.try_read(&mut probe), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
}

/// Writes `head` then `body`; on failure, the error and how many bytes went.
async fn write_parts(
    stream: &mut TcpStream,
    head: &[u8],
    body: &[u8],
) -> Result<(), (std::io::Error, usize)> {
    let mut written = 0;
    for part in [head, body] {
        let mut rest = part;
        while !rest.is_empty() {
            match stream.write(rest).await {
                Ok(0) => return Err((std::io::ErrorKind::WriteZero.into(), written)),
                Ok(n) => {
                    written += n;
                    rest = &rest[n..];
                }
                Err(error) => return Err((error, written)),
            }
        }
    }
    Ok(())
}

/// Reads what is there into `buffer`; false when the peer closed (or the read failed).
async fn read_more(stream: &mut TcpStream, buffer: &mut BytesMut) -> bool {
    buffer.reserve(READ_ROOM);
    matches!(stream.read_buf(buffer).await, Ok(n) if n > 0)
}

/// A worker's socket with the bytes the pass path read from it and did not serve put
/// back in front: what the full gate reads first.
pub struct Rewound {
    unserved: Bytes,
    stream: TcpStream,
}

impl Rewound {
    fn new(unserved: Bytes, stream: TcpStream) -> Rewound {
        Rewound { unserved, stream }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.unserved.is_empty() {
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        let n = self.unserved.len().min(buf.remaining());
        buf.put_slice(&self.unserved[..n]);
        self.unserved.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
