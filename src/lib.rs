//! ranah: authoritative DNS for a government agency's zone, and the approval workflow that
//! turns subdomain requests into live records and certificates.
//!
//! # Module map
//!
//! | module | what it is | depends on |
//! |---|---|---|
//! | [`domain`] | the pure core: rules without I/O or clocks (serials now; workflow, roles, time standards next) | nothing of tokio, sqlx, axum, hickory |
//! | [`config`] | layered configuration → one immutable [`config::Config`] | — |
//! | [`zonefile`] | RFC 1035 master files: parse with line numbers, write for BIND/Knot/NSD | hickory-proto |
//! | [`store`] | sqlx persistence: zones, records, change journal; migrations | sqlx |
//! | [`dns`] | in-memory zone views, lookup rules, the UDP/TCP server | hickory |
//! | [`publish`] | the single entry point for record changes: store, then served view | store, dns, domain |
//! | [`service`] | workflow services: load → decide → persist in one transaction → publish | domain, store, publish |
//! | [`secondaries`] | NOTIFY, SOA polls of secondaries, their state | dns, store, metrics |
//! | [`metrics`] | Prometheus metrics for `/metrics` | prometheus-client |
//! | [`checkpoint`] | Ed25519-signed checkpoints of the audit trail's head | store, domain |
//! | [`letter`] | the response letter as PDF (printpdf) | config |
//! | [`acme`] | certificates: ACME orders with DNS-01 through [`publish`], renewal, revocation | instant-acme, store, publish |
//! | [`sealing`] | private keys at rest (AES-256-GCM) | aes-gcm |
//! | [`notify`] | delivery of the outbox by SMTP, with retries | store, lettre |
//! | [`import`] | first-start import of `zones/`, `ranah zone import` | store, zonefile |
//! | [`api`] | HTTP: health and readiness (the workflow API mounts here) | axum |
//! | [`daemon`] | `ranah serve`: wiring, background tasks, graceful shutdown | everything above |
//! | [`admin`] | agencies, users, tokens from the command line | store |
//! | [`cli`], [`telemetry`] | command line and logging | clap, tracing |
//!
//! Adapters depend on `domain`, never the other way round.

#![warn(missing_docs)]

pub mod acme;
pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dns;
pub mod domain;
pub mod outbox;
pub mod publish;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod zone;
