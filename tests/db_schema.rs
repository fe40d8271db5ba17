//! `drill-cockpit db migrate` and `insert` as a user runs them, against real Postgres.

use std::process::Command;

use sqlx::Connection;

const CONTRACT_COLUMNS: &[(&str, &str)] = &[
    ("id", "uuid"),
    ("entity_type", "character varying"),
    ("entity_id", "uuid"),
    ("op", "character varying"),
    ("event_version", "bigint"),
    ("created_at", "timestamp with time zone"),
    ("updated_at", "timestamp with time zone"),
    ("status", "character varying"),
    ("owner", "character varying"),
    ("lease_until", "timestamp with time zone"),
    ("attempts", "integer"),
    ("next_retry_at", "timestamp with time zone"),
    ("processed_at", "timestamp with time zone"),
    ("processing_started_at", "timestamp with time zone"),
    ("error_reason", "character varying"),
    ("error", "text"),
    ("traceparent", "character varying"),
    ("tracestate", "text"),
    ("replay_count", "integer"),
    ("last_replayed_at", "timestamp with time zone"),
    ("last_replayed_by", "character varying"),
    ("last_replayed_reason", "text"),
];

fn cockpit(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(args)
        // The contract's SQLAlchemy form, as users have it in their .env files.
        .env(
            "DATABASE_URL",
            database_url.replacen("postgres://", "postgresql+psycopg://", 1),
        )
        .output()
        .expect("run drill-cockpit")
}

#[tokio::test]
async fn migrate_creates_every_contract_column_and_insert_prints_outbox_ids() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    let output = cockpit(&db.url, &["db", "migrate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("applied migration"));
    let again = cockpit(&db.url, &["db", "migrate"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));

    let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let columns: Vec<(String, String, Option<i32>)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, character_maximum_length FROM information_schema.columns
         WHERE table_name = 'search_outbox_events' ORDER BY ordinal_position",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    for (name, data_type) in CONTRACT_COLUMNS {
        let found = columns.iter().find(|(column, _, _)| column == name);
        assert_eq!(
            found.map(|(_, t, _)| t.as_str()),
            Some(*data_type),
            "column {name}"
        );
    }
    let length = |name: &str| columns.iter().find(|c| c.0 == name).and_then(|c| c.2);
    assert_eq!(length("entity_type"), Some(50));
    assert_eq!(length("op"), Some(20));
    assert_eq!(length("status"), Some(20));
    assert_eq!(length("owner"), Some(120));
    assert_eq!(length("error_reason"), Some(80));

    let output = cockpit(&db.url, &["insert", "--op", "upsert", "--count", "3"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ids: Vec<uuid::Uuid> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    let rows: Vec<(uuid::Uuid, uuid::Uuid, String, i64, String)> = sqlx::query_as(
        "SELECT o.id, o.entity_id, o.op, o.event_version, o.status FROM search_outbox_events o
         JOIN search_index s ON s.entity_id = o.entity_id AND s.event_version = o.event_version",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "every upsert has its search_index row");
    for (id, entity_id, op, version, status) in rows {
        assert!(ids.contains(&id));
        assert_ne!(id, entity_id);
        assert_eq!(
            (op.as_str(), version, status.as_str()),
            ("upsert", 1, "pending")
        );
    }

    let bad = cockpit(&db.url, &["insert", "--op", "upsret"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use upsert or delete"));
}

#[test]
fn unreachable_database_is_a_clear_error_without_the_password() {
    let output = cockpit(
        "postgres://wordloom:hunter2@127.0.0.1:1/nowhere",
        &["db", "migrate"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "cannot connect to Postgres at postgresql+psycopg://wordloom:***@127.0.0.1:1/nowhere"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
