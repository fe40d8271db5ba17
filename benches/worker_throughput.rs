//! Worker throughput benchmark (run by `scripts/bench`, which provisions Postgres).
//!
//! Measures, on this machine: the ES stand-in's own capacity; the Postgres ceiling
//! (claim + fenced finalize with no ES call); claim latency p50/p99; and the release
//! worker binary end to end against the stand-in for batch sizes 1/100/500, bulk
//! off/on, 1 and 2 workers, from a fresh backlog and with 50 000 done rows present.
//! Prints a Markdown table for docs/PERFORMANCE.md.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use testkit::es::EsStandin;
use testkit::pg::Schema;

const INDEX: &str = "wordloom-test-search-index";

/// A fresh database with our migrations, or built the way upstream's leave it.
async fn fresh_pool(schema: Schema) -> (String, PgPool) {
    let db = testkit::pg::fresh_database()
        .await
        .expect("run through scripts/bench (needs DRILL_TEST_PG_ADMIN_URL)");
    if schema == Schema::Upstream {
        testkit::pg::apply_upstream_schema(&db.url).await;
    }
    let pool = drill_cockpit::db::connect_url(&db.url, "bench", 8)
        .await
        .expect("connect");
    if schema == Schema::Ours {
        drill_cockpit::db::migrate::apply(&pool)
            .await
            .expect("migrate");
    }
    (db.url, pool)
}

/// Inserts `count` upsert events with their search_index rows in one statement.
async fn seed(pool: &PgPool, count: i64, status: &str) {
    sqlx::query(
        "WITH e AS (SELECT gen_random_uuid() AS entity_id FROM generate_series(1, $1)),
              si AS (INSERT INTO search_index (id, entity_type, entity_id, text, snippet, rank_score, event_version, created_at, updated_at)
                     SELECT gen_random_uuid(), 'block', entity_id, 'bench document ' || entity_id, 'v1', 1, 1, now(), now() FROM e RETURNING entity_id)
         INSERT INTO search_outbox_events (id, entity_type, entity_id, op, event_version, status, attempts, replay_count, created_at, updated_at, processed_at)
         SELECT gen_random_uuid(), 'block', entity_id, 'upsert', 1, $2, 0, 0, now(), now(), CASE WHEN $2 = 'done' THEN now() END FROM si",
    )
    .bind(count)
    .bind(status)
    .execute(pool)
    .await
    .expect("seed");
}

/// Fresh statistics for the claim's plan after a seed.
async fn analyze(pool: &PgPool) {
    sqlx::query("ANALYZE search_outbox_events")
        .execute(pool)
        .await
        .expect("analyze");
}

/// Whether any event is still pending or processing. `EXISTS` stops at the first such
/// row, through our partial claim indexes or upstream's index on `status`: a
/// `count(*)` scanned the table (5 ms for 30 000 rows), and asked every 10 ms it took
/// about a third of a core from the run it was timing.
async fn unfinished(pool: &PgPool) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM search_outbox_events WHERE status = 'pending')
             OR EXISTS (SELECT 1 FROM search_outbox_events WHERE status = 'processing')",
    )
    .fetch_one(pool)
    .await
    .unwrap_or_else(|error| panic!("asking whether the run has drained failed: {error}"))
}

/// The events this run's worker finalized as done, and the seconds from its first
/// claim to its last finalize, both stamped by Postgres (`processing_started_at` at
/// the claim, which finalizing keeps; `processed_at` at the finalize): the run's span
/// to the millisecond in one clock, however seldom the bench asks whether it has ended,
/// and without the worker's own start-up.
async fn claimed_span(pool: &PgPool) -> (i64, Option<f64>) {
    sqlx::query_as::<_, (i64, Option<f64>)>(
        "SELECT count(*) FILTER (WHERE status = 'done'),
                extract(epoch FROM max(processed_at) - min(processing_started_at))::float8
           FROM search_outbox_events WHERE processing_started_at IS NOT NULL",
    )
    .fetch_one(pool)
    .await
    .unwrap_or_else(|error| panic!("reading the run's span failed: {error}"))
}

