//! The audit trail for auditors and admins: its events, filtered and paged, and the check of
//! its chain.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ServiceError;
use crate::domain::access::{self, Actor};
use crate::domain::audit::{AuditEvent, Verification};
use crate::domain::time;
use crate::store::{AuditFilter, Store};

/// Most events per page.
pub const MAX_PAGE: i64 = 1000;

/// Filters and paging of the trail, as the caller gives them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events of this request.
    pub request: Option<i64>,
    /// By this actor (a user name, `cli` or `system`).
    pub actor: Option<String>,
    /// This action.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Events after this sequence number.
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// The trail.
pub struct Audit {
    store: Store,
}

fn allowed(caller: &Actor) -> Result<(), ServiceError> {
    if access::may_read_audit(caller) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "the audit trail is for auditors and admins".into(),
        ))
    }
}

impl Audit {
    /// The service over the store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Events in sequence order, and the sequence number to continue after when the page is
    /// full.
    pub async fn events(
        &self,
        caller: &Actor,
        q: &AuditQuery,
    ) -> Result<(Vec<AuditEvent>, Option<i64>), ServiceError> {
        allowed(caller)?;
        let limit = q.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ServiceError::InvalidQuery(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let filter = AuditFilter {
            target: q.request.map(|id| format!("request/{id}")),
            actor: q.actor.clone(),
            action: q.action.clone(),
            since: q.since.map(time::stamp),
            until: q.until.map(time::stamp),
            after_seq: q.after.unwrap_or(0),
            limit,
        };
        let events = self.store.audit_events(&filter).await?;
        let next_after = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| e.seq))
            .flatten();
        Ok((events, next_after))
    }

    /// Check the whole chain.
    pub async fn verify(&self, caller: &Actor) -> Result<Verification, ServiceError> {
        allowed(caller)?;
        Ok(self.store.verify_audit().await?)
    }
}
