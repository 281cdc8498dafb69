//! ranah: authoritative DNS for a government agency's zone, and the approval workflow that
//! turns subdomain requests into live records and certificates.
//!
//! # Module map
//!
//! From the bottom up; each part depends only on parts above it in this table (and on the
//! crates named), never on one below. `tests/run-all.sh` checks the core's purity, that `api`
//! reaches the store only through `service`, and that `store` knows nothing of `dns`, `api` or
//! the services.
//!
//! | part | what it is | depends on |
//! |---|---|---|
//! | [`domain`] | the pure core: who may do what ([`domain::access`]), the request state machine, time standards, policies, complaints and their proof of work, the certificate lifecycle, the audit chain; no I/O, no clock | nothing of ranah; serde, chrono |
//! | [`zone`] | the zone's data without I/O: RFC 1035 master files, record diffs, the `_audit` anchor record, names as lookup keys, an RFC 2136 UPDATE read | domain, hickory-proto |
//! | [`store`] | sqlx persistence of what it is given: zones, records, journal, requests, people, certificates, outbox, audit rows, files beside the database | domain, zone, sqlx |
//! | [`audit`] | signed checkpoints of the audit trail's head | domain, store |
//! | [`config`] | layered configuration → one immutable [`config::Config`], one module per section | domain, zone; XXX: it checks keys with `dns::tsig`, `acme::sealing` and `audit::checkpoint`, three imports that run up the table |
//! | [`telemetry`] | logs (tracing) and Prometheus metrics | config |
//! | [`net`] | what DNS over TCP and HTTP share at the socket: connection limits in total and per source, the back-off after accept errors, the limit of open files | rlimit, prometheus-client |
//! | [`outbox`] | delivery of queued messages: mail (lettre), webhook (reqwest); the office's documents as PDF: the response letter, the register | store, config, telemetry |
//! | [`dns`] | serving: zone views (each name's sets in wire form, in a paged hash table), the response writer, the answer cache, the handler, UDP and TCP listeners, TSIG, transfers, NOTIFY and polls of secondaries, dynamic update at the edge (its decision behind [`dns::update::UpdatePort`], which `service` implements) | zone, store, config, telemetry, hickory |
//! | [`sign`] | DNSSEC signing: keys in memory, RRSIGs, the NSEC3 or NSEC chain, the apex's DNSKEY, CDS, CDNSKEY and NSEC3PARAM, re-signed as the zone changes | dns, zone, domain, hickory-proto |
//! | [`publish`] | the change path: records change only here (store, then the served view), zone imports | dns, store, zone, domain |
//! | [`check`] | the oversight checker's probes: DNS questions, TCP to 80 and 443, the TLS handshake, the page at `/`; every socket under one limit | config, dns, rustls, hyper |
//! | [`acme`] | certificates: the ACME worker (order, challenge through [`publish`], account), CSRs, keys at rest | publish, store, domain, instant-acme |
//! | [`oidc`] | single sign-on's protocol (openidconnect): discovery, the authorization request with PKCE, the code exchange, the ID token's checks | config, openidconnect, reqwest |
//! | [`service`] | one service per resource (requests, certificates, zones, subdomains, reports, audit, people, sign-in and sessions, dynamic updates and their keys, the oversight checker, the yearly confirmation, names given for a time, complaints, health): load, decide with the core, persist in one transaction, publish | everything above |
//! | [`cluster`] | several instances on one PostgreSQL store: each follows the zone changes the others commit (woken by `LISTEN`/`NOTIFY`, caught up by serial) | publish, service, store, telemetry |
//! | [`api`] | HTTP: extract, call one service, answer with a typed body or an RFC 9457 problem; OpenAPI; the Cloudflare-compatible `/client/v4` in Cloudflare's envelope | service, axum, utoipa |
//! | [`console`] | the web console at `/`: server-rendered pages (askama), sign-in, sessions' cookies and form tokens, the inbox, requests, the applicant's forms, the register; calls services like `api` | api, service, domain, askama |
//! | [`client`] | the approver's client: the API over HTTP (reqwest), its answers as text; nothing of the server's internals | reqwest, serde_json |
//! | [`cli`] | the command line: global options, the administration commands, `ranah client` | service, store, config, client |
//! | [`daemon`] | `ranah serve`: wiring, background tasks, start and shutdown | everything |
//! | `fuzzing` | hidden: entry points for the fuzz targets in `tests/fuzz`: the DNS TCP connection loop over bytes in memory, the JSON bodies read and checked as the handlers would | dns, api, service, domain, acme |

#![warn(missing_docs)]

pub mod acme;
pub mod api;
pub mod audit;
pub mod check;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod console;
pub mod daemon;
pub mod dns;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod net;
pub mod oidc;
pub mod outbox;
pub mod publish;
pub mod service;
pub mod sign;
pub mod store;
pub mod telemetry;
pub mod zone;
