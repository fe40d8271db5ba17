//! The `/metrics` scrape path before and after `prometheus-parse`
//! (`cargo bench --bench scrape`): the page of upstream's es_down_connect run (the
//! Python worker's, 136 lines) and a page of 5 000 series, each
//! - parsed by the hand-written reader alone (`prom::parse_line`, the path before),
//! - parsed by `Samples::parse` (the crate's line split, our label reader; the path
//!   now),
//! - fetched over loopback HTTP and parsed (`sources::metrics::scrape`, the whole path).
//!
//! Under `cargo test` (no `--bench`) each runs a few times as a smoke test.

use std::time::Instant;

use drill_cockpit::prom::{Samples, parse_line};

/// The median of `runs` timings of `f`, in microseconds.
fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn big_page() -> String {
    let mut text = String::from("# TYPE outbox_retry_scheduled_total counter\n");
    for n in 0..5_000 {
        text.push_str(&format!(
            "outbox_retry_scheduled_total{{op=\"delete\",projection=\"search_index_to_elastic\",reason=\"r{n}\"}} {n}.0\n"
        ));
    }
    text
}

/// Serves `page` on loopback as `/metrics` (HTTP/1.1, one response per connection).
async fn serve(page: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    page.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(page.as_bytes()).await;
            });
        }
    });
    url
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let runs = if bench { 2_000 } else { 3 };
    let fixture = testkit::env::fixtures_dir()
        .join("upstream-run-es_down_connect/_metrics/metrics-after.txt");
    let upstream = std::fs::read_to_string(&fixture)
        .unwrap_or_else(|e| panic!("{}: {e} (set DRILL_SHARED_DIR)", fixture.display()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (name, page, runs) in [
        ("upstream page (136 lines)", upstream, runs),
        ("5 000 series", big_page(), runs / 20 + 1),
    ] {
        let by_hand = median_us(runs, || {
            let samples: Vec<_> = page.lines().filter_map(parse_line).collect();
            assert!(!samples.is_empty());
        });
        let now = median_us(runs, || {
            let samples = Samples::parse(&page).unwrap();
            assert!(!samples.samples.is_empty());
        });
        let url = runtime.block_on(serve(page.clone()));
        let http = drill_cockpit::sources::metrics::client();
        let scraped = median_us(runs, || {
            let scrape = runtime
                .block_on(drill_cockpit::sources::metrics::scrape(&http, &url))
                .unwrap();
            assert_eq!(scrape.raw.len(), page.len());
        });
        println!(
            "{name}: parse by hand {by_hand:.1} µs, parse with prometheus-parse {now:.1} µs ({:.2}×), whole scrape over loopback {scraped:.1} µs (median of {runs})",
            now / by_hand
        );
    }
}
