//! Who holds a TCP port: the proof that the `/metrics` a drill grades is served by the
//! worker it started, not by a stranger already listening there (another cockpit's
//! worker, a forgotten process). Read from Linux's `/proc` (the listening socket's
//! inode in `/proc/net/tcp{,6}`, then the process whose `fd/` holds that socket); on
//! other systems nothing can be proven and the checks say so by returning `Unknown`.

use std::collections::HashSet;
use std::path::Path;

/// A process listening on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its command line (arguments joined by spaces, cut to 160 characters).
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} (`{}`)", self.pid, self.command)
    }
}

/// What `/proc` says about a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortState {
    /// No socket listens on it.
    Free,
    /// These processes hold a listening socket on it (usually one).
    Held(Vec<Holder>),
    /// A socket listens but its process is not visible (another user's, another PID
    /// namespace), or `/proc` is not there.
    Unknown,
}

/// Who listens on TCP `port` (any local address, IPv4 or IPv6).
pub fn state(port: u16) -> PortState {
    state_under(Path::new("/proc"), port)
}

fn state_under(proc_root: &Path, port: u16) -> PortState {
    let mut inodes = HashSet::new();
    let mut readable = false;
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(proc_root.join(table)) {
            readable = true;
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if !readable {
        return PortState::Unknown;
    }
    if inodes.is_empty() {
        return PortState::Free;
    }
    let holders = holders_of(proc_root, &inodes);
    if holders.is_empty() {
        PortState::Unknown
    } else {
        PortState::Held(holders)
    }
}

/// The inodes of the sockets in LISTEN state (`0A`) on `port` in one `/proc/net/tcp*`
/// table (`sl local_address rem_address st … uid timeout inode`).
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?.parse::<u64>().ok()?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (*state == "0A" && local_port == port && inode != 0).then_some(inode)
        })
        .collect()
}

/// Every process with an open file descriptor on one of `inodes`.
fn holders_of(proc_root: &Path, inodes: &HashSet<u64>) -> Vec<Holder> {
    let wanted: HashSet<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut holders = Vec::new();
    let Ok(processes) = std::fs::read_dir(proc_root) else {
        return holders;
    };
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| wanted.contains(target.to_string_lossy().as_ref()))
        });
        if holds {
            holders.push(Holder {
                pid,
                command: command_line(proc_root, pid),
            });
        }
    }
    holders
}

fn command_line(proc_root: &Path, pid: u32) -> String {
    let raw = std::fs::read(proc_root.join(pid.to_string()).join("cmdline")).unwrap_or_default();
    let text: String = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    crate::sanitize::one_line(&text, 160)
}

/// The parent of `pid` (`/proc/<pid>/stat`'s fourth field; the command name before it
/// may hold spaces and parentheses, so it is read after the last `)`).
fn parent_of(proc_root: &Path, pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is `ancestor` or one of its descendants (a worker command may be a
/// shell or an interpreter that starts the process that listens).
pub fn descends_from(pid: u32, ancestor: u32) -> bool {
    descends_under(Path::new("/proc"), pid, ancestor)
}

fn descends_under(proc_root: &Path, mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent_of(proc_root, pid) {
            Some(parent) if parent != 0 && parent != pid => pid = parent,
            _ => return false,
        }
    }
    false
}

/// Why `port` (named by its setting) cannot be given to a new worker, if it cannot.
pub fn taken(port: u16, setting: &str) -> Option<String> {
    let held_by = match state(port) {
        PortState::Free => {
            // /proc may not show a socket bound but not listening yet: ask the kernel too.
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return None;
            }
            "a process that could not be identified".to_string()
        }
        PortState::Held(holders) => holders
            .iter()
            .map(Holder::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        PortState::Unknown => {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return None;
            }
            "a process this user cannot see".to_string()
        }
    };
    Some(format!(
        "port {port} ({setting}) is already in use by {held_by}: the worker could not serve its metrics there, and a drill must never grade another process's. Stop that process, or give the worker another port (--set {setting}=<free port>)"
    ))
}

/// Whether the process serving `port` is the worker started as `worker_pid` (or a
/// descendant of it). `Err` names the stranger; `Ok(false)` means it cannot be proven
/// on this system (nothing listens, or `/proc` hides it).
pub fn served_by(port: u16, worker_pid: u32) -> Result<bool, String> {
    match state(port) {
        PortState::Held(holders) => {
            if holders.iter().any(|h| descends_from(h.pid, worker_pid)) {
                Ok(true)
            } else {
                Err(format!(
                    "port {port} is served by {}, not by the worker this drill started (pid {worker_pid}): its metrics are not graded. Stop that process or choose another worker port",
                    holders
                        .iter()
                        .map(Holder::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        PortState::Free | PortState::Unknown => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2395 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:2395 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
   2: 00000000:2397 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn only_listening_sockets_on_the_port_count() {
        // 0x2395 = 9109, 0x2397 = 9111.
        assert_eq!(listening_inodes(TCP, 9109), vec![4242]);
        assert_eq!(listening_inodes(TCP, 9111), vec![4343]);
        assert!(listening_inodes(TCP, 80).is_empty());
        assert!(listening_inodes("garbage\nnot a table", 9109).is_empty());
    }

    #[test]
    fn a_listener_of_this_process_is_found_and_is_ours() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id();
        match state(port) {
            PortState::Held(holders) => assert!(holders.iter().any(|h| h.pid == me)),
            other => panic!("{other:?}"),
        }
        assert_eq!(served_by(port, me), Ok(true));
        let stranger = served_by(port, u32::MAX - 1).unwrap_err();
        assert!(stranger.contains(&format!("pid {me}")), "{stranger}");
        assert!(taken(port, "worker.metrics_port").is_some());
        drop(listener);
        assert!(taken(port, "worker.metrics_port").is_none());
    }

    #[test]
    fn a_process_descends_from_itself_and_its_ancestors() {
        let me = std::process::id();
        assert!(descends_from(me, me));
        assert!(descends_from(me, 1));
        assert!(!descends_from(1, me));
    }

    #[test]
    fn a_command_name_with_parentheses_and_spaces_does_not_confuse_the_parent() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("77")).unwrap();
        std::fs::write(root.path().join("77/stat"), "77 (a (b) c) S 12 77 77 0").unwrap();
        assert_eq!(parent_of(root.path(), 77), Some(12));
    }
}
