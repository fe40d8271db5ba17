//! The process's exit codes, shared by every command, and the error that means "the
//! command could not do its job at all" (as opposed to a drill that failed).

/// Everything graded passed.
pub const PASSED: u8 = 0;
/// A drill (or a graded run) failed.
pub const FAILED: u8 = 1;
/// The command line was wrong (clap's own code) or another error stopped the command.
pub const USAGE: u8 = 2;
/// The command could not run on what it was given: a path that does not exist, is not
/// a run, holds nothing to grade, or cannot be read.
pub const COULD_NOT_RUN: u8 = 3;

/// The command could not run on its input; `main` exits [`COULD_NOT_RUN`]. The message
/// names the thing, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CouldNotRun(pub String);

impl CouldNotRun {
    pub fn new(message: impl Into<String>) -> CouldNotRun {
        CouldNotRun(message.into())
    }
}

/// The exit code of an error that ended a command: [`COULD_NOT_RUN`] when a
/// [`CouldNotRun`] is anywhere in its chain, else [`USAGE`].
pub fn code_of(error: &anyhow::Error) -> u8 {
    if error.chain().any(|cause| cause.is::<CouldNotRun>()) {
        COULD_NOT_RUN
    } else {
        USAGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn could_not_run_maps_to_3_even_under_context_and_other_errors_to_2() {
        let plain = anyhow::Error::new(CouldNotRun::new("/x does not exist"));
        assert_eq!(code_of(&plain), COULD_NOT_RUN);
        assert_eq!(plain.to_string(), "/x does not exist");
        let wrapped = plain.context("verify");
        assert_eq!(code_of(&wrapped), COULD_NOT_RUN);
        assert_eq!(code_of(&anyhow::anyhow!("bad --op")), USAGE);
    }
}
