//! The worker's SQL: claim with `FOR UPDATE SKIP LOCKED`, and finalize fenced on the
//! claim itself: (id, attempts as claimed, owner, status='processing'). Every claim
//! increments `attempts`, so it is a token that changes at every claim: a claim that
//! lost its lease changes nothing, even when the new claim has the same owner string
//! (a sibling claim loop, or two processes started with the same `OUTBOX_WORKER_ID`).

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub op: String,
    pub event_version: i64,
    pub attempts: i32,
    pub traceparent: Option<String>,
    /// `processing` when this claim took over an expired lease.
    pub prior_status: String,
    /// The entity's `search_index` row, read in the claim's own statement (upserts only).
    pub source_text: Option<String>,
    pub source_snippet: Option<String>,
    pub source_rank_score: Option<f64>,
    pub source_version: Option<i64>,
    pub source_updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

// By hand rather than derived: the derive needs sqlx's `macros` feature (see db/migrate.rs).
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for ClaimedEvent {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            entity_type: row.try_get("entity_type")?,
            entity_id: row.try_get("entity_id")?,
            op: row.try_get("op")?,
            event_version: row.try_get("event_version")?,
            attempts: row.try_get("attempts")?,
            traceparent: row.try_get("traceparent")?,
            prior_status: row.try_get("prior_status")?,
            source_text: row.try_get("source_text")?,
            source_snippet: row.try_get("source_snippet")?,
            source_rank_score: row.try_get("source_rank_score")?,
            source_version: row.try_get("source_version")?,
            source_updated_at: row.try_get("source_updated_at")?,
        })
    }
}

/// What fences a finalize: the row and the `attempts` value its claim set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimToken {
    pub id: Uuid,
    pub attempts: i32,
}

impl ClaimedEvent {
    pub fn token(&self) -> ClaimToken {
        ClaimToken {
            id: self.id,
            attempts: self.attempts,
        }
    }

    /// The ES document of an upsert and its version, when the source row exists.
    pub fn document(&self) -> Option<(i64, Value)> {
        let version = self.source_version?;
        let text = self.source_text.as_ref()?;
        Some((
            version,
            json!({
                "entity_type": self.entity_type, "entity_id": self.entity_id, "text": text,
                "snippet": self.source_snippet, "rank_score": self.source_rank_score.unwrap_or(0.0),
                "event_version": version,
                "updated_at": self.source_updated_at.map(|t| t.to_rfc3339()),
            }),
        ))
    }
}

/// Claims up to `limit` eligible rows: pending and due, or processing with an expired
/// lease. One statement sets owner, lease, start time and attempts, and returns each
/// upsert's `search_index` row with it (one round trip per batch, not two).
pub async fn claim(
    pool: &PgPool,
    owner: &str,
    limit: u32,
    lease: Duration,
) -> Result<Vec<ClaimedEvent>, sqlx::Error> {
    sqlx::query_as(
        "WITH expired AS (
             SELECT id, 'processing'::text AS prior_status FROM search_outbox_events
             WHERE status = 'processing' AND lease_until < now()
             ORDER BY lease_until
             LIMIT $1
             FOR UPDATE SKIP LOCKED
         ), due AS (
             SELECT id, 'pending'::text AS prior_status FROM search_outbox_events
             WHERE status = 'pending' AND (next_retry_at IS NULL OR next_retry_at <= now())
             ORDER BY created_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
         ), candidates AS (
             SELECT id, prior_status FROM expired
             UNION ALL
             SELECT id, prior_status FROM due
             LIMIT $1
         )
         , claimed AS (
             -- `= ANY(ARRAY(…))` and the LATERAL below keep every step an index probe;
             -- a plain join let Postgres hash the whole table on every claim.
             UPDATE search_outbox_events e
             SET status = 'processing', owner = $2,
                 lease_until = now() + make_interval(secs => $3),
                 processing_started_at = now(), attempts = e.attempts + 1, updated_at = now()
             WHERE e.id = ANY(ARRAY(SELECT id FROM candidates))
             RETURNING e.id, e.entity_type, e.entity_id, e.op, e.event_version, e.attempts, e.traceparent
         )
         SELECT claimed.*, c.prior_status, s.text AS source_text, s.snippet AS source_snippet,
                s.rank_score AS source_rank_score, s.event_version AS source_version,
                s.updated_at AS source_updated_at
         FROM claimed
         JOIN candidates c ON c.id = claimed.id
         LEFT JOIN LATERAL (
             SELECT text, snippet, rank_score, event_version, updated_at FROM search_index s
             WHERE claimed.op = 'upsert' AND s.entity_type = claimed.entity_type AND s.entity_id = claimed.entity_id
         ) s ON true",
    )
    .bind(i64::from(limit))
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

fn split(tokens: &[ClaimToken]) -> (Vec<Uuid>, Vec<i32>) {
    tokens.iter().map(|t| (t.id, t.attempts)).unzip()
}

