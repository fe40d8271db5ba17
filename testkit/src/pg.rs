//! A fresh database per test on the throwaway Postgres cluster that `scripts/test`
//! starts (its admin URL is `DRILL_TEST_PG_ADMIN_URL`).

use sqlx::Connection;

pub struct TestDatabase {
    pub name: String,
    /// `postgres://…/name`
    pub url: String,
}

/// Creates an empty database; `None` (skip) only outside CI when no cluster is configured.
pub async fn fresh_database() -> Option<TestDatabase> {
    let Ok(admin_url) = std::env::var("DRILL_TEST_PG_ADMIN_URL") else {
        return crate::env::unavailable(
            "Postgres",
            "run the tests through scripts/test, which starts a throwaway cluster and sets DRILL_TEST_PG_ADMIN_URL",
        );
    };
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(connection) => connection,
        Err(error) => panic!("cannot connect to the test cluster at {admin_url}: {error}"),
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    // The name is generated here from a UUID, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("CREATE DATABASE {name} failed: {error}"));
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    Some(TestDatabase {
        url: format!("{base}/{name}"),
        name,
    })
}
