//! Starting and supervising the worker under drill (the bundled one or any configured
//! command), with its stdout and stderr captured line by line: every line is redacted,
//! appended in full to the run's log file, and kept (cut for display) in a bounded
//! in-memory tail. Reading is decoupled from writing so a log flood never slows the
//! child; memory stays bounded whatever it prints.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::config::Profile;
use crate::config::redact::Redactor;

/// Lines kept in memory for the log pane.
pub const TAIL_LINES: usize = 5_000;
/// A longer line is cut in the tail (never in the file).
pub const TAIL_LINE_CHARS: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Running {
        pid: u32,
    },
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    FailedToStart {
        message: String,
    },
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerState::Running { pid } => write!(f, "running (pid {pid})"),
            WorkerState::Exited {
                code: Some(code), ..
            } => write!(f, "exited with code {code}"),
            WorkerState::Exited {
                signal: Some(signal),
                ..
            } => write!(f, "killed by signal {signal}"),
            WorkerState::Exited { .. } => write!(f, "exited"),
            WorkerState::FailedToStart { message } => write!(f, "failed to start: {message}"),
        }
    }
}

/// Lines the checks look at (schema marker, errors and warnings, tracing state), kept
/// whole beside the tail so live grading never re-reads a log file that may be huge.
pub const KEY_LINES: usize = 2_000;

/// The shared tail of the worker's output.
#[derive(Debug, Default)]
pub struct LogTail {
    pub lines: VecDeque<String>,
    /// Lines received since start (including those dropped from the tail).
    pub total: u64,
    /// Every schema-marker line, then the newest [`KEY_LINES`] other key lines.
    pub markers: Vec<String>,
    pub key_lines: VecDeque<String>,
}

impl LogTail {
    /// The key lines in order of arrival (markers first: they come at start-up).
    pub fn key_lines(&self) -> Vec<String> {
        self.markers
            .iter()
            .chain(self.key_lines.iter())
            .cloned()
            .collect()
    }
}

/// Whether a line can matter to a check or the report (cheap substring tests; both
/// `"level":"ERROR"` and Python's `"level": "ERROR"` match).
fn is_key_line(line: &str) -> bool {
    line.contains("ERROR")
        || line.contains("WARNING")
        || line.contains("tracing.")
        || line.contains("CRITICAL")
}

pub type SharedTail = Arc<Mutex<LogTail>>;

pub struct WorkerProcess {
    child: Option<Child>,
    pub state: Arc<Mutex<WorkerState>>,
    pub tail: SharedTail,
    pub log_path: PathBuf,
    pub command: Vec<String>,
}

/// The command that runs the worker: the configured one, else this binary's `worker`.
pub fn worker_command(profile: &Profile) -> Vec<String> {
    if !profile.worker_command.is_empty() {
        return profile.worker_command.clone();
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "drill-cockpit".into());
    vec![exe, "worker".into()]
}

impl WorkerProcess {
    /// Spawns the worker with the profile's contract environment. A spawn failure is
    /// reported as a state, not an error, so the cockpit keeps running.
    pub async fn spawn(
        profile: &Profile,
        log_path: &Path,
        redactor: Redactor,
        tail: SharedTail,
    ) -> WorkerProcess {
        let command = worker_command(profile);
        let state = Arc::new(Mutex::new(WorkerState::FailedToStart {
            message: "not started".into(),
        }));
        let mut process = WorkerProcess {
            child: None,
            state: state.clone(),
            tail: tail.clone(),
            log_path: log_path.to_path_buf(),
            command: command.clone(),
        };
        let Some((program, args)) = command.split_first() else {
            set(
                &state,
                WorkerState::FailedToStart {
                    message: "worker.command is empty".into(),
                },
            );
            return process;
        };
        let log_file = match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .await
        {
            Ok(file) => file,
            Err(error) => {
                set(
                    &state,
                    WorkerState::FailedToStart {
                        message: format!(
                            "cannot open the log file {}: {error}",
                            log_path.display()
                        ),
                    },
                );
                return process;
            }
        };
        let mut child = match Command::new(program)
            .args(args)
            .envs(profile.contract_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                set(
                    &state,
                    WorkerState::FailedToStart {
                        message: format!(
                            "cannot start `{}`: {error}. Check worker.command",
                            command.join(" ")
                        ),
                    },
                );
                return process;
            }
        };
        set(
            &state,
            WorkerState::Running {
                pid: child.id().unwrap_or(0),
            },
        );
        let (lines_tx, lines_rx) = mpsc::channel::<Vec<u8>>(16_384);
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(read_lines(stdout, lines_tx.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(read_lines(stderr, lines_tx.clone()));
        }
        drop(lines_tx);
        tokio::spawn(write_lines(lines_rx, log_file, redactor, tail));
        process.child = Some(child);
        process
    }

