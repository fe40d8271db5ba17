//! What the drill does to the outside and reads back: the database (its burst and its
//! rows), the index, the fleet going quiet, and the evidence the checks grade.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::checks::FleetEvidence;
use super::{Drill, INSERT_CHUNK, Member, say};
use crate::db::outbox::{ENTITY_TYPE, NewEvent, Op, insert_events};
use crate::sources::metrics::Scrape;

impl Drill {
    pub(super) async fn connect_db(&self) -> Result<sqlx::PgPool, String> {
        let pool = crate::db::connect(&self.profile, 4)
            .await
            .map_err(|e| e.to_string())?;
        if self.profile.database_is_ours {
            crate::db::migrate::apply(&pool).await.map_err(|e| {
                format!(
                    "migrating {} failed: {e}",
                    self.profile.redacted_database_url()
                )
            })?;
        }
        crate::db::schema::check(&pool)
            .await
            .map_err(|e| format!("{}: {e}", self.profile.redacted_database_url()))?;
        Ok(pool)
    }

    /// The index, created when missing (a fresh stack or sandbox).
    pub(super) async fn ensure_index(&self) -> Result<(), String> {
        let url = format!(
            "{}/{}",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let reach = |e: reqwest::Error| {
            format!(
                "cannot reach Elasticsearch at {}: {}",
                self.profile.elastic_url,
                crate::sources::metrics::error_chain(&e)
            )
        };
        if self
            .http
            .head(&url)
            .send()
            .await
            .map_err(reach)?
            .status()
            .is_success()
        {
            return Ok(());
        }
        let created = self
            .http
            .put(&url)
            .json(&json!({}))
            .send()
            .await
            .map_err(reach)?;
        match created.status().as_u16() {
            200..=299 | 400 => Ok(()),
            other => Err(format!("creating index {url} answered HTTP {other}")),
        }
    }

    /// The burst: fresh entities, one upsert each, in a few transactions.
    pub(super) async fn insert(
        &self,
        pool: &sqlx::PgPool,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>), String> {
        let entities: Vec<Uuid> = (0..self.options.events).map(|_| Uuid::new_v4()).collect();
        let mut ids = Vec::with_capacity(entities.len());
        for chunk in entities.chunks(INSERT_CHUNK) {
            let events: Vec<NewEvent> = chunk
                .iter()
                .map(|&entity_id| NewEvent {
                    op: Op::Upsert,
                    entity_id,
                    version: None,
                    traceparent: None,
                })
                .collect();
            let inserted = insert_events(pool, &events).await.map_err(|e| {
                format!(
                    "inserting events into {} failed: {e}",
                    self.profile.redacted_database_url()
                )
            })?;
            ids.extend(inserted);
        }
        self.journal(
            "insert",
            json!({"events": ids.len(), "op": "upsert", "first": ids.first(), "last": ids.last()}),
        );
        Ok((ids, entities))
    }

    /// The drill's rows by status.
    pub(super) async fn statuses(
        pool: &sqlx::PgPool,
        ids: &[Uuid],
    ) -> Result<Vec<(String, i64)>, String> {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT status, count(*) FROM search_outbox_events WHERE id = ANY($1) GROUP BY status ORDER BY status",
        )
        .bind(ids)
        .fetch_all(pool)
        .await
        .map_err(|e| format!("reading the drill's rows: {e}"))
    }

