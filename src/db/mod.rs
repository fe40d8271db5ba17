//! Postgres access shared by the worker, the insert helper and the cockpit.

pub mod migrate;
pub mod outbox;
pub mod schema;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

use crate::config::Profile;

/// What to do about a database that does not answer, on the real stack.
const STACK_FIX: &str = "Is it running? Start it with `docker compose -f docker-compose.infra.yml up -d postgres`, or set DATABASE_URL";
/// The same in the sandbox, where no compose file is involved.
const SANDBOX_FIX: &str =
    "Check DATABASE_URL, or unset it: the sandbox then starts its own throwaway Postgres";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to Postgres at {url}: {source}. {fix}")]
    Connect {
        url: String,
        source: sqlx::Error,
        fix: &'static str,
    },
    #[error("database URL {url} is not usable: {source}")]
    Url { url: String, source: sqlx::Error },
}

impl DbError {
    /// The error as the sandbox says it: its fix names DATABASE_URL, not compose.
    pub fn in_sandbox(self) -> DbError {
        match self {
            DbError::Connect { url, source, .. } => DbError::Connect {
                url,
                source,
                fix: SANDBOX_FIX,
            },
            other => other,
        }
    }
}

/// A pool on the profile's database. Fails fast (5 s) so a wrong URL is reported, not waited on.
pub async fn connect(profile: &Profile, max_connections: u32) -> Result<PgPool, DbError> {
    connect_url(
        &profile.sqlx_database_url(),
        &profile.redacted_database_url(),
        max_connections,
    )
    .await
}

pub async fn connect_url(
    url: &str,
    shown_url: &str,
    max_connections: u32,
) -> Result<PgPool, DbError> {
    connect_with_timeout(url, shown_url, max_connections, Duration::from_secs(5)).await
}

/// `acquire_timeout` bounds how long a statement waits for a connection while the
/// server is away; the worker keeps it short so an outage is logged and backed off.
pub async fn connect_with_timeout(
    url: &str,
    shown_url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(|source| DbError::Url {
        url: shown_url.to_string(),
        source,
    })?;
    crate::tls::install_provider();
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect {
            url: shown_url.to_string(),
            source,
            fix: STACK_FIX,
        })
}
