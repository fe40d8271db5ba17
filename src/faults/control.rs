//! The standalone gate's control API (like Toxiproxy's): a small local HTTP server
//! through which a script switches the fault at run time and reads what went through.
//!
//! | request | answer |
//! |---|---|
//! | `GET /health` | `{"ok": true, "listen": …, "upstream": …}` |
//! | `GET /fault` | `{"fault": "<one line>", "describe": "<words>"}` |
//! | `PUT /fault` (or `POST`), body: one line, e.g. `abort 429 on bulk` | the new fault, as `GET` |
//! | `DELETE /fault` | back to `pass`, as `GET` |
//! | `GET /records?since=N` | `{"records": […], "next": M, "missed": K}` |
//!
//! A body may also be JSON, `{"fault": "abort 503"}`. A fault that does not parse is a
//! 400 whose `error` names the wrong word; the fault in force is then unchanged.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::gate::FaultGate;
use super::line;

/// A fault line is short; a body beyond this is refused rather than read.
const BODY_LIMIT: usize = 16 * 1024;

/// Serves the control API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, gate: Arc<FaultGate>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let gate = gate.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let gate = gate.clone();
                async move { Ok::<_, Infallible>(answer(&gate, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The control API's address in words for the banner, with a warning when it is open
/// beyond this machine (whoever reaches it can switch the fault).
pub fn describe(addr: SocketAddr) -> String {
    if addr.ip().is_loopback() {
        format!("http://{addr}")
    } else {
        format!(
            "http://{addr} (reachable from other hosts: anyone who can connect can change the fault)"
        )
    }
}

async fn answer(gate: &FaultGate, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/health") => reply(
            StatusCode::OK,
            json!({"ok": true, "listen": gate.url(), "upstream": gate.upstream()}),
        ),
        (Method::GET, "/fault") => reply(StatusCode::OK, fault_json(gate)),
        (Method::PUT | Method::POST, "/fault") => {
            let body = match Limited::new(request.into_body(), BODY_LIMIT)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the fault must be one line under {BODY_LIMIT} bytes"),
                    );
                }
            };
            let text = match fault_text(&body) {
                Ok(text) => text,
                Err(message) => return error(StatusCode::BAD_REQUEST, message),
            };
            match line::parse(&text) {
                Ok(fault) => match gate.set_fault(fault).await {
                    Ok(()) => reply(StatusCode::OK, fault_json(gate)),
                    Err(e) => error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("the gate could not listen again on {}: {e}", gate.addr()),
                    ),
                },
                Err(message) => error(StatusCode::BAD_REQUEST, message),
            }
        }
        (Method::DELETE, "/fault") => match gate.set_fault(super::Fault::Pass).await {
            Ok(()) => reply(StatusCode::OK, fault_json(gate)),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the gate could not listen again on {}: {e}", gate.addr()),
            ),
        },
        (Method::GET, "/records") => {
            let since = match since(&query) {
                Ok(since) => since,
                Err(message) => return error(StatusCode::BAD_REQUEST, message),
            };
            let (records, next, missed) = gate.records_since(since);
            reply(
                StatusCode::OK,
                json!({"records": records, "next": next, "missed": missed}),
            )
        }
        (_, "/health" | "/fault" | "/records") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} {path} is not served: see GET /health, GET|PUT|DELETE /fault, GET /records?since=N",
                request.method()
            ),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            format!(
                "no {path} here: the control API has GET /health, GET|PUT|DELETE /fault, GET /records?since=N"
            ),
        ),
    }
}

fn fault_json(gate: &FaultGate) -> Value {
    let fault = gate.fault();
    json!({"fault": line::to_line(&fault), "describe": fault.describe()})
}

/// The fault's line from a body: the text itself, or JSON `{"fault": "…"}`.
fn fault_text(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| {
            "the body is not UTF-8 text: send the fault as one line, e.g. abort 429".to_string()
        })?
        .trim();
    if text.starts_with('{') {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("the body looks like JSON but is not: {e}"))?;
        return value
            .get("fault")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                "a JSON body needs a string \"fault\", e.g. {\"fault\": \"abort 429\"}".into()
            });
    }
    Ok(text.to_string())
}

fn since(query: &str) -> Result<u64, String> {
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("since=") {
            return value.parse().map_err(|_| {
                format!("since={value} is not a record number: use since=0 for every record")
            });
        }
    }
    Ok(0)
}

fn reply(status: StatusCode, value: Value) -> Response<Full<Bytes>> {
    let mut body = value.to_string();
    body.push('\n');
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    reply(status, json!({"error": message}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_comes_as_text_or_as_json() {
        assert_eq!(fault_text(b" abort 429\n").unwrap(), "abort 429");
        assert_eq!(
            fault_text(br#"{"fault": "latency 200ms"}"#).unwrap(),
            "latency 200ms"
        );
        assert!(
            fault_text(br#"{"kind": "abort"}"#)
                .unwrap_err()
                .contains("\"fault\"")
        );
        assert!(fault_text(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn since_defaults_to_every_record_and_refuses_words() {
        assert_eq!(since(""), Ok(0));
        assert_eq!(since("since=42"), Ok(42));
        assert!(since("since=soon").unwrap_err().contains("since=soon"));
    }
}
