//! One module per outside system. Each owns its client and hands back typed
//! observations; none knows about widgets.

pub mod metrics;
pub mod port_owner;
pub mod worker_proc;
