//! What a CI job reads of a drill series or a verification: JUnit XML (`--junit FILE`)
//! and JSON on stdout (`--json`), one testcase or object per run.

pub mod cases;
pub mod junit;

use std::path::PathBuf;

/// The reports a command was asked for, besides its table.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    /// JSON on stdout instead of the table (which goes to stderr then).
    pub json: bool,
    /// JUnit XML written here at the end (checked before anything runs).
    pub junit: Option<PathBuf>,
}

impl Reports {
    /// Refuses a `--junit` path that could not be written, before any work is done.
    pub fn check(&self) -> Result<(), crate::exit::CouldNotRun> {
        match &self.junit {
            Some(path) => junit::check_target(path).map_err(crate::exit::CouldNotRun),
            None => Ok(()),
        }
    }

    /// Writes the JUnit report when one was asked for; an error is said on stderr and
    /// turns a passed series into "could not run" (CI must not miss its report).
    pub fn write_junit(&self, suite: &str, cases: &[junit::Case], seconds: f64) -> bool {
        let Some(path) = &self.junit else {
            return true;
        };
        match junit::write(path, &junit::render(suite, cases, seconds)) {
            Ok(()) => true,
            Err(error) => {
                eprintln!("drill-cockpit: {error}");
                false
            }
        }
    }
}
