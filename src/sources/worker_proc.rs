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
/// A longer line is shortened in the tail (the file keeps it as captured).
pub const TAIL_LINE_CHARS: usize = 4_096;
/// A string field of a JSON line longer than this (a traceback in `exc_info`) is cut in
/// the tail, so the line stays valid JSON and renders compactly.
const TAIL_FIELD_CHARS: usize = 512;
/// The longest line read from the worker; the rest of a longer one is counted, not kept.
pub const MAX_LINE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
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
/// Schema-marker lines kept (the first ones: a marker matters at start-up).
pub const MAX_MARKERS: usize = 16;

/// The shared tail of the worker's output.
#[derive(Debug, Default)]
pub struct LogTail {
    pub lines: VecDeque<String>,
    /// [`LineMeta`] of each line of `lines`, when captured (computed on demand otherwise).
    pub meta: VecDeque<LineMeta>,
    /// Lines received since start (including those dropped from the tail).
    pub total: u64,
    /// Every schema-marker line, then the newest [`KEY_LINES`] other key lines.
    pub markers: Vec<String>,
    pub key_lines: VecDeque<String>,
    /// The claim batch size the worker says it uses (a `batch_size` field it logged).
    pub reported_batch_size: Option<u64>,
}

/// What the log pane needs to fold repeated lines, computed once at capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineMeta {
    /// Equal for lines that differ only in ids, numbers and timestamps.
    pub shape: u64,
    /// Errors, warnings and markers are never folded into a run.
    pub foldable: bool,
}

impl LineMeta {
    pub fn of(line: &str) -> LineMeta {
        LineMeta {
            shape: line_shape(line),
            foldable: !is_key_line(line) && !line.contains("Observability schema:"),
        }
    }
}

