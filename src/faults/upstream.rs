//! The gate's connection to its upstream, one per worker connection: HTTP/1.1 serves one
//! request at a time on a connection, so a worker connection never needs two upstream
//! connections, and pairing them (as haproxy's `http-reuse` does) saves a pool's
//! checkout, locks and wake-ups on every request. The pair lives on one lane
//! ([`super::lanes`]), the upstream connection's driver a task beside the worker's.

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HOST, HeaderValue};
use hyper::http::uri::Authority;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Where the upstream is: parsed once for the gate, shared by every connection.
#[derive(Debug, Clone)]
pub struct UpstreamAddress {
    pub authority: Authority,
    /// The `host` header each forwarded request carries (the upstream's own).
    pub host: HeaderValue,
}

impl UpstreamAddress {
    pub fn new(authority: Authority) -> UpstreamAddress {
        // Host and port only: never a `user:password@` the URL may carry.
        let shown = match authority.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_string(),
        };
        let host =
            HeaderValue::from_str(&shown).unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        UpstreamAddress { authority, host }
    }

    /// `host:port`, for messages (never the URL's credentials).
    pub(super) fn shown(&self) -> &str {
        self.host.to_str().unwrap_or("the upstream")
    }

    fn host_and_port(&self) -> (&str, u16) {
        (
            self.authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']'),
            self.authority.port_u16().unwrap_or(80),
        )
    }
}

/// One worker connection's upstream connection, opened on first use and again whenever
/// the upstream closed it.
#[derive(Default)]
pub struct UpstreamConnection {
    sender: Option<SendRequest<UpstreamBody>>,
}

/// A request body as it goes upstream: a small one whole, a larger one streamed.
pub type UpstreamBody = Either<Full<Bytes>, Incoming>;

/// Bodies up to this size (a document, a small `_bulk`) are read whole before the
/// request goes on: the upstream connection then writes head and body at once instead
/// of polling the worker connection's body channel across tasks (the gate spent more
/// user CPU per PUT than haproxy; `scripts/bench-gate --put`, docs/PERFORMANCE.md).
/// A body that breaks off is then never half sent. Larger ones stream as they come.
const WHOLE_BODY_MAX: u64 = 64 * 1024;

/// `request` with its body whole when it is small and its length known in advance; the
/// error when the worker's body broke off before its end.
pub async fn with_body_ready(
    request: Request<Incoming>,
) -> Result<Request<UpstreamBody>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = match body.size_hint().exact() {
        Some(length) if length <= WHOLE_BODY_MAX => {
            Either::Left(Full::new(body.collect().await?.to_bytes()))
        }
        _ => Either::Right(body),
    };
    Ok(Request::from_parts(parts, body))
}

impl UpstreamConnection {
    /// Sends `request` (origin-form URI, hop-by-hop headers already gone, its body made
    /// ready by [`with_body_ready`]) and returns the answer with its body still
    /// streaming. A request the upstream closed the idle connection under before it was
    /// sent goes again on a fresh connection, once.
    pub async fn send(
        &mut self,
        address: &UpstreamAddress,
        mut request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, String> {
        request.headers_mut().insert(HOST, address.host.clone());
        for attempt in 0..2 {
            let sender = match self.sender.as_mut() {
                Some(sender) if !sender.is_closed() => sender,
                _ => self.sender.insert(connect(address).await?),
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(answer) => return Ok(answer),
                Err(mut error) => {
                    self.sender = None;
                    match error.take_message() {
                        Some(unsent) if attempt == 0 => request = unsent,
                        _ => return Err(crate::sources::metrics::error_chain(error.error())),
                    }
                }
            }
        }
        Err(format!(
            "the upstream {} closed two connections in a row before a request went out",
            address.shown()
        ))
    }
}

/// A fresh connection to the upstream, with Nagle off (a request goes in one write).
pub(super) async fn open(address: &UpstreamAddress) -> Result<tokio::net::TcpStream, String> {
    let stream = tokio::net::TcpStream::connect(address.host_and_port())
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", address.shown()))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn connect(address: &UpstreamAddress) -> Result<SendRequest<UpstreamBody>, String> {
    let stream = open(address).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{}: {e}", address.shown()))?;
    // The connection's own driver, on this lane; it ends when the sender is dropped or
    // the upstream closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_is_host_and_port_without_credentials() {
        let address = UpstreamAddress::new("user:secret@es.local:9200".parse().unwrap());
        assert_eq!(address.host, "es.local:9200");
        let address = UpstreamAddress::new("127.0.0.1:9200".parse().unwrap());
        assert_eq!(address.host, "127.0.0.1:9200");
    }
}