/// A worker process and the port its `/metrics` listens on (bound once its database
/// pool has connected, a little before its claim loops start).
struct Worker {
    child: Child,
    metrics_port: u16,
}

/// Stopped when dropped, so a run that fails an assertion leaves no worker behind.
impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_worker(database_url: &str, es_url: &str, id: &str, batch: u32, bulk: bool) -> Worker {
    let metrics_port = testkit::docker::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .arg("worker")
        .env("WORDLOOM_ENV", "bench")
        .env("DATABASE_URL", database_url)
        .env("WORDLOOM_TRACING_ENABLED", "0")
        .env("ELASTIC_URL", es_url)
        .env("ELASTIC_INDEX", INDEX)
        .env("OUTBOX_WORKER_ID", id)
        .env("OUTBOX_METRICS_PORT", metrics_port.to_string())
        .env("OUTBOX_HTTP_PORT", testkit::docker::free_port().to_string())
        .env("OUTBOX_BATCH_SIZE", batch.to_string())
        .env("OUTBOX_USE_ES_BULK", if bulk { "1" } else { "0" })
        .env("OUTBOX_POLL_INTERVAL_MS", "5")
        .env("OUTBOX_CONCURRENCY", "32")
        .env("LOG_LEVEL", "WARNING")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn worker");
    Worker {
        child,
        metrics_port,
    }
}

struct Run {
    batch: u32,
    bulk: bool,
    workers: usize,
    done_rows: i64,
    schema: Schema,
    /// No autovacuum on the outbox and a checkpoint before the clock starts: the
    /// database's background work, which lands in one run and not the next, kept out
    /// of a comparison between runs.
    quiet_database: bool,
}

async fn end_to_end(es: &EsStandin, run: &Run, events: i64) -> f64 {
    end_to_end_via(&es.url(), run, events).await
}

