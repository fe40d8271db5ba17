//! The sandbox (`--sandbox`): a practice range that needs nothing but this binary and
//! PostgreSQL's server binaries. A throwaway Postgres cluster (or the database of
//! `DATABASE_URL` when given), the ES-API simulator and the trace store of `drill-sim`
//! on loopback in this process, and the bundled worker (or any `worker.command`).
//! `stop_service("es")` closes the simulator's listener for real (connection refused),
//! as stopping a container does. Everything it touches says SANDBOX.

pub mod postgres;
pub mod prometheus;

use std::net::SocketAddr;
use std::sync::Arc;

use drill_sim::elastic::EsSimulator;
use drill_sim::traces::TraceStore;

use crate::docker::ServiceState;
use postgres::LocalPostgres;

/// The words that never let a sandbox run pass for the real stack.
pub const BANNER: &str = "SANDBOX · simulated Elasticsearch and trace store";

/// The sandbox's database name in its own cluster (`create_database` creates it).
const DATABASE: &str = "wordloom_sandbox";

/// Where the sandbox's database stands.
#[derive(Debug)]
enum Database {
    /// `initdb` and `pg_ctl` are running (the URL is already known: its port is chosen).
    Starting {
        port: u16,
    },
    Ready(LocalPostgres),
    Failed(String),
    /// The database of `DATABASE_URL`.
    Given,
}

pub struct Sandbox {
    postgres: std::sync::Mutex<Database>,
    /// Told when the database is ready or failed.
    settled: tokio::sync::watch::Sender<bool>,
    database_url: String,
    pub elastic: EsSimulator,
    pub traces: TraceStore,
    started_at: String,
    /// The throwaway Prometheus of `--prometheus` (killed and deleted with the sandbox).
    prometheus: std::sync::Mutex<Option<prometheus::LocalPrometheus>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("postgres", &self.database_url)
            .field("elastic", &self.elastic.url())
            .field("traces", &self.traces.url())
            .finish()
    }
}

/// The settings a sandbox sets, for its database, simulator and trace store.
fn overrides_for(database_url: &str, elastic_url: &str, traces_url: &str) -> Vec<String> {
    vec![
        format!("database.url={database_url}"),
        "database.ours=true".into(),
        format!("elastic.url={elastic_url}"),
        format!("jaeger.url={traces_url}"),
        format!("tracing.otlp_endpoint={traces_url}"),
        "docker.project=sandbox".into(),
        "docker.es_service=es".into(),
    ]
}