/// Marks rows done; returns the ids whose claim was still current.
pub async fn finish_done(
    pool: &PgPool,
    owner: &str,
    tokens: &[ClaimToken],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, attempts) = split(tokens);
    sqlx::query_scalar(
        "UPDATE search_outbox_events e
         SET status = 'done', processed_at = now(), owner = NULL, lease_until = NULL,
             next_retry_at = NULL, error_reason = NULL, error = NULL, updated_at = now()
         FROM unnest($1::uuid[], $2::int4[]) AS c(id, attempts)
         WHERE e.id = c.id AND e.attempts = c.attempts AND e.id = ANY($1)
           AND e.owner = $3 AND e.status = 'processing'
         RETURNING e.id",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(owner)
    .fetch_all(pool)
    .await
}

/// One failed attempt to record.
#[derive(Debug, Clone)]
pub struct FailedAttempt {
    pub token: ClaimToken,
    /// `Some` = back to pending after this delay; `None` = terminal `failed`.
    pub retry_after: Option<Duration>,
    pub reason: String,
    pub error: String,
}

/// Records failed attempts (rescheduled or terminal); returns the ids that were still ours.
pub async fn finish_failed(
    pool: &PgPool,
    owner: &str,
    attempts: &[FailedAttempt],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if attempts.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = attempts.iter().map(|a| a.token.id).collect();
    let claimed: Vec<i32> = attempts.iter().map(|a| a.token.attempts).collect();
    let delays: Vec<Option<f64>> = attempts
        .iter()
        .map(|a| a.retry_after.map(|d| d.as_secs_f64()))
        .collect();
    let reasons: Vec<String> = attempts.iter().map(|a| a.reason.clone()).collect();
    let errors: Vec<String> = attempts.iter().map(|a| a.error.clone()).collect();
    sqlx::query_scalar(
        "UPDATE search_outbox_events e
         SET status = CASE WHEN f.delay IS NULL THEN 'failed' ELSE 'pending' END,
             next_retry_at = CASE WHEN f.delay IS NULL THEN NULL ELSE now() + make_interval(secs => f.delay) END,
             owner = NULL, lease_until = NULL, error_reason = f.reason, error = f.error, updated_at = now()
         FROM unnest($1::uuid[], $2::float8[], $3::text[], $4::text[], $6::int4[])
              AS f(id, delay, reason, error, attempts)
         WHERE e.id = f.id AND e.attempts = f.attempts AND e.id = ANY($1)
           AND e.owner = $5 AND e.status = 'processing'
         RETURNING e.id",
    )
    .bind(&ids)
    .bind(&delays)
    .bind(&reasons)
    .bind(&errors)
    .bind(owner)
    .bind(&claimed)
    .fetch_all(pool)
    .await
}

/// Gives claimed rows back (shutdown): pending again, not counted as an attempt.
pub async fn release(
    pool: &PgPool,
    owner: &str,
    tokens: &[ClaimToken],
) -> Result<u64, sqlx::Error> {
    let (ids, attempts) = split(tokens);
    let result = sqlx::query(
        "UPDATE search_outbox_events e
         SET status = 'pending', owner = NULL, lease_until = NULL,
             attempts = greatest(e.attempts - 1, 0), updated_at = now()
         FROM unnest($1::uuid[], $2::int4[]) AS c(id, attempts)
         WHERE e.id = c.id AND e.attempts = c.attempts AND e.id = ANY($1)
           AND e.owner = $3 AND e.status = 'processing'",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

#[derive(Debug, Clone, Copy, Default)]
pub struct QueueGauges {
    pub lag: i64,
    pub oldest_age_seconds: f64,
    pub inflight: i64,
    pub stuck: i64,
}

/// The queue gauges in one statement over the claim index's rows only, so the cost
/// does not grow with the number of done rows.
pub async fn queue_gauges(
    pool: &PgPool,
    max_processing: Duration,
) -> Result<QueueGauges, sqlx::Error> {
    // Two index-only paths (the partial indexes of the claim), never a scan of done rows.
    let (lag, oldest, inflight, stuck): (i64, Option<f64>, i64, i64) = sqlx::query_as(
        "SELECT p.n + q.n,
                extract(epoch FROM now() - least(p.oldest, q.oldest))::float8,
                q.n,
                q.stuck
         FROM (SELECT count(*) AS n, min(created_at) AS oldest
               FROM search_outbox_events WHERE status = 'pending') p,
              (SELECT count(*) AS n, min(created_at) AS oldest,
                      count(*) FILTER (WHERE processing_started_at < now() - make_interval(secs => $1)) AS stuck
               FROM search_outbox_events WHERE status = 'processing') q",
    )
    .bind(max_processing.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(QueueGauges {
        lag,
        oldest_age_seconds: oldest.unwrap_or(0.0),
        inflight,
        stuck,
    })
}
