//! Test support for drill-cockpit: stand-ins for the services that cannot be pulled
//! on the test machines (Elasticsearch, Jaeger), a throwaway-database helper and
//! Docker helpers. A dev-dependency only: never linked into the shipped binary.

pub mod docker;
pub mod env;
pub mod foreign_worker;
pub mod pg;

/// The tests' Elasticsearch: the sandbox's ES-API simulator (`drill_sim::elastic`).
pub mod es {
    pub use drill_sim::elastic::EsSimulator as EsStandin;
    pub use drill_sim::elastic::*;
}

/// The tests' Jaeger: the sandbox's trace store (`drill_sim::traces`).
pub mod jaeger {
    pub use drill_sim::traces::TraceStore as JaegerStandin;
    pub use drill_sim::traces::*;
}

pub use drill_sim::server;
