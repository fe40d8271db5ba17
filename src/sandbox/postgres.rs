//! The sandbox's PostgreSQL: a throwaway cluster from the machine's own server binaries
//! (`initdb` into a temporary directory, `pg_ctl` on a free loopback port), removed again
//! when the sandbox ends. Nothing is pulled, nothing is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where PostgreSQL's server binaries usually live, newest version first within each.
const USUAL_PLACES: &[&str] = &[
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/opt/homebrew/bin",
    "/usr/local/bin",
    "/Applications/Postgres.app/Contents/Versions/latest/bin",
];

/// What to run when no server binaries exist.
pub const INSTALL_HINT: &str = "install PostgreSQL's server: Debian/Ubuntu `sudo apt-get install postgresql`, Fedora `sudo dnf install postgresql-server`, macOS `brew install postgresql@16`; or give the sandbox a database with DATABASE_URL";

/// A running throwaway cluster; stopped and deleted on drop.
#[derive(Debug)]
pub struct LocalPostgres {
    pub bin: PathBuf,
    pub port: u16,
    dir: PathBuf,
    /// `runuser -u postgres --` when we are root (initdb refuses to run as root).
    run_as: Vec<String>,
}

/// The directory holding `initdb` and `pg_ctl`: `DRILL_PG_BIN`, then `PATH`, then the
/// usual install locations (the highest version first).
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("DRILL_PG_BIN").map(PathBuf::from) {
        return has_server(&dir).then_some(dir);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|d| has_server(d)) {
        return Some(dir);
    }
    USUAL_PLACES.iter().find_map(|pattern| {
        let mut found = expand(pattern);
        // `…/16/bin` after `…/9/bin`: compare the version numerically.
        found.sort_by_key(|p| version_of(p));
        found.into_iter().rev().find(|d| has_server(d))
    })
}

/// The paths matching a pattern with at most one `*` in one path component.
fn expand(pattern: &str) -> Vec<PathBuf> {
    let Some((head, tail)) = pattern.split_once('*') else {
        return vec![PathBuf::from(pattern)];
    };
    let (parent, prefix) = head.rsplit_once('/').unwrap_or(("", head));
    let (suffix, rest) = tail.split_once('/').unwrap_or((tail, ""));
    std::fs::read_dir(if parent.is_empty() { "/" } else { parent })
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.starts_with(prefix) && name.ends_with(suffix)).then(|| entry.path().join(rest))
        })
        .collect()
}

/// The first number in a path (`/usr/lib/postgresql/16/bin` → 16).
fn version_of(path: &Path) -> u32 {
    let text = path.to_string_lossy();
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("{what}: cannot run it: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "{what} failed ({}): {}",
        output.status,
        crate::sanitize::one_line(stderr.trim(), 400)
    ))
}

impl LocalPostgres {
    /// `initdb` + `pg_ctl start` on 127.0.0.1:`port` (trust auth, no fsync: a practice
    /// range, not a database to keep).
    pub fn start(port: u16) -> Result<LocalPostgres, String> {
        let bin = find_bin_dir().ok_or_else(|| {
            format!("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in the usual places: {INSTALL_HINT}")
        })?;
        let dir = std::env::temp_dir().join(format!(
            "drill-sandbox-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let run_as = root_fallback(&dir)?;
        let postgres = LocalPostgres {
            bin,
            port,
            dir,
            run_as,
        };
        let data = postgres.dir.join("data");
        run(
            postgres.command("initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]),
            "initdb",
        )?;
        run(
            postgres
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(postgres.dir.join("log"))
                .arg("-w")
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=100",
                    postgres.dir.display()
                ))
                .arg("start"),
            "pg_ctl start",
        )
        .map_err(|e| format!("{e}; its log: {}", postgres.dir.join("log").display()))?;
        Ok(postgres)
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bin.join(program);
        match self.run_as.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(binary);
                command
            }
            None => Command::new(binary),
        }
    }

    /// The superuser's URL of database `name` (trust auth: no password).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// As root, the cluster belongs to the `postgres` user (initdb refuses root).
fn root_fallback(dir: &Path) -> Result<Vec<String>, String> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(Vec::new());
    }
    let name = std::ffi::CString::new("postgres").map_err(|e| e.to_string())?;
    let user = unsafe { libc::getpwnam(name.as_ptr()) };
    if user.is_null() {
        return Err(
            "running as root, and initdb refuses root: create a `postgres` user (useradd --system postgres) or run as a normal user".into(),
        );
    }
    let (uid, gid) = unsafe { ((*user).pw_uid, (*user).pw_gid) };
    let path =
        std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    if unsafe { libc::chown(path.as_ptr(), uid, gid) } != 0 {
        return Err(format!(
            "giving {} to the postgres user failed: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(vec![
        "runuser".into(),
        "-u".into(),
        "postgres".into(),
        "--".into(),
    ])
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        assert_eq!(version_of(Path::new("/usr/lib/postgresql/16/bin")), 16);
        assert!(
            version_of(Path::new("/usr/lib/postgresql/16/bin"))
                > version_of(Path::new("/usr/lib/postgresql/9/bin"))
        );
        assert_eq!(version_of(Path::new("/usr/local/pgsql/bin")), 0);
    }

    #[test]
    fn an_explicit_directory_without_a_server_is_not_used() {
        let dir = std::env::temp_dir();
        // SAFETY of the test: only this test reads DRILL_PG_BIN.
        unsafe { std::env::set_var("DRILL_PG_BIN", &dir) };
        assert_eq!(find_bin_dir(), None);
        unsafe { std::env::remove_var("DRILL_PG_BIN") };
    }
}
