//! Tells the diagnostics log when one of the cockpit's sources goes away and when it
//! answers again (with how many retries it took), from the snapshots the engine
//! publishes. Only changes are logged: a source that is down for ten minutes is two
//! records, not six hundred.

use std::collections::BTreeMap;
use std::time::Instant;

use super::engine::{Snapshot, StepState};

/// A source that is down: since when, how many failed looks since, the first error.
struct Down {
    since: Instant,
    looks: u64,
}

#[derive(Default)]
pub struct SourceHealth {
    down: BTreeMap<&'static str, Down>,
    /// Setup steps already logged as failed, with their error (logged again if it changes).
    failed_steps: BTreeMap<&'static str, String>,
    /// The last status-bar error logged.
    last_status_error: Option<String>,
}

impl SourceHealth {
    /// Compares what the snapshot says of each source with what was seen before.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        let sources: [(&'static str, Option<&String>); 5] = [
            ("Docker", error_of(&snapshot.containers)),
            ("Elasticsearch", error_of(&snapshot.elastic)),
            ("Postgres", error_of(&snapshot.outbox)),
            ("the worker's /metrics", snapshot.metrics_error.as_ref()),
            ("Jaeger", snapshot.jaeger_error.as_ref()),
        ];
        for (source, error) in sources {
            self.source(source, error.map(String::as_str));
        }
        for step in &snapshot.setup {
            if let StepState::Failed(error) = &step.state
                && self.failed_steps.get(step.name) != Some(error)
            {
                tracing::warn!(step = step.name, "setup step failed: {error}");
                self.failed_steps.insert(step.name, error.clone());
            } else if !matches!(step.state, StepState::Failed(_))
                && self.failed_steps.remove(step.name).is_some()
            {
                tracing::info!(step = step.name, "setup step recovered: {:?}", step.state);
            }
        }
        match &snapshot.status {
            Some((text, true)) if self.last_status_error.as_ref() != Some(text) => {
                tracing::warn!("action failed: {text}");
                self.last_status_error = Some(text.clone());
            }
            Some((_, false)) => self.last_status_error = None,
            _ => {}
        }
    }

    fn source(&mut self, source: &'static str, error: Option<&str>) {
        match (error, self.down.get_mut(source)) {
            (Some(error), None) => {
                tracing::warn!(source, "{source} unreachable, retrying: {error}");
                self.down.insert(
                    source,
                    Down {
                        since: Instant::now(),
                        looks: 1,
                    },
                );
            }
            (Some(_), Some(down)) => down.looks += 1,
            (None, Some(_)) => {
                if let Some(down) = self.down.remove(source) {
                    tracing::info!(
                        source,
                        failed_looks = down.looks,
                        "{source} answers again after {:.1} s down",
                        down.since.elapsed().as_secs_f64()
                    );
                }
            }
            (None, None) => {}
        }
    }
}

/// The error of a source's last read, if it failed.
fn error_of<T>(read: &Option<Result<T, String>>) -> Option<&String> {
    read.as_ref().and_then(|result| result.as_ref().err())
}
