//! Faults injected from outside the worker, so any worker honouring the contract is
//! drilled unchanged: the HTTP fault gate in front of Elasticsearch ([`gate`]) and the
//! faults it knows ([`spec`]).

pub mod control;
pub mod gate;
mod lanes;
pub mod line;
mod relay;
pub mod spec;
pub mod standalone;
mod upstream;
// Public for `benches/gate_wire.rs` only: not an API of the crate.
#[doc(hidden)]
pub mod wire;

pub use gate::{FaultGate, GateRecord};
pub use spec::{EsOp, Fault, Ops, Pick};
