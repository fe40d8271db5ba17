//! The typed view of validated settings that the rest of the program uses.

use std::path::PathBuf;
use std::time::Duration;

use super::load::{ConfigError, LoadOptions, Origin, Settings, parse_flag, split_command};
use super::redact::Redactor;
use super::{database_url, spec::SETTINGS};

/// Everything the cockpit, the worker and the insert helper need to know.
#[derive(Debug, Clone)]
pub struct Profile {
    pub settings: Settings,
    pub env: String,
    /// As the user wrote it (may be `postgresql+psycopg://`).
    pub database_url: String,
    /// Whether the cockpit may migrate this database without being asked.
    pub database_is_ours: bool,
    pub elastic_url: String,
    pub elastic_index: String,
    pub jaeger_url: String,
    pub tracing_enabled: bool,
    /// Mouse capture in the cockpit (`cockpit.mouse`).
    pub mouse: bool,
    pub tracing_sampler: String,
    pub otlp_endpoint: String,
    pub service_name: String,
    pub worker_id: String,
    pub metrics_port: u16,
    /// `metrics.source=prometheus`: counters from PromQL (URL, series selector); `None`:
    /// each worker's `/metrics` scraped.
    pub prometheus: Option<PrometheusSource>,
    pub http_port: u16,
    pub default_op: String,
    /// Empty = the bundled worker.
    pub worker_command: Vec<String>,
    /// `worker.replicas`: how many workers every drill runs (its own worker 1, worker 2
    /// of E and F, and the rest of the fleet beside them).
    pub replicas: usize,
    pub tuning: WorkerTuning,
    pub compose_file: PathBuf,
    pub compose_project: String,
    pub es_service: String,
    pub jaeger_service: String,
    pub postgres_service: String,
    pub scenario: String,
    pub scrape_interval: Duration,
    pub jaeger_interval: Duration,
    pub outbox_interval: Duration,
    pub snapshots_dir: PathBuf,
    /// `cockpit.theme`: colour, monochrome, or as `NO_COLOR` says.
    pub theme: crate::ui::theme::ThemeChoice,
    /// The Docker engine of this process, decided once (DOCKER_HOST, else a Docker
    /// context, else the default socket) for the connection and every compose child;
    /// or why none can be used.
    pub docker_engine: Result<crate::docker::Engine, crate::docker::EngineError>,
    /// The sandbox this profile points at (`--sandbox`), shared by every drill of the
    /// process; `None` on the real stack.
    pub sandbox: Option<std::sync::Arc<crate::sandbox::Sandbox>>,
}

/// Where Prometheus is and which of its series are the drilled workers'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusSource {
    pub url: String,
    /// Label matchers without braces: `job="outbox-worker"`.
    pub selector: String,
}

/// The worker's knobs (CONTRACT.md §1, "worker tuning knobs used upstream").
#[derive(Debug, Clone)]
pub struct WorkerTuning {
    pub batch_size: u32,
    pub bulk_size: u32,
    pub use_es_bulk: bool,
    pub lease: Duration,
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub poll_interval: Duration,
    pub reclaim_interval: Duration,
    pub max_processing: Duration,
    pub shutdown_grace: Duration,
    pub concurrency: u32,
    pub gauge_interval: Duration,
    pub es_timeout: Duration,
    pub claim_loops: u32,
}

pub const CONTRACT_DATABASE_URL: &str =
    "postgresql+psycopg://wordloom:wordloom@localhost:5435/wordloom_test";

impl Profile {
    pub fn load(options: &LoadOptions) -> Result<Profile, ConfigError> {
        // Docker's own variables come from the same environment as the settings.
        let docker_env = match &options.environment {
            Some(environment) => {
                crate::docker::DockerEnv::from_lookup(|name| environment.get(name).cloned())
            }
            None => crate::docker::DockerEnv::of_process(),
        };
        let docker_engine = crate::docker::engine::resolve(&docker_env);
        Ok(Profile::from_settings(
            Settings::load(options)?,
            docker_engine,
        ))
    }

