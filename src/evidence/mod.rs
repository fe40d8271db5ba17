//! Run directories: reading any run (ours or the upstream tooling's) back into
//! observations for `verify`, and writing our own.

pub mod bundle;
pub mod damage;
pub mod durable;
pub mod foreign;
pub mod foreign_story;
pub mod html;
pub mod locate;
pub mod manifest;
pub mod markdown;
pub mod moments;
pub mod read;
pub mod report;
pub mod safe_read;
pub mod svg;
pub mod unpack;
pub mod write;
