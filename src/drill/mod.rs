//! Drills: what each scenario expects, and the checks that grade it. Checks are pure
//! functions of [`Observations`], shared by the live checklist, `run` and `verify`,
//! so all three give the same verdict from the same evidence.

pub mod catalog;
pub mod checks;
pub mod file;
pub mod observations;
pub mod patterns;
pub mod scenario;
pub mod upstream;

pub use checks::{CheckOutcome, CheckStatus, Missing, Verdict, grade};
pub use observations::{Observations, RowState};

/// The observability schema every span and marker of the contract names.
pub const OBS_SCHEMA: &str = "labs-009-v2";

/// The `reason` labels that mean "Elasticsearch could not be reached".
pub const ES_DOWN_REASONS: &[&str] = &["es_connect", "es_unreachable"];
