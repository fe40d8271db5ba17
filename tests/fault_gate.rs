//! The fault gate between a client and the ES stand-in, over real sockets: pass-through
//! changes nothing, each fault does what it says (and only to the ops it names), every
//! request is recorded, and the reference worker behind the gate sees real 429s.

mod common;

use std::time::{Duration, Instant};

use drill_cockpit::faults::{EsOp, Fault, FaultGate, Ops, Pick, line};
use testkit::es::EsStandin;

const INDEX: &str = "wordloom-test-search-index";

async fn gate() -> (EsStandin, FaultGate, reqwest::Client) {
    let es = EsStandin::start().await.unwrap();
    let gate = FaultGate::start("127.0.0.1:0".parse().unwrap(), &es.url())
        .await
        .unwrap();
    (es, gate, reqwest::Client::new())
}

async fn put(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    version: u32,
) -> reqwest::Result<reqwest::Response> {
    client
        .put(format!(
            "{base}/{INDEX}/_doc/{id}?version={version}&version_type=external"
        ))
        .json(&serde_json::json!({"text": format!("doc {id}")}))
        .send()
        .await
}

#[tokio::test]
async fn pass_through_changes_nothing() {
    let (es, gate, client) = gate().await;
    let through = put(&client, &gate.url(), "a", 1).await.unwrap();
    assert_eq!(through.status(), 201);
    let direct = put(&client, &es.url(), "b", 1).await.unwrap();
    assert_eq!(direct.status(), 201);
    // The same document read both ways is byte for byte the same answer.
    for id in ["a", "b"] {
        let via_gate = client
            .get(format!("{}/{INDEX}/_doc/{id}", gate.url()))
            .send()
            .await
            .unwrap();
        let status = via_gate.status();
        let content_type = via_gate.headers()["content-type"].clone();
        let gate_body = via_gate.bytes().await.unwrap();
        let via_es = client
            .get(format!("{}/{INDEX}/_doc/{id}", es.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(status, via_es.status());
        assert_eq!(content_type, via_es.headers()["content-type"]);
        assert_eq!(gate_body, via_es.bytes().await.unwrap());
    }
    // An ES answer that is an error passes as it is (409 on a stale version).
    let stale = put(&client, &gate.url(), "a", 1).await.unwrap();
    assert_eq!(stale.status(), 409);
    let records = gate.records();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0].op, EsOp::Upsert);
    assert_eq!(records[0].status, Some(201));
    assert!(records.iter().all(|r| r.injected.is_none()));
}

#[tokio::test]
async fn abort_hits_every_nth_request_of_its_op_only_with_retry_after() {
    let (_es, gate, client) = gate().await;
    gate.set_fault(Fault::Abort {
        status: 429,
        ops: Ops::only(EsOp::Upsert),
        pick: Pick::Nth { n: 2 },
        retry_after_seconds: Some(3),
    })
    .await
    .unwrap();
    let first = put(&client, &gate.url(), "a", 1).await.unwrap();
    assert_eq!(first.status(), 201);
    let second = put(&client, &gate.url(), "a", 2).await.unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "3");
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["error"]["type"], "es_rejected_execution_exception");
    // Deletes are not named by the fault: they pass.
    let delete = client
        .delete(format!("{}/{INDEX}/_doc/zz", gate.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    let injected: Vec<bool> = gate
        .records()
        .iter()
        .map(|r| r.injected.is_some())
        .collect();
    assert_eq!(injected, vec![false, true, false]);
    // Every record exports as a JSON line.
    let export = gate.export_jsonl();
    assert_eq!(export.lines().count(), 3);
    for line in export.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(record["path"].as_str().unwrap().contains("/_doc/"));
    }
}

