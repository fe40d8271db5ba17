//! Processes, as `/proc` shows them (Linux): whether one still runs (a reused pid is
//! told apart by its start time), its command line, and making a child die with us.

use std::time::Duration;

/// The fields of `/proc/<pid>/stat` after the command name: (state, start time).
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces or parentheses itself.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 of stat(5) is the state, field 22 the start time.
    let state = fields.first()?.chars().next()?;
    let started = fields.get(19)?.parse().ok()?;
    Some((state, started))
}

/// When the process started, in clock ticks since boot.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, started)| started)
}

/// Whether `pid` runs (a zombie does not: it holds no port, no file) and, when
/// `started` is given, is the process that started then (not a reused pid).
pub fn alive(pid: u32, started: Option<u64>) -> bool {
    match stat(pid) {
        Some(('Z' | 'X' | 'x', _)) => false,
        Some((_, ticks)) => started.is_none_or(|s| s == ticks),
        None => false,
    }
}

/// The process's argument vector (`/proc/<pid>/cmdline`).
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect(),
    )
}

/// Ends `pid`: SIGTERM, then SIGKILL if it still runs after `grace`. Returns whether
/// it is gone.
pub async fn end(pid: u32, started: Option<u64>, grace: Duration) -> bool {
    for (signal, wait) in [(libc::SIGTERM, grace), (libc::SIGKILL, grace)] {
        if !alive(pid, started) {
            return true;
        }
        // A worker leads its own process group (we spawn it so): what it started dies
        // with it. SAFETY: getpgid(2) and kill(2) touch no memory; the pid was checked
        // to be the one recorded (same start time) just before.
        unsafe {
            if libc::getpgid(pid as i32) == pid as i32 {
                libc::kill(-(pid as i32), signal);
            } else {
                libc::kill(pid as i32, signal);
            }
        }
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            if !alive(pid, started) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    !alive(pid, started)
}

/// Makes the child of `command` get SIGKILL when we die (Linux `PR_SET_PDEATHSIG`):
/// a drill-cockpit killed with SIGKILL leaves no worker holding its ports.
///
/// The signal comes when the *thread* that spawned the child ends: the worker is
/// spawned from the async runtime's threads (or the main thread), which live as long
/// as the process.
#[cfg(target_os = "linux")]
pub fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: getpid(2) before fork, in the parent.
    let parent = unsafe { libc::getpid() };
    let hook = move || {
        // SAFETY: this runs in the child between fork and exec, where only
        // async-signal-safe functions may be called: prctl(2) and getppid(2) are
        // plain system calls, and the error path builds an io::Error from a raw
        // errno, which allocates nothing. No lock, no allocation, no Rust runtime.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: the signal would never come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    };
    // SAFETY: see the hook: it only makes async-signal-safe system calls.
    unsafe {
        command.pre_exec(hook);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn die_with_parent(_command: &mut tokio::process::Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_its_command_line_is_read() {
        let me = std::process::id();
        assert!(alive(me, start_ticks(me)));
        assert!(!alive(me, start_ticks(me).map(|t| t + 1)));
        assert!(!cmdline(me).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_child_with_the_hook_runs_and_end_stops_it() {
        let mut command = tokio::process::Command::new("sleep");
        command.arg("30");
        die_with_parent(&mut command);
        let mut child = command.spawn().unwrap();
        let pid = child.id().unwrap();
        let started = start_ticks(pid);
        assert!(alive(pid, started));
        let reaper = tokio::spawn(async move { child.wait().await });
        assert!(end(pid, started, Duration::from_secs(2)).await);
        let _ = reaper.await;
    }
}