    pub fn pid(&self) -> Option<u32> {
        match *self.state.lock().ok()? {
            WorkerState::Running { pid } => Some(pid),
            _ => None,
        }
    }

    /// Updates the state if the child has exited; returns the current state.
    pub fn poll(&mut self) -> WorkerState {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            use std::os::unix::process::ExitStatusExt;
            set(
                &self.state,
                WorkerState::Exited {
                    code: status.code(),
                    signal: status.signal(),
                },
            );
            self.child = None;
        }
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(WorkerState::FailedToStart {
                message: "state lock poisoned".into(),
            })
    }

    pub fn signal(&self, signal: i32) -> bool {
        match self.pid() {
            // SAFETY: kill(2) with a pid we spawned; no memory is touched.
            Some(pid) if pid > 0 => unsafe { libc::kill(pid as i32, signal) == 0 },
            _ => false,
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) -> WorkerState {
        if self.signal(libc::SIGTERM) {
            let deadline = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < deadline {
                if !matches!(self.poll(), WorkerState::Running { .. }) {
                    return self.poll();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.kill().await;
        }
        self.poll()
    }

    /// kill -9 (the drill's "crash the worker").
    pub async fn kill(&mut self) -> WorkerState {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill().await;
        }
        self.poll()
    }
}

fn set(state: &Arc<Mutex<WorkerState>>, value: WorkerState) {
    if let Ok(mut slot) = state.lock() {
        *slot = value;
    }
}

/// Reads raw lines (any length, any bytes) as fast as the child writes them.
async fn read_lines(stream: impl AsyncRead + Unpin, lines: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if lines.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Redacts, appends to the file (whole), and keeps a cut copy in the tail.
async fn write_lines(
    mut lines: mpsc::Receiver<Vec<u8>>,
    file: tokio::fs::File,
    redactor: Redactor,
    tail: SharedTail,
) {
    let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut batch = Vec::with_capacity(1024);
    loop {
        let received = lines.recv_many(&mut batch, 1024).await;
        if received == 0 {
            break;
        }
        let mut shown = Vec::with_capacity(batch.len());
        let mut markers = Vec::new();
        let mut keys = Vec::new();
        for raw in batch.drain(..) {
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim_end_matches(['\n', '\r']);
            let clean = redactor.redact(text);
            let _ = file.write_all(clean.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
            if clean.contains("Observability schema:") {
                markers.push(clean.clone());
            } else if is_key_line(&clean) {
                keys.push(clean.clone());
            }
            shown.push(cut(&clean));
        }
        // Flushed per batch: the file is current within one batch of the child's output.
        let _ = file.flush().await;
        if let Ok(mut tail) = tail.lock() {
            tail.markers.extend(markers);
            for key in keys {
                if tail.key_lines.len() == KEY_LINES {
                    tail.key_lines.pop_front();
                }
                tail.key_lines.push_back(key);
            }
            tail.total += shown.len() as u64;
            for line in shown {
                if tail.lines.len() == TAIL_LINES {
                    tail.lines.pop_front();
                }
                tail.lines.push_back(line);
            }
        }
    }
    let _ = file.flush().await;
}

fn cut(line: &str) -> String {
    if line.len() <= TAIL_LINE_CHARS {
        return line.to_string();
    }
    let mut end = TAIL_LINE_CHARS;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… [{} more bytes in the log file]",
        &line[..end],
        line.len() - end
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_lines_are_kept_whole_and_bounded_beside_the_tail() {
        let (sender, receiver) = mpsc::channel(16);
        let dir = tempfile::tempdir().unwrap();
        let file = tokio::fs::File::create(dir.path().join("log"))
            .await
            .unwrap();
        let tail: SharedTail = Arc::default();
        let writer = tokio::spawn(write_lines(
            receiver,
            file,
            Redactor::default(),
            tail.clone(),
        ));
        sender
            .send(b"Observability schema: labs-009-v2 (file=x)\n".to_vec())
            .await
            .unwrap();
        for i in 0..(KEY_LINES + 10) {
            sender
                .send(format!("{{\"level\": \"ERROR\", \"n\": {i}}}\n").into_bytes())
                .await
                .unwrap();
            sender
                .send(b"{\"level\":\"INFO\"}\n".to_vec())
                .await
                .unwrap();
        }
        drop(sender);
        writer.await.unwrap();
        let tail = tail.lock().unwrap();
        let keys = tail.key_lines();
        assert_eq!(keys.len(), KEY_LINES + 1);
        assert!(
            keys[0].starts_with("Observability schema"),
            "the marker is never dropped"
        );
        assert!(
            keys.last()
                .unwrap()
                .contains(&format!("\"n\": {}", KEY_LINES + 9))
        );
        assert_eq!(tail.total, 1 + 2 * (KEY_LINES as u64 + 10));
    }
}
