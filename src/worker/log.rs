//! The worker's log: one JSON object per line on stderr, in the contract's shape
//! (`ts`, `level`, `logger`, `message`, `trace_id`, `span_id`, plus fields).

use std::io::Write;

use serde_json::{Map, Value};

const LOGGER: &str = "drill_cockpit.worker";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }

    /// `LOG_LEVEL` as Python's logging names it.
    pub fn from_env() -> Level {
        match std::env::var("LOG_LEVEL")
            .unwrap_or_default()
            .to_ascii_uppercase()
            .as_str()
        {
            "DEBUG" => Level::Debug,
            "WARNING" | "WARN" => Level::Warning,
            "ERROR" => Level::Error,
            _ => Level::Info,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub min_level: Level,
}

impl Log {
    pub fn emit(&self, level: Level, message: &str, fields: Vec<(&str, Value)>) {
        if level < self.min_level {
            return;
        }
        let mut line = Map::new();
        line.insert(
            "ts".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)),
        );
        line.insert("level".into(), Value::String(level.name().into()));
        line.insert("logger".into(), Value::String(LOGGER.into()));
        line.insert("message".into(), Value::String(message.into()));
        for (key, value) in fields {
            line.insert(key.to_string(), value);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // One write per line keeps lines whole when several tasks log at once.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    pub fn info(&self, message: &str, fields: Vec<(&str, Value)>) {
        self.emit(Level::Info, message, fields)
    }

    pub fn warning(&self, message: &str, fields: Vec<(&str, Value)>) {
        self.emit(Level::Warning, message, fields)
    }

    pub fn error(&self, message: &str, fields: Vec<(&str, Value)>) {
        self.emit(Level::Error, message, fields)
    }

    /// Plain text lines, as upstream prints a few (`[OK] Database: …`).
    pub fn plain(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}
