//! The sandbox's PostgreSQL: a throwaway cluster from the machine's own server binaries
//! (`initdb` into a temporary directory, `pg_ctl` on a free loopback port), removed again
//! when the sandbox ends. Nothing is pulled, nothing is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::leftovers::{Entry, Leftover, Owner, StateFile};

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
    /// Its entry in the fault state file, when it has one: `pg_ctl` daemonizes the
    /// server, so a drill-cockpit killed with SIGKILL leaves it running; the next start
    /// stops it from this record.
    record: Option<Box<(StateFile, Entry)>>,
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
        LocalPostgres::start_recorded(port, None)
    }

    /// [`LocalPostgres::start`], the cluster recorded in `state` before it is made.
    pub fn start_recorded(port: u16, state: Option<StateFile>) -> Result<LocalPostgres, String> {
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
        let mut postgres = LocalPostgres {
            bin,
            port,
            dir,
            run_as,
            record: None,
        };
        let data = postgres.dir.join("data");
        // Recorded before it exists: a kill between here and `pg_ctl start` leaves a
        // directory (and maybe a server) that the next start finds.
        let leftover = cluster_leftover(&postgres.dir, &postgres.bin, None);
        postgres.record =
            state.map(|state| Box::new((state, Entry::new(Owner::process(), leftover))));
        postgres.write_record(None)?;
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
        let postmaster = crate::leftovers::restore::postmaster_pid(&data);
        postgres.write_record(postmaster)?;
        Ok(postgres)
    }

    /// Writes (or updates) the cluster's entry in the state file, if it has one.
    fn write_record(&mut self, postmaster: Option<u32>) -> Result<(), String> {
        let leftover = cluster_leftover(&self.dir, &self.bin, postmaster);
        let Some((state, entry)) = self.record.as_deref_mut() else {
            return Ok(());
        };
        entry.leftover = leftover;
        state
            .replace(entry.clone())
            .map_err(|e| format!("recording the sandbox's Postgres: {e}"))
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

/// The state file's entry of the cluster in `dir`.
fn cluster_leftover(dir: &Path, bin: &Path, postmaster: Option<u32>) -> Leftover {
    Leftover::SandboxPostgres {
        dir: dir.to_path_buf(),
        data_dir: dir.join("data"),
        bin: bin.to_path_buf(),
        postmaster_pid: postmaster,
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
        if let Some((state, entry)) = self.record.take().map(|record| *record) {
            let _ = state.remove(|e| e.id == entry.id);
        }
    }
}

/// `pg_ctl stop -m immediate` on `data_dir` (a cluster a dead drill-cockpit left), as
/// the `postgres` user when we are root. `bin` is where its binaries were; when they
/// are gone, the ones found now.
pub fn stop_cluster(bin: &Path, data_dir: &Path) -> Result<(), String> {
    let bin = if bin.join("pg_ctl").is_file() {
        bin.to_path_buf()
    } else {
        find_bin_dir()
            .ok_or_else(|| format!("no pg_ctl to stop {}: {INSTALL_HINT}", data_dir.display()))?
    };
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join("pg_ctl"));
        command
    } else {
        Command::new(bin.join("pg_ctl"))
    };
    run(
        command
            .arg("-D")
            .arg(data_dir)
            .args(["-m", "immediate", "-w", "stop"]),
        &format!("pg_ctl stop of {}", data_dir.display()),
    )
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
