//! Soak: 10 000 events through two workers while Elasticsearch is stopped and
//! restarted twice, answers 429 in bursts, and one worker is killed with SIGKILL.
//! At the end every event is settled and the index equals the projection of the
//! latest version of every entity: nothing lost, nothing stale.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{INDEX, Rig, Schema, eventually};
use drill_cockpit::db::outbox::{NewEvent, Op, insert_event};
use uuid::Uuid;

const ENTITIES: usize = 2_000;
const EVENTS_PER_ENTITY: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_survive_es_outages_429s_and_a_killed_worker() {
    soak(Schema::Ours).await;
}

/// The same soak on upstream's schema: none of our partial claim indexes, no defaults
/// for `replay_count` or `search_index.id`: the reference worker must be as correct there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soak_holds_on_upstreams_schema_too() {
    soak(Schema::Upstream).await;
}

async fn soak(schema: Schema) {
    let Some(rig) = Rig::with_schema(schema).await else {
        return;
    };
    let started = Instant::now();
    let tuning: &[(&str, &str)] = &[
        ("OUTBOX_LEASE_SECONDS", "2"),
        ("OUTBOX_MAX_ATTEMPTS", "100"),
        ("OUTBOX_BASE_BACKOFF_SECONDS", "0.05"),
        ("OUTBOX_MAX_BACKOFF_SECONDS", "0.5"),
        ("OUTBOX_BATCH_SIZE", "100"),
        ("OUTBOX_ES_TIMEOUT_SECONDS", "2"),
    ];
    let mut first = rig.spawn_worker("w-soak-1", tuning);
    let bulk: Vec<(&str, &str)> = tuning
        .iter()
        .copied()
        .chain([("OUTBOX_USE_ES_BULK", "1")])
        .collect();
    let second = rig.spawn_worker("w-soak-2", &bulk);

    // Producers: every entity gets 5 versions; every 4th ends with a delete.
    let entities: Vec<Uuid> = (0..ENTITIES).map(|_| Uuid::new_v4()).collect();
    let mut producers = Vec::new();
    for chunk in entities.chunks(ENTITIES / 8) {
        let pool = rig.pool.clone();
        let chunk = chunk.to_vec();
        producers.push(tokio::spawn(async move {
            for version in 1..=EVENTS_PER_ENTITY as i64 {
                for (i, entity) in chunk.iter().enumerate() {
                    let op = if version == EVENTS_PER_ENTITY as i64 && i % 4 == 0 {
                        Op::Delete
                    } else {
                        Op::Upsert
                    };
                    let event = NewEvent {
                        op,
                        entity_id: *entity,
                        version: Some(version),
                        traceparent: None,
                    };
                    insert_event(&pool, &event).await.expect("insert");
                }
            }
        }));
    }

    // Chaos, while the producers run.
    tokio::time::sleep(Duration::from_millis(700)).await;
    rig.es.server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rig.es.server.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.es.state.inject(429, 30);
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.kill9();
    let third = rig.spawn_worker("w-soak-3", tuning);
    tokio::time::sleep(Duration::from_millis(700)).await;
    rig.es.server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rig.es.server.start().await.unwrap();
    rig.es.state.inject(429, 30);

    for producer in producers {
        producer.await.unwrap();
    }
    let total = (ENTITIES * EVENTS_PER_ENTITY) as i64;
    let settled = eventually(Duration::from_secs(120), || async {
        let statuses = rig.statuses().await;
        statuses.get("done").copied().unwrap_or(0) + statuses.get("failed").copied().unwrap_or(0)
            == total
    })
    .await;
    assert!(
        settled,
        "not settled: {:?}\nworker 2:\n{}",
        rig.statuses().await,
        second
            .log()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Failed rows, if any, are failed for a reason that justifies it.
    let failed: Vec<(String, i32)> = sqlx::query_as("SELECT coalesce(error_reason, '')::text, attempts FROM search_outbox_events WHERE status = 'failed'")
        .fetch_all(&rig.pool)
        .await
        .unwrap();
    for (reason, attempts) in &failed {
        assert!(
            reason == "es_4xx" || *attempts >= 100,
            "unjustified failure: {reason} after {attempts} attempts"
        );
    }

    // The index equals the projection of the latest state of every entity.
    let expected: HashMap<Uuid, (i64, String)> = sqlx::query_as::<_, (Uuid, i64, String)>(
        "SELECT entity_id, event_version, text FROM search_index",
    )
    .fetch_all(&rig.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, version, text)| (id, (version, text)))
    .collect();
    let documents = rig.es.state.documents(INDEX);
    let mut lost = 0;
    let mut stale = 0;
    for (entity, (version, text)) in &expected {
        match documents.get(&entity.to_string()) {
            None => lost += 1,
            Some(doc) if doc.version != *version || doc.source["text"] != *text => stale += 1,
            Some(_) => {}
        }
    }
    let resurrected = documents
        .keys()
        .filter(|id| {
            id.parse::<Uuid>()
                .map(|u| !expected.contains_key(&u))
                .unwrap_or(true)
        })
        .count();
    let deleted = entities
        .chunks(ENTITIES / 8)
        .map(|chunk| chunk.len().div_ceil(4))
        .sum::<usize>();
    assert_eq!(
        expected.len(),
        ENTITIES - deleted,
        "deleted entities have no search_index row"
    );
    assert_eq!(
        (lost, stale, resurrected),
        (0, 0, 0),
        "lost, stale, deleted-but-present documents"
    );
    assert_eq!(failed.len(), 0, "no event needed to fail in this soak");
    eprintln!(
        "soak: {total} events settled in {:?}; retries seen by worker 2: {}, by worker 3: {}",
        started.elapsed(),
        second.counter("outbox_retry_scheduled_total", None).await,
        third.counter("outbox_retry_scheduled_total", None).await
    );
}
