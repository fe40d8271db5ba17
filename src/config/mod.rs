//! One `Profile`: built-in defaults < TOML file < the contract's environment
//! variables < command-line flags, validated once, with the origin of every value.

mod database_url;
mod load;
mod profile;
pub mod redact;
pub mod secrets;
pub mod spec;

pub use load::{ConfigError, LoadOptions, Origin, Settings};
pub use profile::{Profile, PrometheusSource};
