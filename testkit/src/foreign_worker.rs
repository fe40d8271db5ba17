//! The foreign test worker (`testkit/foreign_worker/search_outbox_worker.py`): a
//! Python test double of upstream's worker, installed by `scripts/test` into a venv
//! whose command it exports as `DRILL_TEST_FOREIGN_WORKER`.

/// The command line that runs the foreign worker; `None` (skip) only outside CI.
pub fn command() -> Option<String> {
    match std::env::var("DRILL_TEST_FOREIGN_WORKER") {
        Ok(command) if !command.trim().is_empty() => Some(command),
        _ => crate::env::unavailable(
            "the foreign (Python) test worker",
            "run the tests through scripts/test, which installs its packages from PyPI and sets DRILL_TEST_FOREIGN_WORKER",
        ),
    }
}
