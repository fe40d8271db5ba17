//! The schema migrations in `assets/migrations/`, embedded in the binary.

use sqlx::PgPool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./assets/migrations");

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
