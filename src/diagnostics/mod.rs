//! The cockpit's own diagnostics log: what the program itself met (a source that went
//! away and came back, a key action, a failed action, a panic), for the person who
//! asks "what happened" after the screen is gone. It goes to a file only, never to the
//! terminal, where it would tear the cockpit's screen:
//! `$XDG_STATE_HOME/drill-cockpit/drill-cockpit.log` (else `~/.local/state/…`), at the
//! level `RUST_LOG` sets (default: `info` for this program, nothing from libraries).
//!
//! Every record passes the [`Redactor`] on its way to the file, whoever wrote it (our
//! messages, a library's at `RUST_LOG=debug`): a URL's password, the database's, and the
//! secrets the profile knows never reach the log. The file is capped ([`capped_file`]).

pub mod capped_file;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::redact::Redactor;
use capped_file::{CappedFile, LOG_CAP_BYTES};

/// Without `RUST_LOG`: this program's records at info and above, no library's.
pub const DEFAULT_FILTER: &str = "drill_cockpit=info";

/// Where the log goes, said by `--help` (the real path depends on the environment).
pub const WHERE: &str = "$XDG_STATE_HOME/drill-cockpit/drill-cockpit.log (default ~/.local/state/drill-cockpit/drill-cockpit.log)";

/// The secrets known so far. It starts with this process's environment (before a
/// profile is loaded) and learns the profile's with [`learn_secrets`].
static REDACTOR: LazyLock<RwLock<Redactor>> = LazyLock::new(|| {
    let database_url = std::env::var("DATABASE_URL").unwrap_or_default();
    RwLock::new(Redactor::from_process(&database_url))
});

/// From now on, records are scrubbed of these secrets too (the profile's: its database
/// password however given, its URLs', its worker command's).
pub fn learn_secrets(redactor: Redactor) {
    if let Ok(mut known) = REDACTOR.write() {
        *known = redactor;
    }
}

/// Opens the log and makes it the destination of every `tracing` record of this
/// process; a panic is recorded there too. Returns the log's path. An `Err` says why
/// there is no log (no home folder, a folder that cannot be written): the program
/// runs on without one.
pub fn init(environment: &BTreeMap<String, String>) -> Result<PathBuf, String> {
    let path = crate::xdg::log_file(environment).ok_or_else(|| {
        "no diagnostics log: neither XDG_STATE_HOME nor HOME names an absolute folder".to_string()
    })?;
    let file = CappedFile::open(&path, LOG_CAP_BYTES).map_err(|error| {
        format!(
            "no diagnostics log: cannot open {} ({error}); set XDG_STATE_HOME to a folder you can write",
            path.display()
        )
    })?;
    let (filter, filter_problem) = filter(environment.get("RUST_LOG").map(String::as_str));
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(RedactingSink {
            file: Arc::new(Mutex::new(file)),
        })
        .finish();
    tracing::subscriber::set_global_default(subscriber).map_err(|_| {
        "no diagnostics log: another logger was installed first in this process".to_string()
    })?;
    record_panics();
    if let Some(problem) = filter_problem {
        tracing::warn!("{problem}");
    }
    Ok(path)
}

/// The filter `RUST_LOG` asks for, or the default with the reason it was not used.
fn filter(rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    let default = || EnvFilter::new(DEFAULT_FILTER);
    match rust_log.map(str::trim).filter(|text| !text.is_empty()) {
        None => (default(), None),
        Some(text) => match EnvFilter::try_new(text) {
            Ok(filter) => (filter, None),
            Err(error) => (
                default(),
                Some(format!(
                    "RUST_LOG={text:?} is not a filter ({error}); logging at {DEFAULT_FILTER}. Use e.g. RUST_LOG=debug or RUST_LOG=drill_cockpit=debug"
                )),
            ),
        },
    }
}

/// A panic is recorded (message and place) before the hooks installed before this one
/// run (the default message; the terminal's restore once the cockpit installs its own).
fn record_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        tracing::error!(%place, %thread, "panic: {message}");
        previous(info);
    }));
}

/// Hands `tracing` one buffer per record; the record is scrubbed and written whole.
struct RedactingSink {
    file: Arc<Mutex<CappedFile>>,
}

impl<'a> MakeWriter<'a> for RedactingSink {
    type Writer = Record<'a>;

    fn make_writer(&'a self) -> Record<'a> {
        Record {
            sink: self,
            text: Vec::new(),
        }
    }
}

/// One record being formatted; written to the file when `tracing` is done with it.
struct Record<'a> {
    sink: &'a RedactingSink,
    text: Vec<u8>,
}

impl Write for Record<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = scrub(&String::from_utf8_lossy(&self.text));
        // A log that cannot be written must never stop the cockpit: the record is lost.
        if let Ok(mut file) = self.sink.file.lock() {
            let _ = file.write_all(text.as_bytes());
        }
    }
}

/// A record as it may be stored: secrets masked, escape sequences and control
/// characters (a worker's coloured output, a hostile name) removed.
fn scrub(text: &str) -> String {
    let redacted = match REDACTOR.read() {
        Ok(redactor) => redactor.redact(text),
        // A writer panicked holding the lock: URL passwords are still masked.
        Err(_) => Redactor::default().redact(text),
    };
    let mut clean = crate::sanitize::strip_controls_per_line(&redacted);
    if !clean.ends_with('\n') {
        clean.push('\n');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_loses_its_passwords_and_escape_sequences() {
        learn_secrets(Redactor::new(
            "postgres://drill:Sekr3tPw@db:5432/x",
            &BTreeMap::new(),
        ));
        let line = "connect failed: postgres://drill:Sekr3tPw@db:5432/x said Sekr3tPw; es http://u:Other9@es:9200 \u{1b}[31mred\u{1b}[0m";
        let scrubbed = scrub(line);
        assert!(!scrubbed.contains("Sekr3tPw"), "{scrubbed}");
        assert!(!scrubbed.contains("Other9"), "{scrubbed}");
        assert!(!scrubbed.contains('\u{1b}'), "{scrubbed}");
        assert!(
            scrubbed.contains("postgres://drill:***@db:5432/x"),
            "{scrubbed}"
        );
        assert!(scrubbed.ends_with("red\n"), "{scrubbed}");
    }

    #[test]
    fn rust_log_sets_the_level_and_a_bad_one_falls_back_with_the_reason() {
        assert!(filter(None).1.is_none());
        assert!(filter(Some("debug")).1.is_none());
        assert!(filter(Some("drill_cockpit=trace,sqlx=warn")).1.is_none());
        let (_, problem) = filter(Some("drill_cockpit=loud"));
        let problem = problem.unwrap();
        assert!(
            problem.contains("RUST_LOG=\"drill_cockpit=loud\""),
            "{problem}"
        );
        assert!(problem.contains(DEFAULT_FILTER), "{problem}");
    }
}