/// Puts in force a latency of exactly `delay` on the next write only.
async fn delay_first_write(gate: &FaultGate, delay: Duration) {
    gate.set_fault(Fault::Latency {
        min: delay,
        max: delay,
        ops: Ops::WRITES,
        pick: Pick::First { n: 1 },
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn latency_black_hole_refuse_and_reset_do_what_they_say() {
    let (_es, gate, client) = gate().await;
    delay_first_write(&gate, Duration::from_millis(300)).await;
    let started = Instant::now();
    assert_eq!(
        put(&client, &gate.url(), "a", 1).await.unwrap().status(),
        201
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    // `First { n: 1 }`: the second write goes straight through.
    let started = Instant::now();
    assert_eq!(
        put(&client, &gate.url(), "a2", 1).await.unwrap().status(),
        201
    );
    assert!(started.elapsed() < Duration::from_millis(300));

    gate.set_fault(Fault::BlackHole { ops: Ops::WRITES })
        .await
        .unwrap();
    let held = client
        .put(format!(
            "{}/{INDEX}/_doc/b?version=1&version_type=external",
            gate.url()
        ))
        .json(&serde_json::json!({}))
        .timeout(Duration::from_millis(400))
        .send()
        .await;
    assert!(held.unwrap_err().is_timeout());

    gate.set_fault(Fault::Refuse).await.unwrap();
    let refused = put(&client, &gate.url(), "c", 1).await.unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");

    gate.set_fault(Fault::Reset { ops: Ops::WRITES })
        .await
        .unwrap();
    let reset = match put(&client, &gate.url(), "d", 1).await {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(reset.is_err(), "a reset answer must not read as complete");

    // Back to pass on the same port.
    gate.set_fault(Fault::Pass).await.unwrap();
    assert_eq!(
        put(&client, &gate.url(), "e", 1).await.unwrap().status(),
        201
    );
}

#[tokio::test]
async fn bulk_partial_rewrites_one_item_of_the_real_answer() {
    let (es, gate, client) = gate().await;
    gate.set_fault(Fault::BulkPartial {
        item: 0,
        status: 400,
    })
    .await
    .unwrap();
    let body = format!(
        "{}\n{}\n{}\n{}\n",
        serde_json::json!({"index": {"_index": INDEX, "_id": "p", "version": 1, "version_type": "external"}}),
        serde_json::json!({"text": "poison"}),
        serde_json::json!({"index": {"_index": INDEX, "_id": "g", "version": 1, "version_type": "external"}}),
        serde_json::json!({"text": "good"}),
    );
    let answer: serde_json::Value = client
        .post(format!("{}/_bulk", gate.url()))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["errors"], true);
    assert_eq!(answer["items"][0]["index"]["status"], 400);
    assert_eq!(answer["items"][1]["index"]["status"], 201);
    // The bulk was really forwarded: ES has both documents.
    assert_eq!(es.state.documents(INDEX).len(), 2);
}

#[tokio::test]
async fn the_reference_worker_behind_the_gate_retries_injected_429s() {
    let Some(rig) = common::Rig::new().await else {
        return;
    };
    let gate = FaultGate::start("127.0.0.1:0".parse().unwrap(), &rig.es.url())
        .await
        .unwrap();
    gate.set_fault(Fault::Abort {
        status: 429,
        ops: Ops::WRITES,
        pick: Pick::All,
        retry_after_seconds: None,
    })
    .await
    .unwrap();
    let worker = rig.spawn_worker("w-gate", &[("ELASTIC_URL", &gate.url())]);
    worker.wait_ready().await;
    let id = rig.insert(drill_cockpit::db::outbox::Op::Upsert, 1).await[0];
    assert!(
        common::eventually(Duration::from_secs(20), || async {
            worker
                .counter("outbox_retry_scheduled_total", Some(("reason", "es_429")))
                .await
                >= 1.0
        })
        .await,
        "{}",
        worker.log()
    );
    gate.set_fault(Fault::Pass).await.unwrap();
    assert!(
        common::eventually(Duration::from_secs(20), || async {
            rig.row(id).await.0 == "done"
        })
        .await,
        "the event did not recover once the gate passed again"
    );
    assert!(
        gate.records()
            .iter()
            .any(|r| r.injected.is_some() && r.status == Some(429))
    );
}

/// An upstream that answers every request with `302 Location: <location>` and counts
/// the requests it saw.
async fn redirecting_upstream(
    location: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn a_redirect_passes_through_unfollowed() {
    let (upstream, seen) = redirecting_upstream("/elsewhere/_doc/1").await;
    let gate = FaultGate::start("127.0.0.1:0".parse().unwrap(), &upstream)
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .get(format!("{}/{INDEX}/_doc/1", gate.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    assert_eq!(answer.headers()["location"], "/elsewhere/_doc/1");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(gate.records()[0].status, Some(302));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `drill-cockpit gate` as a user runs it: a real process in front of the stand-in, its
/// fault switched through the control API, every request in the records file.
#[tokio::test]
async fn the_standalone_gate_switches_faults_through_its_control_api_and_records_every_request() {
    let es = EsStandin::start().await.unwrap();
    let (listen, control) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records.jsonl");
    let mut gate = std::process::Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["gate", "--listen", &format!("127.0.0.1:{listen}")])
        .args(["--upstream", &es.url(), "--fault", "abort 429 on delete"])
        .args(["--control", &format!("127.0.0.1:{control}")])
        .arg("--records")
        .arg(&records)
        .env("XDG_STATE_HOME", dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let (base, api) = (
        format!("http://127.0.0.1:{listen}"),
        format!("http://127.0.0.1:{control}"),
    );
    assert!(
        common::eventually(Duration::from_secs(20), || async {
            client.get(format!("{api}/health")).send().await.is_ok()
        })
        .await,
        "the gate's control API never answered"
    );
    let fault: serde_json::Value = client
        .get(format!("{api}/fault"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fault["fault"], "abort 429 on delete");
    assert_eq!(put(&client, &base, "a", 1).await.unwrap().status(), 201);

    let switched = client
        .put(format!("{api}/fault"))
        .body("abort 503 on upsert retry-after 4")
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 200);
    let refused = put(&client, &base, "b", 1).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "4");

    // A fault that does not parse is a 400 naming the word, and changes nothing.
    let typo = client
        .put(format!("{api}/fault"))
        .body("abort 503 on upsret")
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
    let typo: serde_json::Value = typo.json().await.unwrap();
    assert!(
        typo["error"]
            .as_str()
            .unwrap()
            .contains("did you mean 'upsert'"),
        "{typo}"
    );
    assert_eq!(put(&client, &base, "c", 1).await.unwrap().status(), 503);

    assert_eq!(
        client
            .delete(format!("{api}/fault"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(put(&client, &base, "d", 1).await.unwrap().status(), 201);

    let page: serde_json::Value = client
        .get(format!("{api}/records?since=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["next"], 4);
    let statuses: Vec<u64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 503, 201]);

    // SIGTERM: the last records are written and the gate exits cleanly.
    unsafe { libc::kill(gate.id() as i32, libc::SIGTERM) };
    let status = gate.wait().unwrap();
    assert!(status.success(), "the gate exited with {status}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let paths: Vec<&str> = lines.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 4, "{lines:?}");
    assert!(paths.iter().all(|p| p.contains("/_doc/")));
    assert_eq!(lines[1]["injected"], "abort 503 on upsert, Retry-After 4");
}

/// A megabyte-sized document streams through the gate both ways unchanged.
#[tokio::test]
async fn a_large_body_streams_through_unchanged() {
    let (es, gate, client) = gate().await;
    let text: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let sent = client
        .put(format!("{}/{INDEX}/_doc/big", gate.url()))
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let via_gate = client
        .get(format!("{}/{INDEX}/_doc/big", gate.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let via_es = client
        .get(format!("{}/{INDEX}/_doc/big", es.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(via_gate.len() > 200_000);
    assert_eq!(via_gate, via_es);
}

/// A gate in front of a bare listener the test plays ES on, byte by byte.
async fn gate_before_raw_upstream() -> (tokio::net::TcpListener, FaultGate) {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gate = FaultGate::start(
        "127.0.0.1:0".parse().unwrap(),
        &format!("http://{}", upstream.local_addr().unwrap()),
    )
    .await
    .unwrap();
    (upstream, gate)
}

/// The gate's in-flight count once it reaches 0, or as it stands after 5 s: a request
/// leaves the count when its connection's task ends, a moment after the sockets close.
async fn settled_in_flight(gate: &FaultGate) -> usize {
    in_flight_once(gate, |n| n == 0).await
}

/// The gate's in-flight count once `reached` holds for it, or as it stands after 5 s.
async fn in_flight_once(gate: &FaultGate, reached: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !reached(gate.in_flight()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gate.in_flight()
}

/// Reads from `stream` into `seen` until `needle` is in it (or the peer closes).
async fn read_until(stream: &mut tokio::net::TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    while !seen.windows(needle.len()).any(|window| window == needle) {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(
            read > 0,
            "closed before {:?} came",
            String::from_utf8_lossy(needle)
        );
        seen.extend_from_slice(&buffer[..read]);
    }
}

/// A body whose length is not known in advance (chunked) is not read whole first: its
/// first chunk reaches the upstream while the worker has not yet sent the second.
#[tokio::test]
async fn a_chunked_body_streams_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (upstream, gate) = gate_before_raw_upstream().await;
    let exchange = async {
        let mut worker = tokio::net::TcpStream::connect(gate.addr()).await.unwrap();
        let first = r#"{"text":"first "#;
        worker
            .write_all(
                format!(
                    "PUT /{INDEX}/_doc/chunked HTTP/1.1\r\nhost: gate\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{first}\r\n",
                    first.len()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let (mut es, _) = upstream.accept().await.unwrap();
        let mut seen = Vec::new();
        // The first chunk arrives before the second is even written.
        read_until(&mut es, &mut seen, b"first ").await;
        worker
            .write_all(b"7\r\nsecond\"\r\n1\r\n}\r\n0\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut es, &mut seen, b"0\r\n\r\n").await;
        let seen = String::from_utf8_lossy(&seen).to_string();
        let body_start = seen.find("\r\n\r\n").unwrap() + 4;
        let decoded: String = seen[body_start..]
            .split("\r\n")
            .collect::<Vec<_>>()
            .chunks(2)
            .filter_map(|pair| pair.get(1).copied())
            .collect();
        assert_eq!(decoded, r#"{"text":"first second"}"#, "{seen}");
        es.write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            .await
            .unwrap();
        let mut answer = String::new();
        worker.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .expect("the chunked exchange stalled");
}

/// A body of known length that breaks off before its end is answered 400 by the gate
/// itself (the worker's request was incomplete; ES was never at fault), and nothing goes
/// upstream: ES never sees half a document.
#[tokio::test]
async fn a_body_that_breaks_off_never_reaches_the_upstream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (upstream, gate) = gate_before_raw_upstream().await;
    let exchange = async {
        let mut worker = tokio::net::TcpStream::connect(gate.addr()).await.unwrap();
        worker
            .write_all(
                format!(
                    "PUT /{INDEX}/_doc/half HTTP/1.1\r\nhost: gate\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"text\":"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        worker.shutdown().await.unwrap();
        let mut answer = String::new();
        worker.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .expect("no answer to a broken-off body");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("gate_request_body_incomplete"), "{answer}");
    // The gate answered after giving up on the body; a connection upstream would have
    // been opened before that answer.
    let accepted = futures::FutureExt::now_or_never(upstream.accept());
    assert!(
        accepted.is_none(),
        "the gate connected upstream for a broken-off body"
    );
    assert_eq!(gate.records().last().and_then(|r| r.status), Some(400));
}

/// A fault put in force while a worker's keep-alive connection is open applies to the
/// next request on that very connection (the pass path hands it to the full gate), and
/// the connection goes on serving once the fault is lifted.
#[tokio::test]
async fn a_fault_put_in_force_applies_to_the_next_request_on_an_open_connection() {
    let (_es, gate, _) = gate().await;
    // One connection only: every request below rides the same one.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    assert_eq!(
        put(&client, &gate.url(), "k", 1).await.unwrap().status(),
        201
    );
    gate.set_fault(line::parse("abort 429 on upsert").unwrap())
        .await
        .unwrap();
    assert_eq!(
        put(&client, &gate.url(), "k", 2).await.unwrap().status(),
        429
    );
    gate.set_fault(Fault::Pass).await.unwrap();
    // ES updates the document (200): the write went through this time.
    assert_eq!(
        put(&client, &gate.url(), "k", 2).await.unwrap().status(),
        200
    );
    let injected: Vec<bool> = gate
        .records()
        .iter()
        .map(|r| r.injected.is_some())
        .collect();
    assert_eq!(injected, vec![false, true, false]);
}

/// Reads one request (head and its `content-length` body) off a raw upstream socket;
/// `None` when the gate closed the connection.
async fn read_request(stream: &mut tokio::net::TcpStream, seen: &mut Vec<u8>) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end + 4]).to_string();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                let request = String::from_utf8_lossy(&seen[..end + 4 + length]).to_string();
                seen.drain(..end + 4 + length);
                return Some(request);
            }
        }
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        seen.extend_from_slice(&buffer[..read]);
    }
}

/// Reads the next request off a raw upstream socket and checks how it starts.
async fn expect_request(es: &mut tokio::net::TcpStream, seen: &mut Vec<u8>, start: &str) -> String {
    let request = read_request(es, seen)
        .await
        .unwrap_or_else(|| panic!("the gate closed before {start:?} came"));
    assert!(request.starts_with(start), "{request}");
    request
}

/// Answers `200 OK` with `body` on a raw upstream socket.
async fn answer_ok(es: &mut tokio::net::TcpStream, body: &str) {
    use tokio::io::AsyncWriteExt;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    es.write_all(answer.as_bytes()).await.unwrap();
}

/// Every way ES may end an answer's body reaches the worker whole, on one worker
/// connection: a chunked body sent in pieces, a HEAD's answer (a length and no body),
/// two requests sent at once (pipelined) answered in order, and last a body that ends
/// when ES closes, which the gate passes on with `connection: close`.
#[tokio::test]
async fn answers_framed_every_way_pass_through_whole() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (upstream, gate) = gate_before_raw_upstream().await;
    let es = async {
        let (mut es, _) = upstream.accept().await.unwrap();
        let mut seen = Vec::new();
        let first = expect_request(&mut es, &mut seen, "GET /chunked HTTP/1.1\r\n").await;
        assert!(
            first
                .to_ascii_lowercase()
                .contains(&format!("host: {}", upstream.local_addr().unwrap())),
            "{first}"
        );
        es.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel")
            .await
            .unwrap();
        es.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        es.write_all(b"lo\r\n6\r\n world\r\n0\r\n\r\n")
            .await
            .unwrap();
        expect_request(&mut es, &mut seen, "HEAD /doc HTTP/1.1\r\n").await;
        es.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n")
            .await
            .unwrap();
        for n in 1..=2 {
            expect_request(&mut es, &mut seen, &format!("GET /p{n} HTTP/1.1\r\n")).await;
            answer_ok(&mut es, &format!("p{n}")).await;
        }
        expect_request(&mut es, &mut seen, "GET /until-close HTTP/1.1\r\n").await;
        es.write_all(b"HTTP/1.1 200 OK\r\n\r\nall of it")
            .await
            .unwrap();
    };
    let worker = async {
        let mut worker = tokio::net::TcpStream::connect(gate.addr()).await.unwrap();
        let mut seen = Vec::new();
        worker
            .write_all(b"GET /chunked HTTP/1.1\r\nhost: gate\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut worker, &mut seen, b"0\r\n\r\n").await;
        let chunked = String::from_utf8_lossy(&seen).to_string();
        assert!(chunked.starts_with("HTTP/1.1 200 OK\r\n"), "{chunked}");
        assert!(
            chunked.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "{chunked}"
        );
        seen.clear();
        worker
            .write_all(b"HEAD /doc HTTP/1.1\r\nhost: gate\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut worker, &mut seen, b"\r\n\r\n").await;
        assert!(String::from_utf8_lossy(&seen).contains("content-length: 42"));
        seen.clear();
        worker
            .write_all(
                b"GET /p1 HTTP/1.1\r\nhost: gate\r\n\r\nGET /p2 HTTP/1.1\r\nhost: gate\r\n\r\n",
            )
            .await
            .unwrap();
        read_until(&mut worker, &mut seen, b"p2").await;
        let pipelined = String::from_utf8_lossy(&seen).to_string();
        assert!(
            pipelined.find("\r\n\r\np1").unwrap() < pipelined.find("\r\n\r\np2").unwrap(),
            "{pipelined}"
        );
        seen.clear();
        worker
            .write_all(b"GET /until-close HTTP/1.1\r\nhost: gate\r\n\r\n")
            .await
            .unwrap();
        let mut rest = String::new();
        worker.read_to_string(&mut rest).await.unwrap();
        // The HEAD's answer carried no body: nothing of it is left before this one.
        assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
        assert!(
            rest.to_ascii_lowercase().contains("connection: close"),
            "{rest}"
        );
        assert!(rest.ends_with("\r\n\r\nall of it"), "{rest}");
    };
    tokio::time::timeout(Duration::from_secs(10), futures::future::join(es, worker))
        .await
        .expect("an exchange stalled");
    let statuses: Vec<Option<u16>> = gate.records().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(200); 5]);
}

/// ES closing an idle keep-alive connection costs the worker nothing: the gate opens a
/// fresh one. When ES closes one after a request went out without answering, a request
/// that changes nothing (a GET) goes again on a fresh connection; one that may already
/// have been applied (a PUT) is answered 502 by the gate, and the worker's connection
/// goes on.
#[tokio::test]
async fn es_closing_a_kept_connection_is_absorbed_or_answered_502() {
    let (upstream, gate) = gate_before_raw_upstream().await;
    let es = async {
        // First connection: answers one request, then closes while idle.
        let (mut first, _) = upstream.accept().await.unwrap();
        let seen = &mut Vec::new();
        expect_request(&mut first, seen, "GET /one ").await;
        answer_ok(&mut first, "one").await;
        drop(first);
        // Second: answers one, then takes a GET and closes without answering.
        let (mut second, _) = upstream.accept().await.unwrap();
        let seen = &mut Vec::new();
        expect_request(&mut second, seen, "GET /two ").await;
        answer_ok(&mut second, "two").await;
        expect_request(&mut second, seen, "GET /three ").await;
        drop(second);
        // Third: the GET again, answered; then a PUT, closed on.
        let (mut third, _) = upstream.accept().await.unwrap();
        let seen = &mut Vec::new();
        expect_request(&mut third, seen, "GET /three ").await;
        answer_ok(&mut third, "three").await;
        let four = expect_request(&mut third, seen, "PUT /four ").await;
        assert!(four.ends_with("{}"), "{four}");
        drop(third);
        // Fourth: the request after the 502; the PUT never comes again.
        let (mut fourth, _) = upstream.accept().await.unwrap();
        expect_request(&mut fourth, &mut Vec::new(), "GET /five ").await;
        answer_ok(&mut fourth, "five").await;
        // Held open until the worker is done.
        std::future::pending::<()>().await;
    };
    let worker = async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let base = gate.url();
        let get = |path: &'static str| client.get(format!("{base}{path}")).send();
        assert_eq!(get("/one").await.unwrap().text().await.unwrap(), "one");
        // Whether the gate saw the idle close first or finds it sending, /two arrives.
        assert_eq!(get("/two").await.unwrap().text().await.unwrap(), "two");
        assert_eq!(get("/three").await.unwrap().text().await.unwrap(), "three");
        let put = client
            .put(format!("{base}/four"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 502);
        let body: serde_json::Value = put.json().await.unwrap();
        assert_eq!(body["error"]["type"], "gate_upstream_unreachable");
        assert!(
            body["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("closed the connection before answering"),
            "{body}"
        );
        assert_eq!(get("/five").await.unwrap().text().await.unwrap(), "five");
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            _ = es => unreachable!("the stand-in ES never finishes"),
            _ = worker => {}
        }
    })
    .await
    .expect("an exchange stalled");
    let statuses: Vec<Option<u16>> = gate.records().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![Some(200), Some(200), Some(200), Some(502), Some(200)]
    );
}

/// Every connection closed at once (the `refuse` fault) while a request waits on ES:
/// the request leaves the in-flight count with its connection, is recorded with no
/// status, and ES's side is let go.
#[tokio::test]
async fn a_request_cut_by_refuse_leaves_nothing_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (upstream, gate) = gate_before_raw_upstream().await;
    let exchange = async {
        let mut worker = tokio::net::TcpStream::connect(gate.addr()).await.unwrap();
        worker
            .write_all(b"PUT /slow HTTP/1.1\r\nhost: gate\r\ncontent-length: 2\r\n\r\n{}")
            .await
            .unwrap();
        let (mut es, _) = upstream.accept().await.unwrap();
        let mut seen = Vec::new();
        read_request(&mut es, &mut seen).await.unwrap();
        assert_eq!(gate.in_flight(), 1, "the request waits on ES");
        gate.set_fault(line::parse("refuse").unwrap())
            .await
            .unwrap();
        // Both of the gate's sides close: the worker's and ES's.
        let mut rest = [0u8; 1];
        let read = worker.read(&mut rest).await;
        assert!(matches!(read, Ok(0) | Err(_)), "worker side: {read:?}");
        let read = es.read(&mut rest).await;
        assert!(matches!(read, Ok(0) | Err(_)), "ES side: {read:?}");
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("refuse closes the connection within 10 s");
    assert_eq!(
        settled_in_flight(&gate).await,
        0,
        "the cut request is not counted any more"
    );
    let records = gate.records();
    let last = records.last().expect("the cut request is recorded");
    assert_eq!(
        (last.path.as_str(), last.status),
        ("/slow", None),
        "recorded with no status: the worker got none"
    );
}

/// A worker that gives up while ES has not answered lets the gate give up too: ES's
/// connection is closed, nothing is left in flight, and the request is recorded with no
/// status (the worker got none). So with a bodiless request and with one whose large
/// body the gate still holds, and on the full gate too (a fault in force that does not
/// hit the request).
#[tokio::test]
async fn a_worker_that_leaves_while_es_is_silent_releases_es() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for (body, fault_in_force) in [(0usize, false), (200_000, false), (0, true)] {
        let (upstream, gate) = gate_before_raw_upstream().await;
        if fault_in_force {
            gate.set_fault(line::parse("abort 503 on delete").unwrap())
                .await
                .unwrap();
        }
        let exchange = async {
            let mut worker = tokio::net::TcpStream::connect(gate.addr()).await.unwrap();
            let mut request =
                format!("PUT /slow HTTP/1.1\r\nhost: gate\r\ncontent-length: {body}\r\n\r\n")
                    .into_bytes();
            request.resize(request.len() + body, b'x');
            worker.write_all(&request).await.unwrap();
            let (mut es, _) = upstream.accept().await.unwrap();
            let mut seen = Vec::new();
            read_request(&mut es, &mut seen).await.unwrap();
            assert_eq!(gate.in_flight(), 1);
            drop(worker);
            // ES never answers; the gate closes its side once the worker is gone.
            let mut rest = [0u8; 1];
            let read = es.read(&mut rest).await;
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .unwrap_or_else(|_| {
                panic!("the gate held on to ES after the worker left ({body} B, fault {fault_in_force})")
            });
        assert_eq!(settled_in_flight(&gate).await, 0, "{body} B");
        assert_eq!(
            gate.records().last().map(|r| r.status),
            Some(None),
            "{body} B"
        );
    }
}

/// A drill's gate serves every connection on one thread (`DRILL_LANES`): a write it
/// holds (stuck_reclaim holds worker 1's first write while worker 2 must get through)
/// holds only its own connection. The second write, on another connection, is answered
/// while the first is still held, and the first still ends when its delay does.
#[tokio::test]
async fn a_held_write_holds_only_its_own_connection() {
    assert_eq!(drill_cockpit::faults::gate::DRILL_LANES, 1);
    let (_es, gate, first_client) = gate().await;
    delay_first_write(&gate, Duration::from_secs(3)).await;
    let url = gate.url();
    let held = tokio::spawn(async move {
        let started = Instant::now();
        let status = put(&first_client, &url, "held", 1).await.unwrap().status();
        (status, started.elapsed())
    });
    assert_eq!(
        in_flight_once(&gate, |n| n > 0).await,
        1,
        "the first write never reached the gate"
    );
    let other_client = reqwest::Client::new();
    let started = Instant::now();
    let through = put(&other_client, &gate.url(), "through", 1).await.unwrap();
    assert_eq!(through.status(), 201);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the second write waited {:?} behind the held one",
        started.elapsed()
    );
    assert!(!held.is_finished(), "the held write was not held");
    let (status, took) = held.await.unwrap();
    assert_eq!(status, 201);
    assert!(took >= Duration::from_secs(3), "{took:?}");
}
