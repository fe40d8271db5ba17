//! drill-cockpit: a terminal cockpit for failure drills on a transactional-outbox
//! search worker, its bundled reference worker, and the evidence it records.

pub mod ci;
pub mod cli;
pub mod cockpit;
pub mod config;
pub mod db;
pub mod diagnostics;
pub mod docker;
pub mod drill;
pub mod evidence;
pub mod exit;
pub mod faults;
pub mod jaeger;
pub mod keys;
pub mod leftovers;
pub mod platform;
pub mod prom;
pub mod replay;
pub mod run;
pub mod sandbox;
pub mod sanitize;
pub mod session;
pub mod sources;
pub mod tls;
pub mod ui;
pub mod verify;
pub mod worker;
pub mod xdg;
