//! The table of every setting a profile knows: its dotted key (TOML), the contract's
//! environment variable that may override it, its built-in default and its kind.
//! One table drives loading, validation, `drill-cockpit config` and redaction, so a
//! new setting cannot be half-added.

/// How a setting's text is checked and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// An http(s) URL.
    HttpUrl,
    /// A Postgres URL; `postgresql+psycopg://` and other SQLAlchemy driver forms are accepted.
    /// Its password is redacted wherever it is shown.
    DatabaseUrl,
    Port,
    /// A whole number from 1 to `max`.
    Count {
        max: u64,
    },
    /// A decimal number of seconds from 0 to `max`.
    Seconds {
        max: u64,
    },
    /// `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
    Flag,
    /// A shell-like command line, split on whitespace (quotes group words).
    Command,
    /// A key binding such as `s`, `S`, `Tab`, `Ctrl-c`.
    Key,
    /// One of the lab's scenario ids (CONTRACT.md §6): it names a folder of `snapshots/`.
    Scenario,
    /// One word of a fixed list.
    Choice(&'static [&'static str]),
}

pub struct SettingSpec {
    pub key: &'static str,
    pub env: Option<&'static str>,
    pub default: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn s(
    key: &'static str,
    env: Option<&'static str>,
    default: &'static str,
    kind: Kind,
    help: &'static str,
) -> SettingSpec {
    SettingSpec {
        key,
        env,
        default,
        kind,
        help,
    }
}

/// Upper bounds of the numeric settings: beyond them a value is a typo, not a choice.
const HOUR_S: u64 = 3_600;
const DAY_S: u64 = 86_400;
const HOUR_MS: u64 = 3_600_000;

/// The contract's defaults (CONTRACT.md §1 and runbook §2.2).
pub const SETTINGS: &[SettingSpec] = &[
    s(
        "env",
        Some("WORDLOOM_ENV"),
        "test",
        Kind::Text,
        "deployment environment the worker refuses to start without",
    ),
    s(
        "database.url",
        Some("DATABASE_URL"),
        "postgresql+psycopg://wordloom:wordloom@localhost:5435/wordloom_test",
        Kind::DatabaseUrl,
        "the outbox database",
    ),
    s(
        "database.ours",
        None,
        "auto",
        Kind::Text,
        "`true` lets the cockpit migrate this database by itself; `auto` = only the contract's default database",
    ),
    s(
        "elastic.url",
        Some("ELASTIC_URL"),
        "http://localhost:9200",
        Kind::HttpUrl,
        "Elasticsearch base URL",
    ),
    s(
        "elastic.index",
        Some("ELASTIC_INDEX"),
        "wordloom-test-search-index",
        Kind::Text,
        "index the worker projects into",
    ),
    s(
        "jaeger.url",
        Some("JAEGER_URL"),
        "http://localhost:16686",
        Kind::HttpUrl,
        "Jaeger UI/API base URL",
    ),
    s(
        "metrics.source",
        None,
        "scrape",
        Kind::Choice(&["scrape", "prometheus"]),
        "where the counters come from: `scrape` (each worker's /metrics) or `prometheus` (PromQL queries to metrics.prometheus_url, summed over instances; docs/PROMETHEUS.md)",
    ),
    s(
        "metrics.prometheus_url",
        None,
        "http://localhost:9090",
        Kind::HttpUrl,
        "Prometheus server queried when metrics.source=prometheus",
    ),
    s(
        "metrics.prometheus_selector",
        None,
        "job=\"outbox-worker\"",
        Kind::Text,
        "PromQL label matchers selecting the drilled workers' series (e.g. job=\"outbox-worker\")",
    ),
    s(
        "tracing.enabled",
        Some("WORDLOOM_TRACING_ENABLED"),
        "1",
        Kind::Flag,
        "worker exports spans (opt-in upstream; on for drills)",
    ),
    s(
        "tracing.sampler",
        Some("OTEL_TRACES_SAMPLER"),
        "always_on",
        Kind::Text,
        "OTel sampler name",
    ),
    s(
        "tracing.otlp_endpoint",
        Some("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "http://localhost:4318",
        Kind::HttpUrl,
        "OTLP/HTTP base; /v1/traces is appended",
    ),
    s(
        "tracing.otlp_protocol",
        Some("OTEL_EXPORTER_OTLP_PROTOCOL"),
        "http/protobuf",
        Kind::Text,
        "only http/protobuf is supported",
    ),
    s(
        "tracing.service_name",
        Some("OTEL_SERVICE_NAME"),
        "wordloom-search-outbox-worker",
        Kind::Text,
        "service name in Jaeger",
    ),
    s(
        "worker.id",
        Some("OUTBOX_WORKER_ID"),
        "w-labs009-expA",
        Kind::Text,
        "lease owner id",
    ),
    s(
        "worker.metrics_port",
        Some("OUTBOX_METRICS_PORT"),
        "9109",
        Kind::Port,
        "Prometheus /metrics port",
    ),
    s(
        "worker.http_port",
        Some("OUTBOX_HTTP_PORT"),
        "9111",
        Kind::Port,
        "/healthz and /readyz port",
    ),
    s(
        "worker.op",
        Some("OUTBOX_OP"),
        "delete",
        Kind::Text,
        "insert helper's default op: upsert|delete",
    ),
    s(
        "worker.command",
        Some("DRILL_WORKER_COMMAND"),
        "",
        Kind::Command,
        "worker the cockpit starts; empty = the bundled `drill-cockpit worker`",
    ),
    s(
        "worker.replicas",
        Some("DRILL_WORKER_REPLICAS"),
        "1",
        Kind::Count { max: 64 },
        "workers per drill (a fleet): each its own OUTBOX_WORKER_ID, ports and log",
    ),
    s(
        "worker.batch_size",
        Some("OUTBOX_BATCH_SIZE"),
        "100",
        Kind::Count { max: 100_000 },
        "rows claimed per batch",
    ),
    s(
        "worker.bulk_size",
        Some("OUTBOX_BULK_SIZE"),
        "500",
        Kind::Count { max: 100_000 },
        "items per _bulk request",
    ),
    s(
        "worker.use_es_bulk",
        Some("OUTBOX_USE_ES_BULK"),
        "0",
        Kind::Flag,
        "one _bulk request per batch",
    ),
    s(
        "worker.lease_seconds",
        Some("OUTBOX_LEASE_SECONDS"),
        "30",
        Kind::Seconds { max: DAY_S },
        "lease length of a claim",
    ),
    s(
        "worker.max_attempts",
        Some("OUTBOX_MAX_ATTEMPTS"),
        "10",
        Kind::Count { max: 10_000 },
        "attempts before terminal failed",
    ),
    s(
        "worker.base_backoff_seconds",
        Some("OUTBOX_BASE_BACKOFF_SECONDS"),
        "0.25",
        Kind::Seconds { max: HOUR_S },
        "first retry delay",
    ),
    s(
        "worker.max_backoff_seconds",
        Some("OUTBOX_MAX_BACKOFF_SECONDS"),
        "20",
        Kind::Seconds { max: DAY_S },
        "retry delay cap",
    ),
    s(
        "worker.poll_interval_ms",
        Some("OUTBOX_POLL_INTERVAL_MS"),
        "200",
        Kind::Count { max: HOUR_MS },
        "idle poll interval",
    ),
    s(
        "worker.reclaim_interval_seconds",
        Some("OUTBOX_RECLAIM_INTERVAL_SECONDS"),
        "5",
        Kind::Seconds { max: HOUR_S },
        "how often expired leases are looked for",
    ),
    s(
        "worker.max_processing_seconds",
        Some("OUTBOX_MAX_PROCESSING_SECONDS"),
        "60",
        Kind::Seconds { max: DAY_S },
        "a processing row older than this counts as stuck",
    ),
    s(
        "worker.shutdown_grace_seconds",
        Some("OUTBOX_SHUTDOWN_GRACE_SECONDS"),
        "5",
        Kind::Seconds { max: HOUR_S },
        "time to drain on SIGTERM",
    ),
    s(
        "worker.es_timeout_seconds",
        Some("OUTBOX_ES_TIMEOUT_SECONDS"),
        "10",
        Kind::Seconds { max: HOUR_S },
        "Elasticsearch request timeout (beyond it: es_timeout)",
    ),
    s(
        "worker.claim_loops",
        Some("OUTBOX_CLAIM_LOOPS"),
        "2",
        Kind::Count { max: 64 },
        "claim loops per worker: one claims while another waits on Elasticsearch",
    ),
    s(
        "worker.concurrency",
        Some("OUTBOX_CONCURRENCY"),
        "16",
        Kind::Count { max: 1024 },
        "ES requests in flight per batch",
    ),
    s(
        "worker.gauge_interval_seconds",
        Some("OUTBOX_GAUGE_INTERVAL_SECONDS"),
        "1",
        Kind::Seconds { max: HOUR_S },
        "how often queue gauges are computed",
    ),
    s(
        "docker.compose_file",
        Some("DRILL_COMPOSE_FILE"),
        "docker-compose.infra.yml",
        Kind::Text,
        "compose file of the infrastructure",
    ),
    s(
        "docker.project",
        Some("COMPOSE_PROJECT_NAME"),
        "",
        Kind::Text,
        "compose project; empty = the compose file's folder name",
    ),
    s(
        "docker.es_service",
        None,
        "es",
        Kind::Text,
        "compose service of Elasticsearch",
    ),
    s(
        "docker.jaeger_service",
        None,
        "jaeger",
        Kind::Text,
        "compose service of Jaeger",
    ),
    s(
        "docker.postgres_service",
        None,
        "postgres",
        Kind::Text,
        "compose service of Postgres",
    ),
    s(
        "cockpit.scenario",
        None,
        "es_down_connect",
        Kind::Scenario,
        "drill scenario id (CONTRACT.md §6)",
    ),
    s(
        "cockpit.theme",
        None,
        "auto",
        Kind::Choice(crate::ui::theme::CHOICES),
        "colours: `auto` (colour unless NO_COLOR is set), `color`, or `mono` (bold, reverse and symbols only)",
    ),
    s(
        "cockpit.scrape_interval_ms",
        None,
        "1000",
        Kind::Count { max: HOUR_MS },
        "/metrics scrape interval",
    ),
    s(
        "cockpit.jaeger_interval_ms",
        None,
        "2000",
        Kind::Count { max: HOUR_MS },
        "Jaeger poll interval",
    ),
    s(
        "cockpit.outbox_interval_ms",
        None,
        "1000",
        Kind::Count { max: HOUR_MS },
        "outbox poll interval",
    ),
    s(
        "cockpit.mouse",
        None,
        "true",
        Kind::Flag,
        "mouse: click focuses a pane, the wheel scrolls (off: the terminal selects text)",
    ),
    s(
        "cockpit.snapshots_dir",
        None,
        "snapshots",
        Kind::Text,
        "where run directories are written",
    ),
    s(
        "keys.stop_es",
        None,
        "s",
        Kind::Key,
        "stop Elasticsearch (asks to confirm)",
    ),
    s("keys.start_es", None, "S", Kind::Key, "start Elasticsearch"),
    s(
        "keys.insert_delete",
        None,
        "d",
        Kind::Key,
        "insert a delete event",
    ),
    s(
        "keys.insert_upsert",
        None,
        "u",
        Kind::Key,
        "insert an upsert event",
    ),
    s("keys.freeze", None, "f", Kind::Key, "freeze a snapshot"),
    s(
        "keys.toggle_worker",
        None,
        "w",
        Kind::Key,
        "start/stop the worker",
    ),
    s(
        "keys.kill_worker",
        None,
        "K",
        Kind::Key,
        "kill -9 the worker",
    ),
    s(
        "keys.fault_in",
        None,
        "x",
        Kind::Key,
        "put the drill's fault in (its own switch)",
    ),
    s(
        "keys.fault_out",
        None,
        "X",
        Kind::Key,
        "take the drill's fault out",
    ),
    s(
        "keys.insert_next",
        None,
        "i",
        Kind::Key,
        "insert the drill's next event",
    ),
    s(
        "keys.pick_scenario",
        None,
        "D",
        Kind::Key,
        "pick another drill",
    ),
    s(
        "keys.switch_log",
        None,
        "l",
        Kind::Key,
        "show worker 1's or worker 2's log",
    ),
    s(
        "keys.marker",
        None,
        "m",
        Kind::Key,
        "drop a marker (a one-line note) on the timeline",
    ),
    s("keys.focus_next", None, "Tab", Kind::Key, "cycle focus"),
    s("keys.filter", None, "/", Kind::Key, "filter the log"),
    s("keys.help", None, "?", Kind::Key, "help overlay"),
    s("keys.quit", None, "q", Kind::Key, "quit"),
];

pub fn find(key: &str) -> Option<&'static SettingSpec> {
    SETTINGS.iter().find(|spec| spec.key == key)
}

/// The known key closest to a mistyped one, for "did you mean" hints.
pub fn closest(key: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|spec| (edit_distance(key, spec.key), spec.key))
        .filter(|(distance, _)| *distance <= 4)
        .min()
        .map(|(_, key)| key)
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len());
    }

    #[test]
    fn a_typo_suggests_the_real_key() {
        assert_eq!(closest("elastic.indx"), Some("elastic.index"));
        assert_eq!(closest("worker.metric_port"), Some("worker.metrics_port"));
        assert_eq!(closest("completely.unrelated.thing"), None);
    }
}