/// The same run with the worker's `ELASTIC_URL` set to `elastic_url` (ES or a gate).
async fn end_to_end_via(elastic_url: &str, run: &Run, events: i64) -> f64 {
    let (url, pool) = fresh_pool(run.schema).await;
    if run.done_rows > 0 {
        seed(&pool, run.done_rows, "done").await;
        analyze(&pool).await;
    }
    if run.quiet_database {
        for statement in [
            "ALTER TABLE search_outbox_events SET (autovacuum_enabled = off)",
            "ALTER TABLE search_index SET (autovacuum_enabled = off)",
        ] {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .expect("autovacuum off");
        }
    }
    // The backlog is in place, with fresh statistics, before any worker starts: the
    // worker's first claims are planned on the same statistics in every run (seeded
    // while the worker ran, its first claims raced the ANALYZE, and runs differed by
    // which won).
    seed(&pool, events, "pending").await;
    analyze(&pool).await;
    if run.quiet_database {
        sqlx::query("CHECKPOINT")
            .execute(&pool)
            .await
            .expect("checkpoint");
    }
    let workers: Vec<Worker> = (0..run.workers)
        .map(|i| {
            spawn_worker(
                &url,
                elastic_url,
                &format!("w-bench-{i}"),
                run.batch,
                run.bulk,
            )
        })
        .collect();
    let ports: Vec<u16> = workers.iter().map(|w| w.metrics_port).collect();
    assert!(
        first_listening(&ports, Duration::from_secs(30)).await,
        "no worker's /metrics (ports {ports:?}) answered within 30 s: the worker did not start"
    );
    let started = Instant::now();
    while unfinished(&pool).await {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run did not drain within 120 s: {} of {events} events done",
            claimed_span(&pool).await.0
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (done, span) = claimed_span(&pool).await;
    assert_eq!(done, events, "every event of the run should be done");
    let seconds = span
        .filter(|seconds| *seconds > 0.0)
        .unwrap_or_else(|| panic!("the run's span from Postgres is {span:?}: no claim stamped"));
    drop(workers);
    events as f64 / seconds
}

/// Waits until something accepts connections on 127.0.0.1 at one of `ports` (a
/// worker's `/metrics`, bound once its pool has connected), asking every millisecond,
/// up to `timeout`; whether one did.
async fn first_listening(ports: &[u16], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for &port in ports {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

/// Postgres alone: claim + fenced finalize, no ES call.
async fn postgres_ceiling(batch: u32, loops: usize) -> (f64, Vec<Duration>) {
    let (_, pool) = fresh_pool(Schema::Ours).await;
    let events: i64 = if batch == 1 { 5_000 } else { 30_000 };
    seed(&pool, events, "pending").await;
    analyze(&pool).await;
    let started = Instant::now();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..loops {
        let pool = pool.clone();
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("ceiling-{i}");
            loop {
                let claim_started = Instant::now();
                let claimed = drill_cockpit::worker::store::claim(
                    &pool,
                    &owner,
                    batch,
                    Duration::from_secs(30),
                )
                .await
                .expect("claim");
                latencies.lock().unwrap().push(claim_started.elapsed());
                if claimed.is_empty() {
                    break;
                }
                let tokens: Vec<_> = claimed.iter().map(|e| e.token()).collect();
                drill_cockpit::worker::store::finish_done(&pool, &owner, &tokens)
                    .await
                    .expect("finish");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    let latencies = latencies.lock().unwrap().clone();
    (rate, latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn standin_capacity(es: &EsStandin) -> (f64, f64) {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let client = client.clone();
        let base = es.url();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                let url =
                    format!("{base}/cap/_doc/{worker}-{done}?version=1&version_type=external");
                if client
                    .put(url)
                    .json(&json!({"text": "x"}))
                    .send()
                    .await
                    .is_ok()
                {
                    done += 1;
                }
            }
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let single = total as f64 / 3.0;

    let mut body = String::new();
    for i in 0..500 {
        body.push_str(&format!(
            "{{\"index\":{{\"_index\":\"cap\",\"_id\":\"b{i}\"}}}}\n{{\"text\":\"x\"}}\n"
        ));
    }
    let started = Instant::now();
    let mut items = 0;
    while started.elapsed() < Duration::from_secs(3) {
        client
            .post(format!("{}/_bulk", es.url()))
            .header("content-type", "application/x-ndjson")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        items += 500;
    }
    (single, items as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs this without `--bench`: one small end-to-end run.
        if std::env::var("DRILL_TEST_PG_ADMIN_URL").is_ok() {
            let es = EsStandin::start().await.expect("stand-in");
            let rate = end_to_end(
                &es,
                &Run {
                    batch: 100,
                    bulk: true,
                    workers: 1,
                    done_rows: 0,
                    schema: Schema::Ours,
                    quiet_database: false,
                },
                2_000,
            )
            .await;
            // end_to_end asserts that every event was done and that Postgres stamped a span.
            println!(
                "smoke: 2 000 events at {rate:.0} events/s (debug build; run `scripts/bench` for figures)"
            );
        }
        return;
    }
    let es = EsStandin::start().await.expect("stand-in");
    // BENCH_SCHEMAS=1 runs only the comparison of our schema with upstream's;
    // BENCH_GATE=1 only the fault gate's overhead.
    let schemas_only = std::env::var("BENCH_SCHEMAS").is_ok();
    let gate_only = std::env::var("BENCH_GATE").is_ok();
    let only = std::env::var("BENCH_ONLY").ok();
    if !schemas_only && !gate_only {
        own_schema_tables(&es, only.as_deref()).await;
    }
    if !gate_only {
        schema_comparison(&es, only.as_deref()).await;
    }
    if !schemas_only {
        gate_overhead(&es, only.as_deref()).await;
    }
}

/// The fault gate in pass-through: the worker's events/s through it against direct, and
/// the latency it adds to one request.
async fn gate_overhead(es: &EsStandin, only: Option<&str>) {
    // BENCH_GATE_THREADS: the gate's lanes (default as drills run it, DRILL_LANES; the
    // standalone gate's one per core is BENCH_GATE_THREADS=<cores>).
    let threads =
        env_number("BENCH_GATE_THREADS").unwrap_or(drill_cockpit::faults::gate::DRILL_LANES);
    let gate = drill_cockpit::faults::FaultGate::start_with_threads(
        "127.0.0.1:0".parse().unwrap(),
        &es.url(),
        Some(threads),
    )
    .await
    .expect("gate");
    // The same hop through haproxy, when it is installed: what a second HTTP hop costs
    // on this machine whoever makes it (the gate's own cost is the difference). And
    // through a byte relay that parses nothing: a reference hop, no HTTP work at all.
    let haproxy = Haproxy::start(&es.url());
    let relay = start_byte_relay(&es.url());
    // BENCH_GATE_TRIALS=0: only the sequential latency table.
    let trials = env_number("BENCH_GATE_TRIALS").unwrap_or(5);
    let mut arms = vec![
        Arm::new("direct", es.url(), HopCpu::None),
        Arm::new("gate", gate.url(), HopCpu::Threads(GATE_THREADS)),
    ];
    // BENCH_GATE_ALSO_LANES=N: a second gate with N lanes as one more arm, to compare
    // lane counts within the same trials.
    let other_gate = match env_number("BENCH_GATE_ALSO_LANES") {
        Some(lanes) => Some((
            lanes,
            drill_cockpit::faults::FaultGate::start_with_threads(
                "127.0.0.1:0".parse().unwrap(),
                &es.url(),
                Some(lanes),
            )
            .await
            .expect("second gate"),
        )),
        None => None,
    };
    if let Some((lanes, other)) = &other_gate {
        arms.push(Arm::new(
            &format!("gate {lanes} lanes"),
            other.url(),
            HopCpu::Threads(GATE_THREADS),
        ));
    }
    if let Some(haproxy) = &haproxy {
        arms.push(Arm::new(
            "haproxy",
            haproxy.url.clone(),
            HopCpu::Process(haproxy.child.id()),
        ));
    }
    arms.push(Arm::new("byte relay", relay, HopCpu::Threads(RELAY_THREAD)));
    // BENCH_GATE_ARMS=gate or gate,byte relay: direct and those arms alone (by the name
    // the table prints). With two arms a gate trial runs right beside its direct one,
    // so a change in the machine's speed between them is smaller than across a
    // trial of four or five arms.
    if let Ok(kept) = std::env::var("BENCH_GATE_ARMS") {
        let kept: Vec<&str> = kept.split(',').map(str::trim).collect();
        let names: Vec<String> = arms.iter().map(|arm| arm.name.clone()).collect();
        for name in &kept {
            assert!(
                names.iter().any(|arm| arm == name),
                "BENCH_GATE_ARMS names {name:?}, which is no arm of this run: the arms are {names:?}"
            );
        }
        arms.retain(|arm| arm.name == "direct" || kept.contains(&arm.name.as_str()));
    }
    println!(
        "\n## Fault gate overhead (pass-through; {trials} trials, arms interleaved, gate lanes: {threads})\n"
    );
    // BENCH_ONLY=100:off:1 or 500:on:1: that run alone.
    let throughput_runs = [(100u32, false), (500, true)]
        .into_iter()
        .filter(|&(batch, bulk)| {
            let key = format!("{batch}:{}:1", if bulk { "on" } else { "off" });
            trials > 0 && only.is_none_or(|only| only == key)
        });
    for (batch, bulk) in throughput_runs {
        let run = Run {
            batch,
            bulk,
            workers: 1,
            done_rows: 0,
            schema: Schema::Ours,
            quiet_database: true,
        };
        // rates[arm][trial]; each trial runs every arm once, starting one arm further on
        // than the trial before, so no arm always runs first (the rotation keeps each
        // arm's neighbours; the paired ratios compare arms of the same trial).
        // BENCH_GATE_EVENTS: events per arm and trial (longer trials average out more
        // of a noisy machine's stalls).
        let events = env_number("BENCH_GATE_EVENTS").unwrap_or(30_000) as i64;
        assert!(
            events > 0,
            "BENCH_GATE_EVENTS=0: a trial needs events to time"
        );
        let mut rates = vec![Vec::with_capacity(trials); arms.len()];
        let mut hop_cpu = vec![Vec::with_capacity(trials); arms.len()];
        let mut hop_user_ticks = vec![0u64; arms.len()];
        for trial in 0..trials {
            for step in 0..arms.len() {
                let arm = (trial + step) % arms.len();
                let before = arms[arm].cpu.sample();
                rates[arm].push(end_to_end_via(&arms[arm].url, &run, events).await);
                // A hop thread that ended between the two samples takes its time with
                // it: that trial has no CPU figure rather than a wrong one.
                if let (Some(before), Some(after)) = (before, arms[arm].cpu.sample())
                    && let Some(user_ticks) = after.user_ticks.checked_sub(before.user_ticks)
                    && after.seconds >= before.seconds
                {
                    hop_cpu[arm].push((after.seconds - before.seconds) * 1e6 / events as f64);
                    hop_user_ticks[arm] += user_ticks;
                }
            }
        }
        println!(
            "batch {batch}, bulk {}:\n\n| arm | events/s median (min–max) | / direct, median of paired trials (min–max) | the hop's CPU per event, median (min–max) | of which user space, over all trials |\n|---|---|---|---|---|",
            if bulk { "on" } else { "off" }
        );
        // Each arm's rate over direct's in the same trial.
        let paired_ratios: Vec<Vec<f64>> = rates
            .iter()
            .map(|arm_rates| {
                arm_rates
                    .iter()
                    .zip(&rates[0])
                    .map(|(rate, direct)| 100.0 * rate / direct)
                    .collect()
            })
            .collect();
        for (arm, Arm { name, .. }) in arms.iter().enumerate() {
            let (median, low, high) = spread(&rates[arm]);
            let (ratio, ratio_low, ratio_high) = spread(&paired_ratios[arm]);
            let (cpu, user) = if hop_cpu[arm].is_empty() {
                ("—".to_string(), "—".to_string())
            } else {
                let (cpu, cpu_low, cpu_high) = spread(&hop_cpu[arm]);
                let user = hop_user_ticks[arm] as f64 / USER_HZ * 1e6
                    / (events as f64 * hop_cpu[arm].len() as f64);
                (
                    format!("{cpu:.1} µs ({cpu_low:.1}–{cpu_high:.1})"),
                    format!("{user:.1} µs"),
                )
            };
            println!(
                "| {name} | {median:.0} ({low:.0}–{high:.0}) | {ratio:.0} % ({ratio_low:.0}–{ratio_high:.0} %) | {cpu} | {user} |"
            );
        }
        // Each arm's paired ratios, lowest first: how far a median sits from the
        // trials either side of it on this machine.
        println!();
        for (Arm { name, .. }, ratios) in arms.iter().zip(&paired_ratios).skip(1) {
            let mut ratios = ratios.clone();
            ratios.sort_by(f64::total_cmp);
            let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.0}")).collect();
            println!("{name}, / direct by trial: {} %", listed.join(", "));
        }
        println!();
    }
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    // The same PUT, one at a time, through every arm in turn (request by request, each
    // round starting one arm further on, so a drift of the machine's speed and the
    // request that follows another arm's land on every arm alike), each arm on its own
    // documents (a PUT the stand-in refused as a version conflict would be another
    // request): what a hop adds to one request.
    let rounds = 2_000;
    let mut samples = vec![Vec::with_capacity(rounds); arms.len()];
    for i in 0..rounds {
        for step in 0..arms.len() {
            let arm = (i + step) % arms.len();
            let base = &arms[arm].url;
            let started = Instant::now();
            let _ = client
                .put(format!(
                    "{base}/{INDEX}/_doc/lat-{arm}-{i}?version=1&version_type=external"
                ))
                .json(&json!({"text": "latency"}))
                .send()
                .await;
            samples[arm].push(started.elapsed());
        }
    }
    let latencies: Vec<(Duration, Duration)> = samples
        .iter_mut()
        .map(|arm| {
            arm.sort();
            (percentile(arm, 0.5), percentile(arm, 0.99))
        })
        .collect();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "\n| one PUT, sequential, 2 000 requests per arm, arms in turn | p50 | p99 | p50 added to direct |\n|---|---|---|---|"
    );
    for (Arm { name, .. }, (p50, p99)) in arms.iter().zip(&latencies) {
        println!(
            "| {name} | {:.3} ms | {:.3} ms | {:+.3} ms |",
            ms(*p50),
            ms(*p99),
            ms(*p50) - ms(latencies[0].0)
        );
    }
}

/// Median (the mean of the middle two for an even count), minimum and maximum of
/// `values` (not empty).
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    };
    (median, sorted[0], sorted[sorted.len() - 1])
}

/// A bench setting from the environment: a whole number, `None` when unset or not one.
fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

/// A TCP relay in front of the stand-in that copies bytes both ways and parses nothing:
/// a reference hop with no HTTP work (two more sockets per keep-alive connection, in
/// the same place). Runs on one thread's runtime for the bench's life; its URL.
fn start_byte_relay(upstream: &str) -> String {
    let upstream = upstream.trim_start_matches("http://").to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("relay bind");
    let url = format!("http://{}", listener.local_addr().expect("relay addr"));
    listener.set_nonblocking(true).expect("relay nonblocking");
    std::thread::Builder::new()
        .name(RELAY_THREAD.into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("relay runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("relay");
                while let Ok((mut downstream, _)) = listener.accept().await {
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let _ = downstream.set_nodelay(true);
                        let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let _ = up.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut downstream, &mut up).await;
                    });
                }
            });
        })
        .expect("relay thread");
    url
}

