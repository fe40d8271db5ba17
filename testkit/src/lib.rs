//! Test support for drill-cockpit: stand-ins for the services that cannot be pulled
//! on the test machines (Elasticsearch, Jaeger), a throwaway-database helper and
//! Docker helpers. A dev-dependency only: never linked into the shipped binary.

pub mod docker;
pub mod env;
pub mod es;
pub mod foreign_worker;
pub mod jaeger;
pub mod pg;
pub mod server;
