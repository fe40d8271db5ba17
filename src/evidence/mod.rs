//! Run directories: reading any run (ours or the upstream tooling's) back into
//! observations for `verify`, and writing our own.

pub mod read;