/// haproxy from Debian's package in front of the stand-in, configured as in
/// `scripts/bench-gate` (mode http, nbthread = cores, keep-alive both sides); stopped on
/// drop. `None` when haproxy is not installed.
struct Haproxy {
    url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(upstream: &str) -> Option<Haproxy> {
        let dir = tempfile::tempdir().ok()?;
        // Below the ephemeral range, as the drills pick ports: a bind(0) port can be taken
        // by an outgoing connection before haproxy binds it.
        let port = drill_sim::ports::spare_port(&[]).ok()?;
        let server = upstream.trim_start_matches("http://");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n    nbthread {cores}\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    option http-keep-alive\nfrontend gate\n    bind 127.0.0.1:{port}\n    default_backend es\nbackend es\n    http-reuse always\n    server es {server}\n"
            ),
        )
        .ok()?;
        let child = std::process::Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Haproxy {
            url,
            child,
            _dir: dir,
        })
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Upstream's schema has none of our partial claim indexes: the same worker there,
/// each row run on both schemas back to back.
async fn schema_comparison(es: &EsStandin, only: Option<&str>) {
    println!("\n## Worker end to end on upstream's schema (CONTRACT §2a; no partial indexes)\n");
    println!(
        "| batch | bulk | workers | done rows before | events/s | vs our schema |\n|---|---|---|---|---|---|"
    );
    for done_rows in [0i64, 50_000] {
        for (batch, bulk) in [(100u32, false), (500, true)] {
            let key = format!("{batch}:{}:1", if bulk { "on" } else { "off" });
            if only.is_some_and(|o| o != key) || (only.is_some() && done_rows > 0) {
                continue;
            }
            let mut rates = Vec::new();
            for schema in [Schema::Ours, Schema::Upstream] {
                let run = Run {
                    batch,
                    bulk,
                    workers: 1,
                    done_rows,
                    schema,
                    quiet_database: false,
                };
                rates.push(end_to_end(es, &run, 30_000).await);
            }
            println!(
                "| {batch} | {} | 1 | {done_rows} | {:.0} | {:.0} % of {:.0} |",
                if bulk { "on" } else { "off" },
                rates[1],
                100.0 * rates[1] / rates[0],
                rates[0]
            );
        }
    }
}

