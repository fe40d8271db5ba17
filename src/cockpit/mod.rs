//! The interactive cockpit: the engine (sources and actions) and the terminal loop.

pub mod counters;
pub mod engine;
pub mod exit_summary;
mod source_health;
pub mod tally;
pub mod terminal;