    /// Builds the typed view. Every value was checked against its kind by `Settings::load`,
    /// so the parses below cannot fail; the fallbacks only keep this total.
    pub fn from_settings(
        settings: Settings,
        docker_engine: Result<crate::docker::Engine, crate::docker::EngineError>,
    ) -> Profile {
        let text = |key: &str| settings.text(key).trim().to_string();
        let count = |key: &str| text(key).parse::<u32>().unwrap_or(1);
        let seconds = |key: &str| seconds_of(&text(key));
        let millis = |key: &str| Duration::from_millis(text(key).parse::<u64>().unwrap_or(1000));
        let flag = |key: &str| parse_flag(&text(key)).unwrap_or(false);
        let port = |key: &str| text(key).parse::<u16>().unwrap_or(0);

        let database_url = text("database.url");
        let database_is_ours = match text("database.ours").to_ascii_lowercase().as_str() {
            "auto" => database_url == CONTRACT_DATABASE_URL,
            other => parse_flag(other).unwrap_or(false),
        };
        let compose_file = PathBuf::from(text("docker.compose_file"));
        let compose_project = match text("docker.project") {
            project if !project.is_empty() => project,
            _ => default_compose_project(&compose_file),
        };

        Profile {
            env: text("env"),
            database_is_ours,
            elastic_url: text("elastic.url").trim_end_matches('/').to_string(),
            elastic_index: text("elastic.index"),
            jaeger_url: text("jaeger.url").trim_end_matches('/').to_string(),
            tracing_enabled: flag("tracing.enabled"),
            mouse: flag("cockpit.mouse"),
            tracing_sampler: text("tracing.sampler"),
            otlp_endpoint: text("tracing.otlp_endpoint")
                .trim_end_matches('/')
                .to_string(),
            service_name: text("tracing.service_name"),
            worker_id: text("worker.id"),
            metrics_port: port("worker.metrics_port"),
            prometheus: (text("metrics.source") == "prometheus").then(|| PrometheusSource {
                url: text("metrics.prometheus_url")
                    .trim_end_matches('/')
                    .to_string(),
                selector: text("metrics.prometheus_selector"),
            }),
            http_port: port("worker.http_port"),
            default_op: text("worker.op"),
            worker_command: split_command(&text("worker.command")),
            replicas: count("worker.replicas") as usize,
            tuning: WorkerTuning {
                batch_size: claim_size(&settings),
                bulk_size: count("worker.bulk_size"),
                use_es_bulk: flag("worker.use_es_bulk"),
                lease: seconds("worker.lease_seconds"),
                max_attempts: count("worker.max_attempts"),
                base_backoff: seconds("worker.base_backoff_seconds"),
                max_backoff: seconds("worker.max_backoff_seconds"),
                poll_interval: millis("worker.poll_interval_ms"),
                reclaim_interval: seconds("worker.reclaim_interval_seconds"),
                max_processing: seconds("worker.max_processing_seconds"),
                shutdown_grace: seconds("worker.shutdown_grace_seconds"),
                concurrency: count("worker.concurrency"),
                gauge_interval: seconds("worker.gauge_interval_seconds"),
                es_timeout: seconds("worker.es_timeout_seconds"),
                claim_loops: count("worker.claim_loops"),
            },
            compose_file,
            compose_project,
            es_service: text("docker.es_service"),
            jaeger_service: text("docker.jaeger_service"),
            postgres_service: text("docker.postgres_service"),
            scenario: text("cockpit.scenario"),
            scrape_interval: millis("cockpit.scrape_interval_ms"),
            jaeger_interval: millis("cockpit.jaeger_interval_ms"),
            outbox_interval: millis("cockpit.outbox_interval_ms"),
            snapshots_dir: PathBuf::from(text("cockpit.snapshots_dir")),
            theme: crate::ui::theme::ThemeChoice::parse(&text("cockpit.theme")).unwrap_or_default(),
            docker_engine,
            sandbox: None,
            database_url,
            settings,
        }
    }

    /// The URL sqlx can open.
    pub fn sqlx_database_url(&self) -> String {
        // Validated at load time; the fallback keeps this total.
        database_url::normalize(&self.database_url).unwrap_or_else(|_| self.database_url.clone())
    }

    /// Every secret a run may meet: the database password (userinfo, query string or
    /// key/value form), every secret-named variable of this process, the secrets of
    /// every URL setting and those the worker's command sets (`env PGPASSWORD=… worker`),
    /// however each was set.
    pub fn redactor(&self) -> Redactor {
        Redactor::from_process(&self.database_url)
            .with_urls(&[&self.elastic_url, &self.jaeger_url, &self.otlp_endpoint])
            .with_command(&self.worker_command)
    }

    /// The database URL with its password (userinfo and query string) masked.
    pub fn redacted_database_url(&self) -> String {
        database_url::redact(&self.database_url)
    }

    /// The contract's environment variables carrying this profile, for a worker or helper
    /// the cockpit starts. Each worker then reads the same names a person would export.
    ///
    /// The claim size goes out under both of its names (`OUTBOX_BATCH_SIZE` and
    /// `OUTBOX_BULK_SIZE`), so a worker that reads either one claims the same batch.
    pub fn contract_env(&self) -> Vec<(&'static str, String)> {
        let claim = self.tuning.batch_size.to_string();
        SETTINGS
            .iter()
            .filter_map(|spec| {
                spec.env.map(|name| match name {
                    "OUTBOX_BATCH_SIZE" | "OUTBOX_BULK_SIZE" => (name, claim.clone()),
                    _ => (name, self.settings.text(spec.key).to_string()),
                })
            })
            .filter(|(name, _)| !name.starts_with("DRILL_") && *name != "COMPOSE_PROJECT_NAME")
            .collect()
    }