/// The stand-in's capacity, the Postgres ceiling and the end-to-end table on our schema.
async fn own_schema_tables(es: &EsStandin, only: Option<&str>) {
    println!("## ES stand-in capacity (in-process, release)\n");
    let (single, bulk) = standin_capacity(es).await;
    println!(
        "| mode | rate |\n|---|---|\n| single-document PUT, 32 clients | {single:.0} req/s |\n| _bulk of 500 | {bulk:.0} items/s |\n"
    );

    println!("## Postgres ceiling: claim + fenced finalize, no ES\n");
    println!("| batch | loops | rows/s | claim p50 | claim p99 |\n|---|---|---|---|---|");
    let mut ceilings = std::collections::HashMap::new();
    let ceilings_to_run: &[(u32, usize)] = if std::env::var("BENCH_ONLY").is_ok() {
        &[(100, 1)]
    } else {
        &[(1, 1), (1, 2), (100, 1), (500, 1), (100, 2), (500, 2)]
    };
    for &(batch, loops) in ceilings_to_run {
        let (rate, mut latencies) = postgres_ceiling(batch, loops).await;
        latencies.sort();
        ceilings.insert((batch, loops), rate);
        println!(
            "| {batch} | {loops} | {rate:.0} | {:.2} ms | {:.2} ms |",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3
        );
    }

    println!("\n## Worker end to end (release binary, tracing off, ES stand-in)\n");
    println!(
        "| batch | bulk | workers | done rows before | events/s | vs Postgres ceiling |\n|---|---|---|---|---|---|"
    );
    // BENCH_ONLY=batch:bulk:workers (e.g. 100:off:1) runs one end-to-end row.
    for done_rows in [0i64, 50_000] {
        for batch in [1u32, 100, 500] {
            for bulk in [false, true] {
                for workers in [1usize, 2] {
                    let key = format!("{batch}:{}:{workers}", if bulk { "on" } else { "off" });
                    if only.as_ref().is_some_and(|o| *o != key) || (only.is_some() && done_rows > 0)
                    {
                        continue;
                    }
                    let run = Run {
                        batch,
                        bulk,
                        workers,
                        done_rows,
                        schema: Schema::Ours,
                        quiet_database: false,
                    };
                    let events = if batch == 1 { 5_000 } else { 30_000 };
                    let rate = end_to_end(es, &run, events).await;
                    let ceiling = ceilings.get(&(batch, workers)).copied().unwrap_or(f64::NAN);
                    println!(
                        "| {batch} | {} | {workers} | {done_rows} | {rate:.0} | {:.0} % |",
                        if bulk { "on" } else { "off" },
                        100.0 * rate / ceiling
                    );
                }
            }
        }
    }
}

