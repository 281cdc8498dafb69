//! Services: load → decide (pure core) → persist in one transaction → publish. The API and
//! the command line call these; they never touch the store or the zones directly for the
//! workflow.

pub mod audit;
pub mod backup;
pub mod certificates;
pub mod cloudflare;
pub mod complaints;
pub mod confirmation;
pub mod dnssec;
mod error;
pub mod expiry;
pub mod health;
pub mod oversight;
pub mod people;
pub mod rate;
pub mod reports;
pub mod requests;
pub mod signin;
pub mod subdomains;
pub mod updates;
pub mod zones;

pub use error::ServiceError;
