//! Shared rig for tests that run the real `drill-cockpit` binary as a child process
//! against a fresh Postgres database and the in-process ES and Jaeger stand-ins.
#![allow(dead_code)] // each test file uses a different part of the rig

pub mod sandbox;
pub mod small_disk;
pub mod tmux;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use drill_cockpit::db::outbox::{NewEvent, Op, insert_event};
use drill_cockpit::prom::Samples;
use sqlx::PgPool;
use testkit::es::EsStandin;
use testkit::jaeger::JaegerStandin;
pub use testkit::pg::Schema;
use uuid::Uuid;

pub const INDEX: &str = "wordloom-test-search-index";

pub struct Rig {
    pub database_url: String,
    pub pool: PgPool,
    pub es: EsStandin,
    pub jaeger: JaegerStandin,
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub async fn new() -> Option<Rig> {
        let db = testkit::pg::fresh_database().await?;
        Some(Rig::on_database(db.url).await)
    }

    /// A rig whose database carries `schema` (ours, migrated; or upstream's, built as it is).
    pub async fn with_schema(schema: Schema) -> Option<Rig> {
        let db = testkit::pg::fresh_database().await?;
        if schema == Schema::Upstream {
            testkit::pg::apply_upstream_schema(&db.url).await;
        }
        Some(Rig::prepared(db.url, schema).await)
    }

    pub async fn on_database(database_url: String) -> Rig {
        Rig::prepared(database_url, Schema::Ours).await
    }

    async fn prepared(database_url: String, schema: Schema) -> Rig {
        let pool = drill_cockpit::db::connect_url(&database_url, "test db", 8)
            .await
            .expect("connect test db");
        if schema == Schema::Ours {
            drill_cockpit::db::migrate::apply(&pool)
                .await
                .expect("migrate");
        }
        Rig {
            database_url,
            pool,
            es: EsStandin::start().await.expect("es stand-in"),
            jaeger: JaegerStandin::start().await.expect("jaeger stand-in"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The contract's environment for a worker of this rig; `extra` overrides.
    pub fn worker_env(&self, id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: HashMap<String, String> = [
            ("WORDLOOM_ENV", "test".to_string()),
            (
                "DATABASE_URL",
                self.database_url
                    .replacen("postgres://", "postgresql+psycopg://", 1),
            ),
            ("WORDLOOM_TRACING_ENABLED", "1".into()),
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.jaeger.url()),
            ("ELASTIC_URL", self.es.url()),
            ("ELASTIC_INDEX", INDEX.into()),
            ("OUTBOX_WORKER_ID", id.into()),
            (
                "OUTBOX_METRICS_PORT",
                testkit::docker::free_port().to_string(),
            ),
            ("OUTBOX_HTTP_PORT", testkit::docker::free_port().to_string()),
            ("OUTBOX_POLL_INTERVAL_MS", "20".into()),
            ("OUTBOX_BASE_BACKOFF_SECONDS", "0.05".into()),
            ("OUTBOX_MAX_BACKOFF_SECONDS", "0.2".into()),
            ("OUTBOX_GAUGE_INTERVAL_SECONDS", "0.2".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (key, value) in extra {
            env.insert(key.to_string(), value.to_string());
        }
        env.into_iter().collect()
    }

    pub fn spawn_worker(&self, id: &str, extra: &[(&str, &str)]) -> WorkerProcess {
        WorkerProcess::spawn(
            self.worker_env(id, extra),
            self.dir.path().join(format!("{id}.log")),
        )
    }

    pub async fn insert(&self, op: Op, count: usize) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let event = NewEvent {
                op,
                entity_id: Uuid::new_v4(),
                version: None,
                traceparent: None,
            };
            ids.push(
                insert_event(&self.pool, &event)
                    .await
                    .expect("insert event"),
            );
        }
        ids
    }

    /// Count of rows per status.
    pub async fn statuses(&self) -> HashMap<String, i64> {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT status::text, count(*) FROM search_outbox_events GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect()
    }

    pub async fn row(&self, id: Uuid) -> (String, i32, Option<String>, Option<String>) {
        sqlx::query_as("SELECT status::text, attempts, error_reason::text, owner::text FROM search_outbox_events WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("row exists")
    }

    pub async fn all_done(&self, total: i64) -> bool {
        self.statuses().await.get("done").copied().unwrap_or(0) == total
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    condition().await
}

pub struct WorkerProcess {
    pub child: Child,
    pub log_path: PathBuf,
    pub metrics_port: u16,
    pub http_port: u16,
}

impl WorkerProcess {
    pub fn spawn(env: Vec<(String, String)>, log_path: PathBuf) -> WorkerProcess {
        let port = |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        };
        let metrics_port = port("OUTBOX_METRICS_PORT");
        let http_port = port("OUTBOX_HTTP_PORT");
        let log = std::fs::File::create(&log_path).expect("worker log file");
        let child = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker");
        WorkerProcess {
            child,
            log_path,
            metrics_port,
            http_port,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub async fn metrics(&self) -> Option<Samples> {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Samples::parse(&text).ok()
    }

    /// `metric` summed over series whose `label` is `value` (all series with `None`).
    pub async fn counter(&self, metric: &str, label: Option<(&str, &str)>) -> f64 {
        let Some(samples) = self.metrics().await else {
            return -1.0;
        };
        match label {
            Some((label, value)) => samples.sum(metric, &[(label, &[value])]),
            None => samples.sum(metric, &[]),
        }
    }

    pub async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.http_port);
        assert!(
            testkit::docker::wait_http(&url, Duration::from_secs(20)).await,
            "worker never became ready; log:\n{}",
            self.log()
        );
    }

    pub fn signal(&self, signal: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a directory tree (a fixture run, to edit it in a temp dir); a symlink is
/// copied as what it points to, never descended into as a directory.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
