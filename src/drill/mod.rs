//! Drills: what each scenario expects, and the checks that grade it. Checks are pure
//! functions of [`Observations`], shared by the live checklist, `run` and `verify`,
//! so all three give the same verdict from the same evidence.

pub mod checks;
pub mod headless;
pub mod observations;
pub mod upstream;

pub use checks::{CheckOutcome, CheckStatus, Missing, Verdict, grade};
pub use observations::Observations;

/// The scenarios of CONTRACT.md §6 this build can grade and run.
pub const SUPPORTED: &[&str] = &["es_down_connect"];

/// The observability schema every span and marker of the contract names.
pub const OBS_SCHEMA: &str = "labs-009-v2";

/// The `reason` labels that mean "Elasticsearch could not be reached".
pub const ES_DOWN_REASONS: &[&str] = &["es_connect", "es_unreachable"];

pub fn check_supported(scenario: &str) -> Result<(), String> {
    if SUPPORTED.contains(&scenario) {
        Ok(())
    } else {
        Err(format!(
            "scenario `{}` is not supported by this build; supported: {}",
            crate::sanitize::one_line(scenario, 80),
            SUPPORTED.join(", ")
        ))
    }
}
