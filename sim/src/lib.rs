//! Simulators behind drill-cockpit's sandbox (`--sandbox`), on loopback, in the cockpit's
//! own process: [`elastic`] speaks the part of Elasticsearch 8's REST API an outbox
//! worker and the cockpit use; [`traces`] receives OTLP/HTTP spans and answers Jaeger's
//! query APIs. Each stops and starts like a container (its listener closed: connection
//! refused) and keeps its memory bounded over a long session (the oldest data dropped
//! first, and counted). They are simulators, not Elasticsearch or Jaeger: everything
//! drawn from them is labelled SANDBOX. The test suite uses them as its stand-ins.

pub mod elastic;
pub mod ports;
pub mod server;
pub mod traces;
