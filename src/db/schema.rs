//! What drill-cockpit needs of a database it did not create (upstream's, CONTRACT.md
//! §2a, or ours), checked before it writes, and database errors told in words a user
//! can act on. The cockpit never guesses a missing column and never migrates a
//! database that is not ours.

use sqlx::PgPool;

/// Every column drill-cockpit reads or writes, per table. A database missing one of
/// them cannot be drilled: the check names it and stops.
pub const REQUIRED_COLUMNS: &[(&str, &[&str])] = &[
    (
        "search_outbox_events",
        &[
            "id",
            "entity_type",
            "entity_id",
            "op",
            "event_version",
            "created_at",
            "updated_at",
            "status",
            "owner",
            "lease_until",
            "attempts",
            "next_retry_at",
            "processed_at",
            "processing_started_at",
            "error_reason",
            "error",
            "traceparent",
            "replay_count",
        ],
    ),
    (
        "search_index",
        &[
            "id",
            "entity_type",
            "entity_id",
            "text",
            "snippet",
            "rank_score",
            "event_version",
            "created_at",
            "updated_at",
        ],
    ),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error(
        "table {table} does not exist in this database: point DATABASE_URL at the database the worker uses, or run `drill-cockpit db migrate` on a database of drill-cockpit's own"
    )]
    MissingTable { table: String },
    #[error(
        "table {table} has no column {column}, which drill-cockpit needs (CONTRACT.md §2): this database is older or other than the contract's; migrate it with the worker's own migrations"
    )]
    MissingColumn { table: String, column: String },
    #[error("cannot read the schema of the database: {0}")]
    Read(String),
}

/// Checks that every required table and column exists (in the connection's search path).
pub async fn check(pool: &PgPool) -> Result<(), SchemaError> {
    let present: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = ANY(current_schemas(false))
           AND table_name IN ('search_outbox_events', 'search_index')",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| SchemaError::Read(e.to_string()))?;
    missing(&present).map_or(Ok(()), Err)
}

/// The first required table or column absent from `present` (table, column) pairs.
fn missing(present: &[(String, String)]) -> Option<SchemaError> {
    for (table, columns) in REQUIRED_COLUMNS {
        if !present.iter().any(|(t, _)| t == table) {
            return Some(SchemaError::MissingTable {
                table: table.to_string(),
            });
        }
        for column in *columns {
            if !present.iter().any(|(t, c)| t == table && c == column) {
                return Some(SchemaError::MissingColumn {
                    table: table.to_string(),
                    column: column.to_string(),
                });
            }
        }
    }
    None
}

/// A database error as a sentence that names the table/column and the fix. `action`
/// is what was attempted ("the insert").
pub fn explain(action: &str, error: &sqlx::Error) -> String {
    let Some(db) = error.as_database_error() else {
        return format!("{action} failed: {error}");
    };
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
    let table = pg.and_then(|e| e.table()).unwrap_or("the table");
    let column = pg.and_then(|e| e.column());
    let constraint = pg.and_then(|e| e.constraint()).unwrap_or("?");
    match db.code().as_deref() {
        Some("23502") => format!(
            "the database rejected {action}: column {} of {table} is NOT NULL and has no default there; this database is not migrated by drill-cockpit, and drill-cockpit must write that column itself (please report it)",
            column.unwrap_or("?")
        ),
        Some("23514") => format!(
            "the database rejected {action}: check constraint {constraint} of {table} failed ({})",
            db.message()
        ),
        Some("23505") => format!(
            "the database rejected {action}: unique constraint {constraint} of {table} ({})",
            db.message()
        ),
        Some("42P01") => format!(
            "{action} failed: {}. Point DATABASE_URL at the database the worker uses, or run `drill-cockpit db migrate` on a database of drill-cockpit's own",
            db.message()
        ),
        Some("42703") => format!(
            "{action} failed: {}. This database lacks a column of the contract (CONTRACT.md §2); migrate it with the worker's own migrations",
            db.message()
        ),
        Some("42501") => format!(
            "the database refused {action}: {}. Grant the role of DATABASE_URL INSERT/UPDATE on search_outbox_events and search_index",
            db.message()
        ),
        _ => format!("the database rejected {action}: {}", db.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_present() -> Vec<(String, String)> {
        REQUIRED_COLUMNS
            .iter()
            .flat_map(|(t, cs)| cs.iter().map(|c| (t.to_string(), c.to_string())))
            .collect()
    }

    #[test]
    fn names_the_first_missing_table_or_column() {
        assert_eq!(missing(&all_present()), None);
        let without_replay: Vec<_> = all_present()
            .into_iter()
            .filter(|(_, c)| c != "replay_count")
            .collect();
        assert_eq!(
            missing(&without_replay),
            Some(SchemaError::MissingColumn {
                table: "search_outbox_events".into(),
                column: "replay_count".into()
            })
        );
        let no_index: Vec<_> = all_present()
            .into_iter()
            .filter(|(t, _)| t != "search_index")
            .collect();
        assert!(
            missing(&no_index)
                .unwrap()
                .to_string()
                .contains("table search_index does not exist")
        );
    }
}
