//! The pass path's framing per request (`cargo bench --bench gate_wire`): the head of a
//! worker's PUT of one document (as the reference worker's reqwest client writes it)
//! read and rewritten for ES, and ES's answer head read and rewritten for the worker.
//! The time is per call in a warm cache; under a worker's load the gate runs it in a
//! cold one (docs/PERFORMANCE.md, "Fault gate overhead").
//!
//! Under `cargo test` (no `--bench`) each runs a few times as a smoke test.

use std::time::Instant;

use drill_cockpit::faults::wire::{Answer, Parsed, parse_request, parse_response};
use hyper::Method;

const REQUEST: &[u8] = b"PUT /outbox_search/_doc/9f3b2c1e-5a47-4d2b-8e0f-3c6a1b2d4e5f?version=7&version_type=external HTTP/1.1\r\ncontent-type: application/json\r\naccept: */*\r\nhost: 127.0.0.1:40123\r\ncontent-length: 187\r\n\r\n";

/// What ES 8 answers a created document (headers as it sends them).
const ANSWER: &[u8] = b"HTTP/1.1 201 Created\r\nLocation: /outbox_search/_doc/9f3b2c1e-5a47-4d2b-8e0f-3c6a1b2d4e5f\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\ncontent-length: 213\r\n\r\n";

/// The median over `runs` of the time per call of `f`, each run `calls` calls, in ns.
fn median_ns(runs: usize, calls: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                f();
            }
            started.elapsed().as_secs_f64() * 1e9 / calls as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (runs, calls) = if bench { (101, 10_000) } else { (3, 10) };
    let mut upstream_head = Vec::with_capacity(1024);
    let request = median_ns(runs, calls, || {
        let parsed = parse_request(
            std::hint::black_box(REQUEST),
            b"127.0.0.1:9200",
            &mut upstream_head,
        );
        assert!(matches!(parsed, Parsed::Complete(ref head) if head.content_length == 187));
        std::hint::black_box(parsed);
    });
    let mut worker_head = Vec::with_capacity(1024);
    let answer = median_ns(runs, calls, || {
        let parsed = parse_response(
            std::hint::black_box(ANSWER),
            &Method::PUT,
            false,
            &mut worker_head,
        );
        assert!(matches!(parsed, Parsed::Complete(Answer::Final(ref head)) if head.status == 201));
        std::hint::black_box(parsed);
    });
    println!(
        "worker's PUT head ({} B) read and rewritten: {request:.0} ns; ES's answer head ({} B): {answer:.0} ns (median of {runs} runs of {calls} calls)",
        REQUEST.len(),
        ANSWER.len()
    );
}
