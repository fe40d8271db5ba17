//! The exit codes every command shares, and the error that means "could not run".

/// Every check passed (every graded run passed).
pub const PASSED: u8 = 0;
/// The drill ran and FAILED (a graded run failed, or is a control run).
pub const FAILED: u8 = 1;
/// The command line or the configuration is wrong.
pub const USAGE: u8 = 2;
/// The drill could not run, or the path could not be graded: infrastructure
/// unreachable, the worker did not start, an unknown scenario, nothing to grade.
pub const COULD_NOT_RUN: u8 = 3;

/// An error that ends a command with [`COULD_NOT_RUN`] (anything else is [`USAGE`]).
#[derive(Debug)]
pub struct CouldNotRun(pub String);

impl std::fmt::Display for CouldNotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CouldNotRun {}

/// The exit code an error of a command means.
pub fn code_of(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<CouldNotRun>().is_some() {
        COULD_NOT_RUN
    } else {
        USAGE
    }
}
