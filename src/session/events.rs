//! The drill's outbox events: inserting them (every NOT NULL column set) and reading
//! back the state of the event under drill.

use serde_json::json;
use uuid::Uuid;

use super::*;

impl Session {
    pub async fn insert(&mut self, op: Op) -> Result<Uuid, String> {
        self.insert_events(op, &[(Uuid::new_v4(), None)]).await
    }

    /// The drill's `n`th event (0 = its trigger, `together` of them in one transaction,
    /// each its own entity); later ones of the entity of the previous one, at the
    /// scenario's version when it names one.
    pub async fn insert_nth(&mut self, n: usize, op: Op) -> Result<Uuid, String> {
        let version = self.drill.versions.get(n).copied();
        let entities: Vec<(Uuid, Option<i64>)> = match (n, self.last_entity) {
            (0, _) | (_, None) => (0..self.drill.together.max(1))
                .map(|_| (Uuid::new_v4(), version))
                .collect(),
            (_, Some(entity)) => vec![(entity, version)],
        };
        self.insert_events(op, &entities).await
    }

    /// The drill's next event: its trigger (`together` of them), then each of its
    /// further events of the same entity in turn, then a new trigger. The op it inserts.
    pub async fn insert_next(&mut self) -> Result<(Uuid, Op), String> {
        let n = self.chain_next % (self.drill.then.len() + 1);
        let op = match n {
            0 => self.drill.trigger,
            n => self.drill.then[n - 1],
        };
        let id = self.insert_nth(n, op).await?;
        self.chain_next = n + 1;
        Ok((id, op))
    }

    /// What the next `insert_next` inserts, in words (the key's label).
    pub fn next_event_words(&self) -> String {
        let n = self.chain_next % (self.drill.then.len() + 1);
        match n {
            0 if self.drill.together > 1 => format!(
                "{} {} events in one transaction",
                self.drill.together,
                self.drill.trigger.as_str()
            ),
            0 => format!("a {} event", self.drill.trigger.as_str()),
            n => format!(
                "{} of the same entity{}",
                self.drill.then[n - 1].as_str(),
                self.drill
                    .versions
                    .get(n)
                    .map(|v| format!(" at version {v}"))
                    .unwrap_or_default()
            ),
        }
    }

    /// Inserts one event per entity, all in one transaction; returns the last id.
    async fn insert_events(
        &mut self,
        op: Op,
        entities: &[(Uuid, Option<i64>)],
    ) -> Result<Uuid, String> {
        let events: Vec<NewEvent> = entities
            .iter()
            .map(|&(entity_id, version)| NewEvent {
                op,
                entity_id,
                version,
                traceparent: None,
            })
            .collect();
        let inserted = match (&self.pool, &self.schema_problem) {
            (None, _) => {
                Err("the database is not connected: see the Outbox pane for why".to_string())
            }
            (Some(_), Some(problem)) => Err(format!("the insert was not tried: {problem}")),
            (Some(pool), None) => insert_events(pool, &events)
                .await
                .map_err(|e| crate::db::schema::explain("the insert", &e)),
        };
        let ids = match inserted {
            Ok(ids) => ids,
            Err(error) => {
                let action = format!("insert {} event", op.as_str());
                return Err(self.action_failed(&action, error));
            }
        };
        for (id, event) in ids.iter().zip(&events) {
            self.inserted.push(*id);
            let of_the_drill = self.drill_events.len() < self.drill_event_count();
            if of_the_drill {
                self.drill_events.push(*id);
                self.last_entity = Some(event.entity_id);
            }
            self.journal("insert", json!({"op": op.as_str(), "outbox_event_id": id.to_string(), "entity_id": event.entity_id.to_string(), "together": events.len(), "of_the_drill": of_the_drill}));
        }
        ids.last()
            .copied()
            .ok_or_else(|| "the insert returned no id".to_string())
    }

    /// How many events make the drill: its trigger(s), then its chain.
    fn drill_event_count(&self) -> usize {
        self.drill.together.max(1) + self.drill.then.len()
    }

    /// Every event of the drill, as the outbox holds it now (empty when it cannot be
    /// read).
    pub async fn drill_rows(&self) -> Vec<crate::db::outbox::OutboxRow> {
        let Some(pool) = &self.pool else {
            return Vec::new();
        };
        crate::db::outbox::rows_by_id(pool, &self.drill_events)
            .await
            .unwrap_or_default()
    }

    /// The event the checks follow: the poison one once the outbox shows which (D),
    /// else the drill's newest (never an event inserted after the drill's chain).
    pub fn event_under_drill(&self) -> Option<Uuid> {
        self.poisoned.or_else(|| self.drill_events.last().copied())
    }

    /// D: the one row of the drill that ended failed is the event under drill.
    pub fn note_poisoned(&mut self, rows: &[crate::drill::RowState]) {
        if !matches!(
            self.drill.ends,
            crate::drill::scenario::Ends::OnePoisoned { .. }
        ) {
            return;
        }
        let failed: Vec<&crate::drill::RowState> =
            rows.iter().filter(|r| r.status == "failed").collect();
        if let [row] = failed.as_slice()
            && let Ok(id) = row.id.parse::<Uuid>()
            && self.poisoned != Some(id)
        {
            self.poisoned = Some(id);
            self.journal(
                "note",
                json!({"message": "the poison event is the event under drill", "outbox_event_id": id.to_string()}),
            );
        }
    }

    pub async fn event_status(&self) -> Option<String> {
        self.event_state().await.map(|(status, _)| status)
    }

    /// The drilled event's status and `error_reason`.
    pub async fn event_state(&self) -> Option<(String, Option<String>)> {
        let pool = self.pool.as_ref()?;
        let id = self.event_under_drill()?;
        crate::db::outbox::rows_by_id(pool, &[id])
            .await
            .ok()?
            .into_iter()
            .next()
            .map(|row| (row.status, row.error_reason))
    }

    /// Whether the event's state decides the final check now: after the fault was taken
    /// out for a transient drill, at any time for one whose event must end failed.
    pub fn end_state_due(&self) -> bool {
        self.fault_restored || !self.drill.recovers()
    }
}
