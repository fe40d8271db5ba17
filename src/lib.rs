//! drill-cockpit: a terminal cockpit for failure drills on a transactional-outbox
//! search worker, its bundled reference worker, and the evidence it records.

pub mod cli;
pub mod config;
pub mod db;
pub mod docker;
pub mod keys;
pub mod prom;
pub mod worker;
