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

/// A Postgres cluster of the test's own, for tests that stop and start the server.
/// Uses the binaries `scripts/test` found (`DRILL_TEST_PG_BIN`); runs as `postgres` when root.
pub struct OwnCluster {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    pub port: u16,
}

impl OwnCluster {
    pub fn start() -> Option<OwnCluster> {
        let Ok(bin) = std::env::var("DRILL_TEST_PG_BIN") else {
            return crate::env::unavailable(
                "Postgres binaries",
                "run the tests through scripts/test, which sets DRILL_TEST_PG_BIN",
            );
        };
        let dir =
            std::env::temp_dir().join(format!("drill-own-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create cluster dir");
        let cluster = OwnCluster {
            dir,
            bin: bin.into(),
            port: crate::docker::free_port(),
        };
        cluster.chown();
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        cluster.up();
        let psql = std::process::Command::new(cluster.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.port.to_string(),
                "-U",
                "postgres",
                "-q",
                "-c",
                "CREATE ROLE wordloom LOGIN SUPERUSER PASSWORD 'wordloom'",
                "-c",
                "CREATE DATABASE drill OWNER wordloom",
            ])
            .output()
            .expect("run psql");
        assert!(
            psql.status.success(),
            "{}",
            String::from_utf8_lossy(&psql.stderr)
        );
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://wordloom:wordloom@127.0.0.1:{}/drill", self.port)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    }

    fn chown(&self) {
        if Self::is_root() {
            let _ = std::process::Command::new("chown")
                .args(["-R", "postgres", &self.dir.display().to_string()])
                .status();
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let output = if Self::is_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            std::process::Command::new(&program).args(args).output()
        }
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            output.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server (again).
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// Stops the server at once, dropping every connection.
    pub fn down(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.down());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The schema upstream's own migrations leave (CONTRACT.md §2a): no default for
/// `replay_count` or `search_index.id/created_at/updated_at`, none of our partial
/// indexes, no CHECKs. See `testkit/sql/upstream_schema.sql`.
pub const UPSTREAM_SCHEMA_SQL: &str = include_str!("../sql/upstream_schema.sql");

/// Which schema a test database carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// drill-cockpit's own migrations (the test applies them, or the cockpit does).
    Ours,
    /// Upstream's, built from [`UPSTREAM_SCHEMA_SQL`]; never migrated by the cockpit.
    Upstream,
}

impl Schema {
    pub const BOTH: [Schema; 2] = [Schema::Ours, Schema::Upstream];
}

/// Builds upstream's tables in the database at `url` (as the role of that URL, so it owns them).
pub async fn apply_upstream_schema(url: &str) {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|error| panic!("connect {url}: {error}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(UPSTREAM_SCHEMA_SQL))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|error| panic!("building upstream's schema failed: {error}"));
}
