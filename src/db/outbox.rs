//! Reading and writing `search_outbox_events` outside the worker: the runbook's
//! insert helper and the queue views the cockpit and the evidence use.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Upsert,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
        }
    }

    pub fn parse(text: &str) -> Option<Op> {
        match text.trim().to_ascii_lowercase().as_str() {
            "upsert" => Some(Op::Upsert),
            "delete" => Some(Op::Delete),
            _ => None,
        }
    }
}

pub const ENTITY_TYPE: &str = "block";

/// One event to insert. `version: None` takes the entity's next version.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub op: Op,
    pub entity_id: Uuid,
    pub version: Option<i64>,
    pub traceparent: Option<String>,
}

/// Inserts one event in its own transaction: for an upsert the `search_index` row
/// and the outbox row together (a crash never leaves one without the other); for a
/// delete the `search_index` row goes with it. Returns the outbox id, which is
/// never the entity id.
///
/// Every `NOT NULL` column is written explicitly: upstream's tables (CONTRACT.md §2a)
/// have no default for `replay_count`, `search_index.id`, `created_at` or `updated_at`,
/// so relying on a default of our own migrations fails there. `library_id` is left alone.
pub async fn insert_event(pool: &PgPool, event: &NewEvent) -> Result<Uuid, sqlx::Error> {
    let ids = insert_events(pool, std::slice::from_ref(event)).await?;
    Ok(ids[0])
}

/// Inserts several events in one transaction: a worker that polls sees all of them or
/// none, so they land in one claim (a drill that needs two events in one `_bulk`).
pub async fn insert_events(pool: &PgPool, events: &[NewEvent]) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut ids = Vec::with_capacity(events.len());
    for event in events {
        ids.push(insert_in(&mut tx, event).await?);
    }
    tx.commit().await?;
    Ok(ids)
}

async fn insert_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    event: &NewEvent,
) -> Result<Uuid, sqlx::Error> {
    // Serialises version assignment per entity, so two helpers never hand out one version twice.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(event.entity_id)
        .execute(&mut **tx)
        .await?;
    let version = match event.version {
        Some(version) => version,
        None => {
            let current: Option<i64> = sqlx::query_scalar(
                "SELECT max(event_version) FROM search_outbox_events WHERE entity_type = $1 AND entity_id = $2",
            )
            .bind(ENTITY_TYPE)
            .bind(event.entity_id)
            .fetch_one(&mut **tx)
            .await?;
            current.unwrap_or(0) + 1
        }
    };
    match event.op {
        Op::Upsert => {
            sqlx::query(
                "INSERT INTO search_index (id, entity_type, entity_id, text, snippet, rank_score, event_version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())
                 ON CONFLICT (entity_type, entity_id) DO UPDATE
                 SET text = EXCLUDED.text, snippet = EXCLUDED.snippet, rank_score = EXCLUDED.rank_score,
                     event_version = EXCLUDED.event_version, updated_at = now()
                 WHERE search_index.event_version <= EXCLUDED.event_version",
            )
            .bind(Uuid::new_v4())
            .bind(ENTITY_TYPE)
            .bind(event.entity_id)
            .bind(format!("block {} version {version}", event.entity_id))
            .bind(format!("v{version}"))
            .bind(version as f64)
            .bind(version)
            .execute(&mut **tx)
            .await?;
        }
        Op::Delete => {
            sqlx::query(
                "DELETE FROM search_index WHERE entity_type = $1 AND entity_id = $2 AND event_version <= $3",
            )
            .bind(ENTITY_TYPE)
            .bind(event.entity_id)
            .bind(version)
            .execute(&mut **tx)
            .await?;
        }
    }
    let mut id = Uuid::new_v4();
    while id == event.entity_id {
        id = Uuid::new_v4();
    }
    sqlx::query(
        "INSERT INTO search_outbox_events
             (id, entity_type, entity_id, op, event_version, status, attempts, replay_count,
              traceparent, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, now(), now())",
    )
    .bind(id)
    .bind(ENTITY_TYPE)
    .bind(event.entity_id)
    .bind(event.op.as_str())
    .bind(version)
    .bind(&event.traceparent)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// One outbox row as the cockpit and the evidence show it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct OutboxRow {
    pub id: Uuid,
    pub entity_id: Uuid,
    pub op: String,
    pub event_version: i64,
    pub status: String,
    pub attempts: i32,
    pub owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
    pub error_reason: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

// By hand rather than derived: the derive needs sqlx's `macros` feature (see db/migrate.rs).
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for OutboxRow {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            entity_id: row.try_get("entity_id")?,
            op: row.try_get("op")?,
            event_version: row.try_get("event_version")?,
            status: row.try_get("status")?,
            attempts: row.try_get("attempts")?,
            owner: row.try_get("owner")?,
            lease_until: row.try_get("lease_until")?,
            next_retry_at: row.try_get("next_retry_at")?,
            processed_at: row.try_get("processed_at")?,
            error_reason: row.try_get("error_reason")?,
            error: row.try_get("error")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

pub async fn rows_by_id(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, entity_id, op, event_version, status, attempts, owner, lease_until, next_retry_at,
                processed_at, error_reason, error, created_at
         FROM search_outbox_events WHERE id = ANY($1) ORDER BY created_at",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// Counts by status and the age of the oldest pending row.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct QueueSummary {
    pub pending: i64,
    pub processing: i64,
    pub done: i64,
    pub failed: i64,
    pub oldest_pending_age_seconds: Option<f64>,
}

pub async fn queue_summary(pool: &PgPool) -> Result<QueueSummary, sqlx::Error> {
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT status::text, count(*) FROM search_outbox_events GROUP BY status")
            .fetch_all(pool)
            .await?;
    let oldest: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - min(created_at))::float8 FROM search_outbox_events WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    let mut summary = QueueSummary {
        oldest_pending_age_seconds: oldest,
        ..QueueSummary::default()
    };
    for (status, count) in counts {
        match status.as_str() {
            "pending" => summary.pending = count,
            "processing" => summary.processing = count,
            "done" => summary.done = count,
            "failed" => summary.failed = count,
            _ => {}
        }
    }
    Ok(summary)
}
