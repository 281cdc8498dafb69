//! The audit trail's adapters: the chain itself is the core's (`domain::audit`), its rows the
//! store's; here are the signed checkpoints of its head.

pub mod checkpoint;
