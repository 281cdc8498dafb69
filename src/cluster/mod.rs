//! Several instances on one PostgreSQL store: each answers DNS and the API from memory and
//! follows the changes the others commit ([`follow`]); one of them, the leader, runs the
//! background jobs ([`leader`]); each reports how it is in the store, for `ranah status`
//! ([`presence`]).
//!
//! On SQLite there is one instance; the same task picks up the changes the CLI makes beside
//! it, by polling.

pub mod follow;
pub mod leader;
pub mod presence;
