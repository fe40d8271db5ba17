//! The gate's pass path: one worker connection served in one task, with its upstream
//! connection in the same task. A request is read, its head rewritten as a proxy must
//! ([`super::wire`]) and sent on with its body in one write; the answer comes back the
//! same way, its body passed through as ES framed it. No task, channel or wake-up sits
//! between the worker's socket and ES's: hyper's server and client, a task each with a
//! channel between them, cost the gate more CPU per request than haproxy, and the worker
//! more throughput per event than a byte relay (docs/PERFORMANCE.md).
//!
//! Only the pass path is here. The first request a fault in force could touch, and any
//! request outside the common shape ([`super::wire::Parsed::Unusual`]), hands the
//! connection, with every byte read but not yet served, to the full gate (hyper's
//! server), which serves it from then on.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::gate::{GateRecord, InFlight, NotForwarded, Shared, not_forwarded_answer, record};
use super::spec::EsOp;
use super::upstream::{WHOLE_BODY_MAX, open};
use super::wire::{self, Answer, Chunked, Framing, Parsed, RequestHead, ResponseHead};

/// Room made in a read buffer before each read.
const READ_ROOM: usize = 16 * 1024;

/// A request that did not reach ES, or ES broke off before its answer began: the gate
/// answers itself. The connection can go on only when the worker's request was read to
/// its end.
struct Unsent {
    failure: NotForwarded,
    body_read: bool,
}

/// Why no answer's head came from ES.
enum NoAnswer {
    /// The connection closed before a byte of an answer: an idle connection ES had
    /// closed, when it was reused.
    ClosedBeforeAnswer,
    Failed(String),
}

