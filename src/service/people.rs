//! The people who use ranah: who a bearer token belongs to, with the roles in effect on the
//! office's today, and the granting of roles (refusing combinations the core forbids).

use chrono::{DateTime, Utc};

use super::ServiceError;
use crate::domain::access::{self, Actor, Grant};
use crate::domain::audit::Attribution;
use crate::domain::calendar::Calendar;
use crate::store::Store;

/// People and their tokens.
pub struct People {
    store: Store,
    calendar: std::sync::Arc<Calendar>,
}

impl People {
    /// The service over the store; `calendar` says which day it is in the office.
    pub fn new(store: Store, calendar: std::sync::Arc<Calendar>) -> Self {
        Self { store, calendar }
    }

    /// The user a token belongs to, acting with the roles in effect today in the office's time
    /// zone; `None` for an unknown, expired or revoked token or a disabled user.
    pub async fn authenticate(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Actor>, ServiceError> {
        let today = now.with_timezone(&self.calendar.time_zone()).date_naive();
        Ok(self
            .store
            .authenticate(token, now)
            .await?
            .map(|account| account.on(today)))
    }

    /// Add a user with `grants`, refusing combinations that may not be held together.
    pub async fn add_user(
        &self,
        name: &str,
        email: Option<&str>,
        agency_id: Option<i64>,
        grants: &[Grant],
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<i64, ServiceError> {
        access::check_grants(grants, agency_id)
            .map_err(|e| ServiceError::Forbidden(e.to_string()))?;
        Ok(self
            .store
            .add_user(name, email, agency_id, grants, by, now)
            .await?)
    }
}
