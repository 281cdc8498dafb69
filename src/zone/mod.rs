//! The zone's data without I/O: RFC 1035 master files (parsed with line numbers, written for
//! BIND, Knot and NSD) and the record diffs that a change makes. The store keeps them, the DNS
//! views apply them; neither depends on the other through this module.

pub mod anchor;
pub mod diff;
pub mod file;

pub use diff::ZoneDiff;