    /// A flat, secret-free JSON object of every setting, for `_recipe.json`.
    pub fn redacted_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .settings
            .describe()
            .into_iter()
            .map(|(key, value, _)| (key.to_string(), serde_json::Value::String(value)))
            .collect();
        serde_json::Value::Object(map)
    }
}

/// A validated `Kind::Seconds` value as a duration; total (never panics) on any text.
fn seconds_of(text: &str) -> Duration {
    let seconds = text.parse::<f64>().unwrap_or(0.0);
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
}

/// Rows claimed per batch, by upstream's rule: `worker.bulk_size` (`OUTBOX_BULK_SIZE`)
/// when it was set anywhere, else `worker.batch_size` (`OUTBOX_BATCH_SIZE`).
fn claim_size(settings: &Settings) -> u32 {
    let key = match settings.origin("worker.bulk_size") {
        Some(Origin::Default) | None => "worker.batch_size",
        Some(_) => "worker.bulk_size",
    };
    settings.text(key).parse().unwrap_or(1).max(1)
}

/// Compose's own rule: the file's top-level `name:` (or, for files that must stay
/// valid for Compose v1, `x-drill-cockpit-project:`), else its folder name,
/// lower-cased, keeping only `[a-z0-9_-]`.
fn default_compose_project(compose_file: &std::path::Path) -> String {
    let declared = std::fs::read_to_string(compose_file).ok().and_then(|text| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix("name:")
                    .or_else(|| line.strip_prefix("x-drill-cockpit-project:"))
            })
            .map(|name| name.trim().trim_matches(['"', '\'']).to_string())
            .filter(|name| !name.is_empty())
    });
    if let Some(name) = declared {
        return name;
    }
    let folder = std::fs::canonicalize(compose_file)
        .ok()
        .and_then(|path| path.parent().map(|p| p.to_path_buf()))
        .or_else(|| std::env::current_dir().ok());
    let name = folder
        .as_deref()
        .and_then(|path| path.file_name())
        .map(|name| name.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let cleaned: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if cleaned.is_empty() {
        "default".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn profile(env: &[(&str, &str)]) -> Profile {
        Profile::load(&LoadOptions {
            config_path: None,
            overrides: vec![],
            environment: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
        })
        .unwrap()
    }

    #[test]
    fn defaults_are_the_contracts() {
        let p = profile(&[]);
        assert_eq!(p.metrics_port, 9109);
        assert_eq!(p.http_port, 9111);
        assert_eq!(p.worker_id, "w-labs009-expA");
        assert_eq!(p.service_name, "wordloom-search-outbox-worker");
        assert_eq!(
            p.sqlx_database_url(),
            "postgres://wordloom:wordloom@localhost:5435/wordloom_test"
        );
        assert!(p.database_is_ours);
        assert_eq!(p.tuning.base_backoff, Duration::from_millis(250));
        assert!(p.worker_command.is_empty());
    }

    #[test]
    fn another_database_is_not_ours_unless_marked() {
        let p = profile(&[("DATABASE_URL", "postgres://x:y@db.example/prod")]);
        assert!(!p.database_is_ours);
    }

    #[test]
    fn contract_env_carries_the_contract_names() {
        let p = profile(&[("OUTBOX_WORKER_ID", "w-2")]);
        let env: BTreeMap<_, _> = p.contract_env().into_iter().collect();
        assert_eq!(env["OUTBOX_WORKER_ID"], "w-2");
        assert_eq!(env["ELASTIC_INDEX"], "wordloom-test-search-index");
        assert_eq!(env["WORDLOOM_TRACING_ENABLED"], "1");
        assert!(!env.contains_key("DRILL_WORKER_COMMAND"));
    }

    #[test]
    fn one_claim_size_goes_out_under_both_names_by_upstreams_rule() {
        let both = |p: &Profile| {
            let env: BTreeMap<_, _> = p.contract_env().into_iter().collect();
            (
                p.tuning.batch_size,
                env["OUTBOX_BATCH_SIZE"].clone(),
                env["OUTBOX_BULK_SIZE"].clone(),
            )
        };
        assert_eq!(both(&profile(&[])), (100, "100".into(), "100".into()));
        assert_eq!(
            both(&profile(&[("OUTBOX_BATCH_SIZE", "7")])),
            (7, "7".into(), "7".into())
        );
        // OUTBOX_BULK_SIZE, when set, wins (as upstream's worker reads it).
        assert_eq!(
            both(&profile(&[
                ("OUTBOX_BATCH_SIZE", "7"),
                ("OUTBOX_BULK_SIZE", "20")
            ])),
            (20, "20".into(), "20".into())
        );
    }

    #[test]
    fn recipe_json_has_no_password() {
        let p = profile(&[]);
        let json = p.redacted_json().to_string();
        assert!(json.contains("wordloom:***@"), "{json}");
        assert!(!json.contains("wordloom:wordloom@"), "{json}");
    }
}