    /// Waits until no row of the drill is pending or processing (or the timeout).
    pub(super) async fn wait_until_settled(
        &self,
        pool: &sqlx::PgPool,
        ids: &[Uuid],
    ) -> Result<Vec<(String, i64)>, String> {
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let mut said = Instant::now();
        loop {
            let statuses = Self::statuses(pool, ids).await?;
            let open: i64 = statuses
                .iter()
                .filter(|(s, _)| s == "pending" || s == "processing")
                .map(|(_, n)| n)
                .sum();
            if open == 0 {
                return Ok(statuses);
            }
            if tokio::time::Instant::now() >= deadline {
                say(&format!(
                    "{open} event(s) still open after {} s",
                    self.options.timeout.as_secs()
                ));
                return Ok(statuses);
            }
            if said.elapsed() >= Duration::from_secs(5) {
                said = Instant::now();
                say(&format!("{open} of {} event(s) still open", ids.len()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the gate holds no write and the fleet's counters stop moving (two
    /// scrapes alike), so every late finalize is counted and logged; bounded by a
    /// held write's time and the request timeout.
    pub(super) async fn wait_until_quiet(&mut self) {
        let deadline = tokio::time::Instant::now() + self.options.hold + Duration::from_secs(30);
        let mut last: Option<Vec<f64>> = None;
        loop {
            let in_flight = self.gate.as_ref().map_or(0, |g| g.in_flight());
            if in_flight == 0 {
                self.scrape_after().await;
                let now: Vec<f64> = self
                    .fleet
                    .iter()
                    .flat_map(|m| {
                        let value =
                            |metric| m.last.as_ref().map_or(-1.0, |s| s.samples.sum(metric, &[]));
                        [
                            value("outbox_processed_total"),
                            value("outbox_owner_mismatch_skips_total"),
                            value("outbox_failed_total"),
                        ]
                    })
                    .collect();
                if last.as_ref() == Some(&now) {
                    return;
                }
                last = Some(now);
            }
            if tokio::time::Instant::now() >= deadline {
                say(&format!(
                    "the fleet did not go quiet ({in_flight} write(s) still at the gate)"
                ));
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The evidence the checks grade: rows, documents, the fleet's Δ, the logs.
    pub(super) async fn evidence(
        &self,
        statuses: &[(String, i64)],
        entities: &[Uuid],
    ) -> FleetEvidence {
        let delta = |member: &Member, metric: &str| {
            let value = |s: Option<&Scrape>| s.map(|s| s.samples.sum(metric, &[])).unwrap_or(0.0);
            crate::prom::delta(value(member.baseline.as_ref()), value(member.last.as_ref()))
        };
        let sum = |metric: &str| self.fleet.iter().map(|m| delta(m, metric)).sum::<f64>();
        let mismatch_log_lines = self
            .fleet
            .iter()
            .map(|m| {
                std::fs::read_to_string(&m.log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("outbox.owner_mismatch"))
                    .count()
            })
            .sum();
        let count = |status: &str| {
            statuses
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n as usize)
        };
        FleetEvidence {
            events: entities.len(),
            rows_done: count("done"),
            rows_not_done: statuses
                .iter()
                .filter(|(s, _)| s != "done")
                .map(|(s, n)| (s.clone(), *n as usize))
                .collect(),
            documents_found: self.documents_found(entities).await,
            processed: sum("outbox_processed_total"),
            owner_mismatch: sum("outbox_owner_mismatch_skips_total"),
            terminal_failed: sum("outbox_terminal_failed_total"),
            mismatch_log_lines,
            per_worker_processed: self
                .fleet
                .iter()
                .map(|m| (m.number, delta(m, "outbox_processed_total")))
                .collect(),
        }
    }

    /// How many entities ES has a document for at version 1 (read from ES itself, not
    /// through the gate): under upstream's id `<entity_type>:<id>`, else the bare id.
    pub(super) async fn documents_found(&self, entities: &[Uuid]) -> usize {
        let base = format!(
            "{}/{}/_doc",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let http = &self.http;
        let found = |entity: Uuid| {
            let base = base.clone();
            async move {
                for id in [format!("{ENTITY_TYPE}:{entity}"), entity.to_string()] {
                    let document = match http.get(format!("{base}/{id}")).send().await {
                        Ok(answer) => answer.json::<Value>().await.ok(),
                        Err(_) => None,
                    };
                    if let Some(document) = document
                        && crate::drill::observations::document_version(&document) == Some(1)
                    {
                        return true;
                    }
                }
                false
            }
        };
        futures::stream::iter(entities.iter().copied())
            .map(found)
            .buffer_unordered(16)
            .filter(|found| std::future::ready(*found))
            .count()
            .await
    }
}