/// A hash of the line with every id-like run masked: a run of hex digits and dashes
/// that holds a digit or is 8+ long (UUIDs, trace ids, numbers, timestamps' parts).
pub fn line_shape(line: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let bytes = line.as_bytes();
    let is_run = |b: u8| b.is_ascii_hexdigit() || b == b'-';
    let mut i = 0;
    while i < bytes.len() {
        if !is_run(bytes[i]) {
            bytes[i].hash(&mut hasher);
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_run(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        if run.len() >= 8 || run.iter().any(u8::is_ascii_digit) {
            0xffu8.hash(&mut hasher);
        } else {
            run.hash(&mut hasher);
        }
    }
    hasher.finish()
}

impl LogTail {
    /// Appends one (already shortened) line, dropping the oldest beyond [`TAIL_LINES`].
    pub fn push(&mut self, line: String) {
        if self.lines.len() >= TAIL_LINES {
            self.lines.pop_front();
            self.meta.pop_front();
        }
        // Keep `meta` aligned with `lines` even if a caller filled `lines` directly.
        if self.meta.len() == self.lines.len() {
            self.meta.push_back(LineMeta::of(&line));
        }
        self.lines.push_back(line);
        self.total += 1;
    }

    /// The meta of line `index` of `lines`.
    pub fn meta_of(&self, index: usize) -> LineMeta {
        if self.meta.len() == self.lines.len()
            && let Some(meta) = self.meta.get(index)
        {
            return *meta;
        }
        self.lines
            .get(index)
            .map(|line| LineMeta::of(line))
            .unwrap_or(LineMeta {
                shape: 0,
                foldable: false,
            })
    }

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
        || claims_rows(line)
}

/// A claim log line that took rows (`"claimed": N`, N ≥ 1): it ties a batch to its
/// events for a worker that names no event in its lines (bulk mode).
fn claims_rows(line: &str) -> bool {
    line.contains("\"claimed\"")
        && !line.contains("\"claimed\": 0,")
        && !line.contains("\"claimed\":0,")
        && !line.contains("\"claimed\": 0}")
        && !line.contains("\"claimed\":0}")
}

pub type SharedTail = Arc<Mutex<LogTail>>;

pub struct WorkerProcess {
    child: Option<Child>,
    /// The task writing the child's output; it ends once both pipes are drained.
    writer: Option<tokio::task::JoinHandle<()>>,
    pub state: Arc<Mutex<WorkerState>>,
    pub tail: SharedTail,
    pub log_path: PathBuf,
    pub command: Vec<String>,
    /// The worker's own process group (its pid): a worker command that forks (a shell
    /// that does not exec, `uv run`, `npm start`) is stopped and killed whole.
    group: Option<i32>,
}

/// The worker's command as shown and recorded: [`command_to_spawn`] with the secrets
/// it sets masked (`env PGPASSWORD=*** …`).
pub fn worker_command(profile: &Profile) -> Vec<String> {
    crate::config::secrets::mask_command(&command_to_spawn(profile))
}

/// The command that runs the worker: the configured one, else this binary's `worker`.
fn command_to_spawn(profile: &Profile) -> Vec<String> {
    if !profile.worker_command.is_empty() {
        return profile.worker_command.clone();
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "drill-cockpit".into());
    vec![exe, "worker".into()]
}

impl WorkerProcess {
    /// A worker that was never spawned, and why (its state says so, like a spawn error).
    pub fn not_started(profile: &Profile, log_path: &Path, tail: SharedTail, why: String) -> Self {
        WorkerProcess {
            child: None,
            writer: None,
            state: Arc::new(Mutex::new(WorkerState::FailedToStart { message: why })),
            tail,
            log_path: log_path.to_path_buf(),
            command: worker_command(profile),
            group: None,
        }
    }

    /// Spawns the worker with the profile's contract environment. A spawn failure is
    /// reported as a state, not an error, so the cockpit keeps running.
    pub async fn spawn(
        profile: &Profile,
        overrides: &[(&'static str, String)],
        log_path: &Path,
        redactor: Redactor,
        tail: SharedTail,
    ) -> WorkerProcess {
        let command = command_to_spawn(profile);
        let state = Arc::new(Mutex::new(WorkerState::FailedToStart {
            message: "not started".into(),
        }));
        let mut process = WorkerProcess {
            child: None,
            writer: None,
            state: state.clone(),
            tail: tail.clone(),
            log_path: log_path.to_path_buf(),
            command: worker_command(profile),
            group: None,
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
        let mut builder = Command::new(program);
        builder
            .args(args)
            .envs(profile.contract_env())
            // The drill's own settings last (the fault gate in place of ES).
            .envs(overrides.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so whatever it forks is signalled with it (and a
            // Ctrl-C meant for drill-cockpit reaches it only through our shutdown).
            .process_group(0)
            .kill_on_drop(true);
        // kill -9 of drill-cockpit must not leave the worker holding its ports.
        crate::leftovers::procs::die_with_parent(&mut builder);
        let mut child = match builder.spawn() {
            Ok(child) => child,
            Err(error) => {
                set(
                    &state,
                    WorkerState::FailedToStart {
                        message: format!(
                            "cannot start `{}`: {error}. Check worker.command",
                            process.command.join(" ")
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
        process.writer = Some(tokio::spawn(write_lines(
            lines_rx, log_file, redactor, tail,
        )));
        // process_group(0): the group's id is the worker's pid.
        process.group = child.id().map(|pid| pid as i32);
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

    /// Sends `signal` to the worker's process group (every process it started), or to
    /// the worker alone when it has no group of its own.
    pub fn signal(&self, signal: i32) -> bool {
        match (self.group, self.pid()) {
            // SAFETY: kill(2) on the process group we created for the worker (a negative
            // pid names a group); no memory is touched.
            (Some(group), _) if group > 0 => unsafe { libc::kill(-group, signal) == 0 },
            // SAFETY: kill(2) with a pid we spawned; no memory is touched.
            (_, Some(pid)) if pid > 0 => unsafe { libc::kill(pid as i32, signal) == 0 },
            _ => false,
        }
    }

    /// Whether any process of the worker's group is still alive.
    fn group_alive(&self) -> bool {
        match self.group {
            // SAFETY: kill(2) with signal 0 only checks the group exists.
            Some(group) if group > 0 => unsafe { libc::kill(-group, 0) == 0 },
            _ => false,
        }
    }

    /// SIGTERM to the worker and everything it started, then SIGKILL after `grace` to
    /// whatever is left of them.
    pub async fn stop(&mut self, grace: Duration) -> WorkerState {
        if self.signal(libc::SIGTERM) {
            let deadline = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < deadline {
                let exited = !matches!(self.poll(), WorkerState::Running { .. });
                if exited && !self.group_alive() {
                    return self.poll();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.kill().await;
        }
        self.poll()
    }

    /// Waits (up to `timeout`) until everything the exited child printed is in the log
    /// file: the pipes may still hold its last lines when it exits.
    pub async fn drained(&mut self, timeout: Duration) -> bool {
        match self.writer.take() {
            Some(writer) => tokio::time::timeout(timeout, writer).await.is_ok(),
            None => true,
        }
    }

    /// kill -9 (the drill's "crash the worker").
    pub async fn kill(&mut self) -> WorkerState {
        self.signal(libc::SIGKILL);
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

/// Reads raw lines (any bytes) as fast as the child writes them. A line longer than
/// [`MAX_LINE_BYTES`] keeps its first part and says how many bytes were dropped, so a
/// worker printing without newlines cannot grow the cockpit's memory.
async fn read_lines(stream: impl AsyncRead + Unpin, lines: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = Vec::new();
    let mut dropped: u64 = 0;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok(chunk) => chunk,
            Err(_) => return,
        };
        if chunk.is_empty() {
            if !line.is_empty() || dropped > 0 {
                let _ = lines.send(finish_line(line, dropped)).await;
            }
            return;
        }
        let (part, ends_line) = match chunk.iter().position(|b| *b == b'\n') {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        dropped += part.len().saturating_sub(room) as u64;
        let consumed = part.len() + usize::from(ends_line);
        reader.consume(consumed);
        if ends_line {
            let full = finish_line(std::mem::take(&mut line), dropped);
            dropped = 0;
            if lines.send(full).await.is_err() {
                return;
            }
        }
    }
}

/// Marks a line cut at the cap; the writer sees the marker and redacts the cut end too
/// (a secret split by the cut must not leave its first part behind).
const DROPPED_MARK: &str = "\u{0}drill-cockpit-dropped:";

fn finish_line(mut line: Vec<u8>, dropped: u64) -> Vec<u8> {
    if dropped > 0 {
        line.extend_from_slice(format!("{DROPPED_MARK}{dropped}").as_bytes());
    }
    line
}

/// The line redacted, with the note of what the cap dropped.
fn redact_line(redactor: &Redactor, text: &str) -> String {
    match text.rsplit_once(DROPPED_MARK) {
        Some((kept, dropped)) => format!(
            "{}… [{dropped} more bytes of this line dropped]",
            redactor.redact_cut(kept)
        ),
        None => redactor.redact(text),
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
        let mut reported_batch = None;
        for raw in batch.drain(..) {
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim_end_matches(['\n', '\r']);
            let clean = redact_line(&redactor, text);
            let _ = file.write_all(clean.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
            if clean.contains("Observability schema:") {
                markers.push(clean.clone());
            } else if is_key_line(&clean) {
                keys.push(clean.clone());
            }
            if clean.contains("batch_size") {
                reported_batch = reported_batch_size(&clean).or(reported_batch);
            }
            shown.push(shorten(&clean));
        }
        // Flushed per batch: the file is current within one batch of the child's output.
        let _ = file.flush().await;
        if let Ok(mut tail) = tail.lock() {
            // A worker restarted in a loop prints its marker each time: keep a few.
            let room = MAX_MARKERS.saturating_sub(tail.markers.len());
            tail.markers.extend(markers.into_iter().take(room));
            for key in keys {
                if tail.key_lines.len() == KEY_LINES {
                    tail.key_lines.pop_front();
                }
                tail.key_lines.push_back(key);
            }
            if reported_batch.is_some() {
                tail.reported_batch_size = reported_batch;
            }
            for line in shown {
                tail.push(line);
            }
        }
    }
    let _ = file.flush().await;
}

/// The `batch_size` a worker logged (`"batch_size": 10` in a JSON line, or `batch_size=10`).
fn reported_batch_size(line: &str) -> Option<u64> {
    if line.trim_start().starts_with('{')
        && let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(line)
    {
        return fields.get("batch_size").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
    }
    let after = line.split("batch_size=").nth(1)?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The line as the tail keeps it: a JSON line too long for the tail keeps its shape
/// (every long string field cut, so it still parses and renders compactly); any other
/// long line is cut at [`TAIL_LINE_CHARS`].
pub fn shorten(line: &str) -> String {
    if line.len() <= TAIL_LINE_CHARS {
        return line.to_string();
    }
    if line.trim_start().starts_with('{')
        && let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str(line)
    {
        for value in fields.values_mut() {
            if let serde_json::Value::String(text) = value
                && text.len() > TAIL_FIELD_CHARS
            {
                let mut end = TAIL_FIELD_CHARS;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let rest = text.len() - end;
                *text = format!("{}… [{rest} more bytes in the log file]", &text[..end]);
            }
        }
        let compact = serde_json::Value::Object(fields).to_string();
        if compact.len() <= TAIL_LINE_CHARS {
            return compact;
        }
    }
    cut(line)
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

    /// The journal and the error messages say a worker's state in these words, never as
    /// Rust's `Exited { code: None, signal: Some(9) }`.
    #[test]
    fn a_worker_state_reads_as_words() {
        let killed = WorkerState::Exited {
            code: None,
            signal: Some(9),
        };
        assert_eq!(killed.to_string(), "killed by signal 9");
        let failed = WorkerState::Exited {
            code: Some(1),
            signal: None,
        };
        assert_eq!(failed.to_string(), "exited with code 1");
        assert_eq!(
            WorkerState::Running { pid: 42 }.to_string(),
            "running (pid 42)"
        );
    }

    #[test]
    fn a_long_json_line_stays_json_with_its_trace_id() {
        let traceback = "Traceback (most recent call last):\n  File \"x.py\"\n".repeat(120);
        let line = serde_json::json!({"ts": "2026-02-14T10:42:39+00:00", "level": "ERROR", "message": "Outbox delete failed", "trace_id": "18bef09d08385a0c18bef09d08385a0c", "exc_info": traceback}).to_string();
        assert!(line.len() > 5_000);
        let kept = shorten(&line);
        assert!(kept.len() <= TAIL_LINE_CHARS);
        let parsed: serde_json::Value = serde_json::from_str(&kept).expect("still JSON");
        assert_eq!(parsed["trace_id"], "18bef09d08385a0c18bef09d08385a0c");
        assert!(
            parsed["exc_info"]
                .as_str()
                .unwrap()
                .ends_with("more bytes in the log file]")
        );
        assert!(shorten(&"x".repeat(10_000)).contains("more bytes in the log file"));
    }

    #[test]
    fn lines_differing_only_in_ids_and_times_have_one_shape() {
        let a = r#"{"ts": "2026-11-28T06:56:38.040555+00:00", "level": "INFO", "message": "outbox.claim_batch", "claim_batch_id": "29d3984f-2630-4e20-bd0b-ea51fdad55b9", "claimed": 0}"#;
        let b = r#"{"ts": "2026-11-28T06:56:38.240911+00:00", "level": "INFO", "message": "outbox.claim_batch", "claim_batch_id": "deadbeef-aaaa-4e20-bd0b-ea51fdad55b9", "claimed": 12}"#;
        let c = r#"{"ts": "2026-11-28T06:56:38.240911+00:00", "level": "INFO", "message": "outbox.other", "claim_batch_id": "deadbeef-aaaa-4e20-bd0b-ea51fdad55b9", "claimed": 12}"#;
        assert_eq!(line_shape(a), line_shape(b));
        assert_ne!(line_shape(a), line_shape(c));
        assert!(LineMeta::of(a).foldable);
        assert!(!LineMeta::of(r#"{"level": "ERROR"}"#).foldable);
    }

    #[test]
    fn the_reported_batch_size_is_read_from_json_or_text() {
        assert_eq!(
            reported_batch_size(r#"{"message": "Worker config", "batch_size": 10}"#),
            Some(10)
        );
        assert_eq!(
            reported_batch_size("started batch_size=250 bulk=1"),
            Some(250)
        );
        assert_eq!(reported_batch_size("no size here"), None);
    }

    #[tokio::test]
    async fn a_line_longer_than_the_cap_is_kept_in_part_and_counted() {
        let (sender, mut receiver) = mpsc::channel(4);
        let mut input = vec![b'a'; MAX_LINE_BYTES + 1_000];
        input.extend_from_slice(b"\nshort\n");
        tokio::spawn(read_lines(std::io::Cursor::new(input), sender));
        let first = receiver.recv().await.unwrap();
        assert!(first.len() < MAX_LINE_BYTES + 100);
        let first = redact_line(&Redactor::default(), &String::from_utf8_lossy(&first));
        assert!(first.ends_with("a… [1000 more bytes of this line dropped]"));
        assert_eq!(receiver.recv().await.unwrap(), b"short");
        assert!(receiver.recv().await.is_none());
    }

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

#[cfg(test)]
mod process_group_tests {
    use super::*;

    /// Whether `pid` is gone (or a zombie nobody reaped yet: it runs no more).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "Z" || state == "X"),
        }
    }

    /// A worker command that forks instead of exec'ing (like `uv run`, `npm start`):
    /// the process that does the work is its grandchild.
    async fn forking_worker(dir: &Path) -> (WorkerProcess, u32) {
        let pid_file = dir.join("grandchild.pid");
        let profile = Profile::load(&crate::config::LoadOptions {
            config_path: None,
            overrides: vec![format!(
                "worker.command=sh -c 'sleep 300 & echo $! > {}; wait'",
                pid_file.display()
            )],
            environment: Some(Default::default()),
        })
        .unwrap();
        let worker = WorkerProcess::spawn(
            &profile,
            &[],
            &dir.join("worker.log"),
            Redactor::default(),
            Arc::default(),
        )
        .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
            {
                return (worker, pid);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the worker never forked"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn until_gone(pid: u32) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if gone(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn stopping_a_forking_worker_ends_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let (mut worker, grandchild) = forking_worker(dir.path()).await;
        worker.stop(Duration::from_secs(2)).await;
        assert!(
            until_gone(grandchild).await,
            "pid {grandchild} outlived the stop"
        );
    }

    #[tokio::test]
    async fn kill_9_of_a_forking_worker_kills_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let (mut worker, grandchild) = forking_worker(dir.path()).await;
        worker.kill().await;
        assert!(
            until_gone(grandchild).await,
            "pid {grandchild} outlived the kill"
        );
    }
}
