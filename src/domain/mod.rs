//! The pure core: rules without I/O, clocks or networking. Everything here takes what it needs
//! (the current time, the current state) as arguments and returns what follows, so that it can
//! be tested exhaustively and reused by every adapter.
//!
//! This module imports nothing from tokio, sqlx, axum, hickory or instant-acme; CI checks that.

pub mod access;
pub mod attachment;
pub mod audit;
pub mod backup;
pub mod calendar;
pub mod certificate;
pub mod complaint;
pub mod confirmation;
pub mod dnssec;
pub mod expiry;
pub mod finding;
pub mod integration;
pub mod letter;
pub mod notice;
pub mod policy;
pub mod report;
pub mod request;
pub mod serial;
pub mod signin;
pub mod time;
pub mod update;
pub mod workflow;