/// One way to the stand-in that the gate comparison times.
struct Arm {
    name: String,
    url: String,
    cpu: HopCpu,
}

impl Arm {
    fn new(name: &str, url: String, cpu: HopCpu) -> Arm {
        Arm {
            name: name.to_string(),
            url,
            cpu,
        }
    }
}

/// The threads whose names start with this serve the gates (see `FaultGate::start`).
const GATE_THREADS: &str = "fault-gate";
/// The byte relay's thread (`start_byte_relay`).
const RELAY_THREAD: &str = "byte-relay";

/// Where a hop spends its CPU: threads of this process by name, another process, or
/// no hop at all.
enum HopCpu {
    None,
    Threads(&'static str),
    Process(u32),
}

/// `stat` counts in USER_HZ, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

/// A hop's CPU time so far: on a CPU in all (`schedstat`, nanoseconds), and in user
/// space (`stat`'s utime, in 10 ms ticks: coarse, so it is summed over every trial
/// before it is divided).
#[derive(Clone, Copy)]
struct CpuSample {
    seconds: f64,
    user_ticks: u64,
}

impl HopCpu {
    /// The CPU spent so far (None for no hop, or when /proc cannot tell).
    /// `stat`'s utime and stime count 10 ms ticks, too coarse for the 20–30 ms a hop
    /// spends in a `_bulk` run: the total comes from `schedstat`.
    fn sample(&self) -> Option<CpuSample> {
        let tasks = match self {
            HopCpu::None => return None,
            HopCpu::Process(pid) => format!("/proc/{pid}/task"),
            HopCpu::Threads(_) => "/proc/self/task".to_string(),
        };
        let mut sample = CpuSample {
            seconds: 0.0,
            user_ticks: 0,
        };
        for task in std::fs::read_dir(tasks).ok()?.flatten() {
            if let HopCpu::Threads(prefix) = self {
                let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                if !name.starts_with(prefix) {
                    continue;
                }
            }
            let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            sample.seconds += schedstat.split(' ').next()?.parse::<u64>().ok()? as f64 / 1e9;
            // utime is the 14th field; the name before it (2nd, in parentheses) may
            // hold spaces, so count from its closing parenthesis.
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 1..];
            sample.user_ticks += after_name.split_whitespace().nth(11)?.parse::<u64>().ok()?;
        }
        Some(sample)
    }
}
