//! The schema migrations in `assets/migrations/`, embedded in the binary.

use sqlx::PgPool;

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The migrations, listed by hand rather than by `sqlx::migrate!`: the macro needs
/// sqlx's `macros` feature, which builds a second copy of sqlx and its TLS stack at
/// compile time (about a fifth of a clean build). The checksum is the same SHA-384 of the
/// file's text the macro would compute, so databases migrated by earlier builds agree.
/// A test checks that this list and the folder hold the same files.
pub const MIGRATION_FILES: &[(i64, &str, &str)] = &[
    (
        20260214000001,
        "search outbox events",
        include_str!("../../assets/migrations/20260214000001_search_outbox_events.sql"),
    ),
    (
        20260214000002,
        "claim indexes",
        include_str!("../../assets/migrations/20260214000002_claim_indexes.sql"),
    ),
    (
        20260214000003,
        "drop superseded claim index",
        include_str!("../../assets/migrations/20260214000003_drop_superseded_claim_index.sql"),
    ),
    (
        20261128000004,
        "search index like upstream",
        include_str!("../../assets/migrations/20261128000004_search_index_like_upstream.sql"),
    ),
];

pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    Migrator::with_migrations(
        MIGRATION_FILES
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
});

/// Applies every pending migration; returns the versions applied now.
pub async fn apply(pool: &PgPool) -> Result<Vec<i64>, sqlx::migrate::MigrateError> {
    let before: Vec<i64> = applied_versions(pool).await.unwrap_or_default();
    MIGRATOR.run(pool).await?;
    let after = applied_versions(pool).await.unwrap_or_default();
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::MIGRATION_FILES;

    #[test]
    fn the_listed_migrations_are_exactly_the_files_in_the_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/migrations");
        let mut on_disk: Vec<(i64, String)> = std::fs::read_dir(dir)
            .expect("assets/migrations is readable")
            .map(|entry| {
                entry
                    .expect("a directory entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8 name")
            })
            .filter(|name| name.ends_with(".sql"))
            .map(|name| {
                let (version, rest) = name.split_once('_').expect("VERSION_description.sql");
                let text = std::fs::read_to_string(format!("{dir}/{name}")).expect("readable");
                let _ = rest;
                (version.parse().expect("a numeric version"), text)
            })
            .collect();
        on_disk.sort();
        let listed: Vec<(i64, String)> = MIGRATION_FILES
            .iter()
            .map(|(v, _, sql)| (*v, sql.to_string()))
            .collect();
        assert_eq!(
            listed, on_disk,
            "add the new file to MIGRATION_FILES in src/db/migrate.rs"
        );
    }
}
