//! Several instances on one PostgreSQL store: each answers DNS and the API from memory and
//! follows the changes the others commit ([`follow`]).
//!
//! On SQLite there is one instance; the same task picks up the changes the CLI makes beside
//! it, by polling.

pub mod follow;