struct Relay {
    shared: Arc<Shared>,
    upstream: Option<TcpStream>,
    from_worker: BytesMut,
    from_upstream: BytesMut,
    /// The head (and a whole body) going upstream; kept until the answer begins, to be
    /// sent again on a fresh connection when a reused one turned out to be closed.
    to_upstream: Vec<u8>,
    /// The answer's head (and the first of its body) going back.
    to_worker: Vec<u8>,
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
                if !self.read_worker(worker).await {
                    return false;
                }
            };
            // Asked once the request is here: a fault put in force while the connection
            // was idle applies to it.
            if !self.shared.passing() {
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
        let shared = self.shared.clone();
        let _in_flight = InFlight::enter(&shared.in_flight);
        let started = Instant::now();
        let at_unix_ms = chrono::Utc::now().timestamp_millis();
        self.from_worker.advance(head.len);
        let answer = self.forward(worker, &head).await;
        let close = head.close;
        let recorded = |status: u16| GateRecord {
            at_unix_ms,
            op: EsOp::of(head.method.as_str(), &head.path),
            method: head.method,
            path: head.path,
            status: Some(status),
            injected: None,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        match answer {
            Ok(answer) => {
                record(&shared, recorded(answer.status));
                let goes_on = !answer.worker_closes;
                self.pass_answer_back(worker, answer).await && goes_on
            }
            Err(Unsent { failure, body_read }) => {
                let closes = close || !body_read;
                let (status, answer) = not_forwarded_answer(&failure, closes);
                record(&shared, recorded(status));
                worker.write_all(&answer).await.is_ok() && !closes
            }
        }
    }

    /// Sends the request on (its body whole first when it is small, else streamed) and
    /// reads the head of ES's answer.
    async fn forward(
        &mut self,
        worker: &mut TcpStream,
        head: &RequestHead,
    ) -> Result<ResponseHead, Unsent> {
        let length = head.content_length;
        let whole = length <= WHOLE_BODY_MAX;
        if whole {
            // Read to its end before anything goes upstream: a body that breaks off never
            // sends half a document to ES.
            while (self.from_worker.len() as u64) < length {
                if !read_more(worker, &mut self.from_worker).await {
                    return Err(body_broke_off(self.from_worker.len() as u64, length));
                }
            }
            let length = length as usize;
            self.to_upstream
                .extend_from_slice(&self.from_worker[..length]);
            self.from_worker.advance(length);
        }
        let mut retried = false;
        loop {
            let reused = self.upstream.is_some();
            // Sent again, once, when a reused connection was found closed: only a request
            // read whole, and one that may be repeated (RFC 9110 §9.2.2).
            let may_retry = reused && whole && !retried && head.method_is_idempotent();
            let upstream = match self.upstream.as_mut() {
                Some(upstream) => upstream,
                None => match open(&self.shared.upstream_address).await {
                    Ok(opened) => self.upstream.insert(opened),
                    Err(error) => {
                        return Err(Unsent {
                            failure: NotForwarded::Upstream(error),
                            body_read: whole,
                        });
                    }
                },
            };
            if let Err(error) = upstream.write_all(&self.to_upstream).await {
                self.upstream = None;
                if may_retry {
                    retried = true;
                    continue;
                }
                return Err(self.upstream_failed(format!("writing to it: {error}"), whole));
            }
            if !whole {
                self.stream_body(worker, length).await?;
            }
            match self.read_answer_head(head).await {
                Ok(answer) => return Ok(answer),
                Err(NoAnswer::ClosedBeforeAnswer) if may_retry => {
                    self.upstream = None;
                    retried = true;
                }
                Err(NoAnswer::ClosedBeforeAnswer) => {
                    return Err(self.upstream_failed(
                        "it closed the connection before answering".into(),
                        true,
                    ));
                }
                Err(NoAnswer::Failed(error)) => return Err(self.upstream_failed(error, true)),
            }
        }
    }

    fn upstream_failed(&mut self, error: String, body_read: bool) -> Unsent {
        self.upstream = None;
        Unsent {
            failure: NotForwarded::Upstream(format!(
                "{}: {error}",
                self.shared.upstream_address.shown()
            )),
            body_read,
        }
    }

    /// The rest of a large body, from the worker to ES as it comes, after the head went.
    async fn stream_body(&mut self, worker: &mut TcpStream, length: u64) -> Result<(), Unsent> {
        let mut left = length;
        loop {
            let here = left.min(self.from_worker.len() as u64) as usize;
            if here > 0 {
                let Some(upstream) = self.upstream.as_mut() else {
                    return Err(self.upstream_failed("the connection went".into(), false));
                };
                if let Err(error) = upstream.write_all(&self.from_worker[..here]).await {
                    return Err(self.upstream_failed(format!("writing to it: {error}"), false));
                }
                self.from_worker.advance(here);
                left -= here as u64;
            }
            if left == 0 {
                return Ok(());
            }
            if !read_more(worker, &mut self.from_worker).await {
                // ES sees the request cut short with the connection.
                self.upstream = None;
                return Err(body_broke_off(length - left, length));
            }
        }
    }

    async fn read_answer_head(&mut self, request: &RequestHead) -> Result<ResponseHead, NoAnswer> {
        let Some(upstream) = self.upstream.as_mut() else {
            return Err(NoAnswer::ClosedBeforeAnswer);
        };
        self.from_upstream.clear();
        loop {
            if !self.from_upstream.is_empty() {
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
            if !read_more(upstream, &mut self.from_upstream).await {
                return Err(if self.from_upstream.is_empty() {
                    NoAnswer::ClosedBeforeAnswer
                } else {
                    NoAnswer::Failed(
                        "it closed the connection in the middle of its answer's head".into(),
                    )
                });
            }
        }
    }

    /// ES's answer to the worker: the head rewritten ([`wire::parse_response`]) and sent
    /// with the start of the body in one write, then the body as it comes; false when it
    /// was cut short (ES broke off, or the worker went away).
    async fn pass_answer_back(&mut self, worker: &mut TcpStream, head: ResponseHead) -> bool {
        self.from_upstream.advance(head.len);
        let mut chunked = Chunked::default();
        let mut left = match head.framing {
            Framing::Length(length) => length,
            _ => 0,
        };
        let mut head_sent = false;
        loop {
            let here = self.from_upstream.len();
            let taken = match head.framing {
                Framing::Empty => 0,
                Framing::Length(_) => left.min(here as u64) as usize,
                Framing::Chunked => match chunked.follow(&self.from_upstream) {
                    Ok(taken) => taken,
                    Err(wire::Malformed) => {
                        self.upstream = None;
                        return false;
                    }
                },
                Framing::UntilClose => here,
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
            left -= taken as u64;
            if written.is_err() {
                // The worker went away: the rest of ES's answer is never read.
                self.upstream = None;
                return false;
            }
            let done = match head.framing {
                Framing::Empty => true,
                Framing::Length(_) => left == 0,
                Framing::Chunked => chunked.done(),
                Framing::UntilClose => false,
            };
            if done {
                break;
            }
            let Some(upstream) = self.upstream.as_mut() else {
                return false;
            };
            if !read_more(upstream, &mut self.from_upstream).await {
                self.upstream = None;
                if head.framing == Framing::UntilClose {
                    break;
                }
                return false;
            }
        }
        // Bytes past the answer's end are not HTTP/1.1 any more: that connection goes.
        if head.upstream_closes || !self.from_upstream.is_empty() {
            self.upstream = None;
        }
        true
    }

    /// Reads more of the worker's request; false when the worker closed its connection.
    /// Meanwhile an idle upstream connection is watched: ES closing it (or sending what
    /// nobody asked for) drops it, so the next request opens a fresh one.
    async fn read_worker(&mut self, worker: &mut TcpStream) -> bool {
        self.from_worker.reserve(READ_ROOM);
        loop {
            let Some(upstream) = self.upstream.as_ref() else {
                return read_more(worker, &mut self.from_worker).await;
            };
            tokio::select! {
                biased;
                read = worker.read_buf(&mut self.from_worker) => return matches!(read, Ok(n) if n > 0),
                _ = upstream.readable() => {
                    let mut probe = [0u8; 1];
                    match upstream.try_read(&mut probe) {
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                        _ => self.upstream = None,
                    }
                }
            }
        }
    }
}

impl RequestHead {
    fn method_is_idempotent(&self) -> bool {
        use hyper::Method;
        [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ]
        .contains(&self.method)
    }
}

fn body_broke_off(came: u64, length: u64) -> Unsent {
    Unsent {
        failure: NotForwarded::BodyIncomplete(format!(
            "{came} of its {length} bytes came before the connection ended"
        )),
        body_read: false,
    }
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
