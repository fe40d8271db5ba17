//! Headless drills, on top of the session: `run <scenario>` (one drill, the exit code is
//! its verdict) and `run all` (every drill in turn, a summary table).

pub mod all;
pub mod fleet;
pub mod single;

pub use single::{RunOptions, run};