/// The same settings with stand-in addresses, before the sandbox has any: the profile
/// loaded with them is checked whole before anything starts (a mistyped key or value
/// is refused before Postgres runs), while what the sandbox replaces is not judged.
pub fn placeholder_overrides() -> Vec<String> {
    overrides_for(
        "postgres://sandbox@127.0.0.1:5432/sandbox",
        "http://127.0.0.1:9200",
        "http://127.0.0.1:16686",
    )
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// `worker.metrics_port` and `worker.http_port` on free ports, for each one the user
/// left at its default (a port given on purpose is kept, and checked before start).
pub fn worker_port_overrides(settings: &crate::config::Settings) -> Vec<String> {
    ["worker.metrics_port", "worker.http_port"]
        .into_iter()
        .filter(|key| {
            matches!(
                settings.origin(key),
                Some(crate::config::Origin::Default) | None
            )
        })
        .filter_map(|key| Some(format!("{key}={}", free_port().ok()?)))
        .collect()
}

fn free_port() -> Result<u16, String> {
    drill_sim::ports::spare_port(&[]).map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

impl Sandbox {
    /// Starts the range: the simulators at once, the throwaway cluster in the
    /// background (its URL is known before it is up, so the cockpit draws at once;
    /// [`Sandbox::ready`] waits for it). `database_url`: a database to use instead
    /// (the user's `DATABASE_URL`), migrated as the cockpit's own.
    pub async fn start(database_url: Option<String>) -> Result<Arc<Sandbox>, String> {
        Sandbox::start_recorded(database_url, None).await
    }

    /// [`Sandbox::start`], its throwaway cluster recorded in `state` (the fault state
    /// file beside the snapshots) before it is made, so that a drill-cockpit killed
    /// with SIGKILL does not leave it running for good: the next start stops it.
    pub async fn start_recorded(
        database_url: Option<String>,
        state: Option<crate::leftovers::StateFile>,
    ) -> Result<Arc<Sandbox>, String> {
        let (database, database_url) = match database_url {
            Some(url) => (Database::Given, url),
            None => {
                // Fail fast, before any frame, when there is nothing to start.
                if postgres::find_bin_dir().is_none() {
                    return Err(format!(
                        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in the usual places: {}",
                        postgres::INSTALL_HINT
                    ));
                }
                let port = free_port()?;
                (
                    Database::Starting { port },
                    format!("postgres://postgres@127.0.0.1:{port}/{DATABASE}"),
                )
            }
        };
        let elastic = EsSimulator::start_on(loopback())
            .await
            .map_err(|e| format!("the ES-API simulator cannot listen on 127.0.0.1: {e}"))?;
        let traces = TraceStore::start_on(loopback())
            .await
            .map_err(|e| format!("the trace store cannot listen on 127.0.0.1: {e}"))?;
        let starting = match database {
            Database::Starting { port } => Some(port),
            _ => None,
        };
        let (settled, _) = tokio::sync::watch::channel(starting.is_none());
        let sandbox = Arc::new(Sandbox {
            postgres: std::sync::Mutex::new(database),
            settled,
            database_url,
            elastic,
            traces,
            started_at: chrono::Utc::now().to_rfc3339(),
            prometheus: std::sync::Mutex::new(None),
        });
        if let Some(port) = starting {
            let sandbox = sandbox.clone();
            tokio::spawn(async move {
                let started =
                    tokio::task::spawn_blocking(move || LocalPostgres::start_recorded(port, state))
                        .await
                        .map_err(|e| format!("starting Postgres: {e}"))
                        .and_then(|r| r);
                let state = match started {
                    Ok(cluster) => match create_database(&cluster.url("postgres")).await {
                        Ok(()) => Database::Ready(cluster),
                        Err(error) => Database::Failed(error),
                    },
                    Err(error) => Database::Failed(error),
                };
                if let Ok(mut slot) = sandbox.postgres.lock() {
                    *slot = state;
                }
                sandbox.settled.send_replace(true);
            });
        }
        Ok(sandbox)
    }

    /// Waits until the database is up; the error says why it is not.
    pub async fn ready(&self) -> Result<(), String> {
        let mut settled = self.settled.subscribe();
        let _ = settled.wait_for(|done| *done).await;
        match &*self
            .postgres
            .lock()
            .map_err(|_| "the sandbox's state is poisoned")?
        {
            Database::Failed(error) => {
                Err(format!("the sandbox's Postgres did not start: {error}"))
            }
            _ => Ok(()),
        }
    }

    /// Starts the range's Prometheus (`--prometheus`); returns the settings that make
    /// the session read its counters from it.
    pub async fn start_prometheus(&self) -> Result<Vec<String>, String> {
        let started = prometheus::LocalPrometheus::start().await?;
        let overrides = vec![
            "metrics.source=prometheus".to_string(),
            format!("metrics.prometheus_url={}", started.url()),
            format!("metrics.prometheus_selector=job=\"{}\"", prometheus::JOB),
        ];
        if let Ok(mut slot) = self.prometheus.lock() {
            *slot = Some(started);
        }
        Ok(overrides)
    }

    /// Tells the range's Prometheus which workers to scrape (nothing to do without one).
    pub fn set_prometheus_targets(&self, targets: &[String]) -> Result<(), String> {
        match self.prometheus.lock().as_deref() {
            Ok(Some(prometheus)) => prometheus.write_targets(targets),
            Ok(None) => Ok(()),
            Err(_) => Err("the sandbox's state is poisoned".into()),
        }
    }

    /// The profile settings that point the cockpit and its worker at the range.
    pub fn overrides(&self) -> Vec<String> {
        overrides_for(&self.database_url, &self.elastic.url(), &self.traces.url())
    }

    /// The range's services as the Containers pane shows Docker's.
    pub fn services(&self) -> Vec<ServiceState> {
        let service = |name: &str, container: String, running: bool| ServiceState {
            service: name.into(),
            container,
            state: if running { "running" } else { "exited" }.into(),
            health: None,
            started_at: running.then(|| self.started_at.clone()),
            exit_code: (!running).then_some(0),
        };
        let mut services = vec![
            service(
                "es",
                format!("ES-API simulator {}", self.elastic.url()),
                self.elastic.server.is_running(),
            ),
            service(
                "jaeger",
                format!("trace store {}", self.traces.url()),
                self.traces.server.is_running(),
            ),
        ];
        let postgres = match self.postgres.lock().as_deref() {
            Ok(Database::Ready(cluster)) => service(
                "postgres",
                format!(
                    "throwaway cluster :{} ({})",
                    cluster.port,
                    cluster.bin.display()
                ),
                true,
            ),
            Ok(Database::Starting { port }) => ServiceState {
                health: Some("starting".into()),
                ..service("postgres", format!("initdb, pg_ctl start :{port}"), true)
            },
            Ok(Database::Failed(error)) => ServiceState {
                state: "dead".into(),
                exit_code: Some(1),
                started_at: None,
                ..service("postgres", crate::sanitize::one_line(error, 200), false)
            },
            // The user's database: not run by the sandbox, so not claimed to be running
            // (whether it answers is the Outbox pane's to say).
            Ok(Database::Given) | Err(_) => ServiceState {
                state: "external".into(),
                ..service("postgres", "DATABASE_URL (yours)".into(), true)
            },
        };
        services.insert(0, postgres);
        services
    }

    /// Stops a simulated service: its listener and connections close.
    pub fn stop_service(&self, name: &str) -> Result<(), String> {
        match name {
            "es" => self.elastic.server.stop(),
            "jaeger" => self.traces.server.stop(),
            other => {
                return Err(format!(
                    "the sandbox cannot stop `{other}`: only es and jaeger"
                ));
            }
        }
        Ok(())
    }

    /// Starts it again on the same port.
    pub async fn start_service(&self, name: &str) -> Result<(), String> {
        let started = match name {
            "es" => self.elastic.server.start().await,
            "jaeger" => self.traces.server.start().await,
            other => {
                return Err(format!(
                    "the sandbox cannot start `{other}`: only es and jaeger"
                ));
            }
        };
        started.map_err(|e| format!("restarting the simulated {name}: {e}"))
    }

    /// What `_recipe.json` says about the range.
    pub fn describe(&self) -> serde_json::Value {
        let mut described = serde_json::json!({
            "banner": BANNER,
            "postgres": match self.postgres.lock().as_deref() {
                Ok(Database::Given) => "the database of DATABASE_URL".to_string(),
                _ => format!("throwaway cluster (initdb into a temporary directory) at {}", self.database_url),
            },
            "elasticsearch": format!("drill-sim ES-API simulator at {} (not Elasticsearch)", self.elastic.url()),
            "jaeger": format!("drill-sim trace store (OTLP receiver + Jaeger query API) at {} (not Jaeger)", self.traces.url()),
        });
        if let Ok(Some(prometheus)) = self.prometheus.lock().as_deref() {
            described["prometheus"] = serde_json::json!(format!(
                "throwaway Prometheus (the local binary, in a temporary directory) at {}, scraping every worker each second",
                prometheus.url()
            ));
        }
        described
    }
}

/// `CREATE DATABASE` in the fresh cluster (it has only `postgres`).
async fn create_database(admin_url: &str) -> Result<(), String> {
    use sqlx::Connection;
    crate::tls::install_provider();
    let mut connection = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| format!("connecting to the sandbox's Postgres: {e}"))?;
    sqlx::query("CREATE DATABASE wordloom_sandbox")
        .execute(&mut connection)
        .await
        .map_err(|e| format!("creating the sandbox's database: {e}"))?;
    Ok(())
}
