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

/// The insert helper on a database built the way upstream's migrations leave it
/// (no default for replay_count, search_index.id/created_at/updated_at).
#[tokio::test]
async fn insert_works_on_upstreams_schema_and_writes_every_not_null_column() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    testkit::pg::apply_upstream_schema(&db.url).await;
    let mut ids = Vec::new();
    for op in ["delete", "upsert"] {
        let output = cockpit(&db.url, &["insert", "--op", op]);
        assert!(
            output.status.success(),
            "insert --op {op}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        ids.push(
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<uuid::Uuid>()
                .unwrap(),
        );
    }
    let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let rows: Vec<(uuid::Uuid, String, String, i32, i32)> = sqlx::query_as(
        "SELECT id, op::text, status::text, attempts, replay_count FROM search_outbox_events ORDER BY created_at",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for (row, id) in rows.iter().zip(&ids) {
        assert_eq!(&row.0, id);
        assert_eq!((row.2.as_str(), row.3, row.4), ("pending", 0, 0));
    }
    let index: Vec<(uuid::Uuid, Option<uuid::Uuid>, i64)> = sqlx::query_as(
        "SELECT id, library_id, event_version FROM search_index WHERE created_at IS NOT NULL AND updated_at IS NOT NULL",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(index.len(), 1, "the upsert wrote its search_index row");
    assert_eq!(index[0].1, None, "library_id is left alone");

    // The same entity upserted again keeps its search_index id (a conflict update).
    let entity: (uuid::Uuid,) = sqlx::query_as("SELECT entity_id FROM search_index")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let again = cockpit(
        &db.url,
        &[
            "insert",
            "--op",
            "upsert",
            "--entity-id",
            &entity.0.to_string(),
        ],
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let after: Vec<(uuid::Uuid, i64)> =
        sqlx::query_as("SELECT id, event_version FROM search_index")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(after, vec![(index[0].0, 2)]);
}

#[tokio::test]
async fn a_database_without_a_needed_column_is_refused_naming_it() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    testkit::pg::apply_upstream_schema(&db.url).await;
    let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("ALTER TABLE search_outbox_events DROP COLUMN replay_count")
        .execute(&mut connection)
        .await
        .unwrap();
    let output = cockpit(&db.url, &["insert", "--op", "delete"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("table search_outbox_events has no column replay_count"),
        "{stderr}"
    );
    let count: (i64,) = sqlx::query_as("SELECT count(*) FROM search_outbox_events")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(count.0, 0, "nothing was written");
}

#[tokio::test]
async fn a_not_null_column_without_default_is_explained_in_words() {
    let Some(db) = testkit::pg::fresh_database().await else {
        return;
    };
    testkit::pg::apply_upstream_schema(&db.url).await;
    let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // A column a future upstream migration might add, that drill-cockpit does not know.
    sqlx::query("ALTER TABLE search_outbox_events ADD COLUMN tenant_id uuid NOT NULL")
        .execute(&mut connection)
        .await
        .unwrap();
    let output = cockpit(&db.url, &["insert", "--op", "delete"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the database rejected the insert: column tenant_id of search_outbox_events is NOT NULL and has no default there"),
        "{stderr}"
    );
}
