//! The people who use ranah: who a bearer token belongs to, with the roles in effect on the
//! office's today, and the granting of roles (refusing combinations the core forbids).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::ServiceError;
use crate::domain::access::{self, Actor, Grant};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::calendar::Calendar;
use crate::store::{Store, StoreError, TOKEN_PREFIX, token_prefix};

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

    /// The attribution of an administrator acting in the console; refused for anyone else.
    pub fn administrator(&self, caller: &Actor) -> Result<Attribution, ServiceError> {
        if !access::may_administer_people(caller) {
            return Err(ServiceError::Forbidden(
                "users, roles and tokens are administered by admins".into(),
            ));
        }
        Ok(Attribution::of(caller))
    }

    /// An agency by its code.
    pub async fn agency(&self, code: &str) -> Result<Option<crate::store::Agency>, ServiceError> {
        Ok(self.store.agency(code).await?)
    }

    /// Every user with their grants.
    pub async fn users(&self) -> Result<Vec<crate::store::UserRow>, ServiceError> {
        Ok(self.store.list_users().await?)
    }

    /// Every token (never the token itself), newest first.
    pub async fn tokens(&self) -> Result<Vec<crate::store::TokenInfo>, ServiceError> {
        Ok(self.store.list_tokens().await?)
    }

    /// Replace a user's roles, refusing combinations that may not be held together.
    pub async fn set_roles(
        &self,
        name: &str,
        grants: &[Grant],
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let agency = self.store.user_agency(name).await?;
        access::check_grants(grants, agency).map_err(|e| ServiceError::Forbidden(e.to_string()))?;
        let roles: Vec<String> = grants.iter().map(Grant::text).collect();
        let audit = AuditEntry::by(
            by,
            "user.roles",
            format!("user/{name}"),
            json!({"after": roles}),
        );
        Ok(self.store.set_grants(name, grants, &audit, now).await?)
    }

    /// Register an agency.
    pub async fn add_agency(
        &self,
        code: &str,
        name: &str,
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let audit = AuditEntry::by(
            by,
            "agency.add",
            format!("agency/{code}"),
            json!({"name": name}),
        );
        self.store.add_agency(code, name, &audit, now).await
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
        if let Some(e) = email
            && !crate::domain::signin::plausible_email(e)
        {
            return Err(ServiceError::Forbidden(format!(
                "`{e}` is not an email address"
            )));
        }
        let roles: Vec<serde_json::Value> = grants
            .iter()
            .map(|g| json!({"role": g.role.as_str(), "from": g.from, "until": g.until}))
            .collect();
        let audit = AuditEntry::by(
            by,
            "user.add",
            format!("user/{name}"),
            json!({"email": email, "agency": agency_id, "roles": roles}),
        );
        Ok(self
            .store
            .add_user(name, email, agency_id, grants, &audit, now)
            .await?)
    }

    /// Disable a user: their tokens stop working at once.
    pub async fn disable_user(
        &self,
        name: &str,
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let audit = AuditEntry::by(by, "user.disable", format!("user/{name}"), json!({}));
        self.store.disable_user(name, &audit, now).await
    }

    /// Create a token for a user: 256 random bits, returned once; only its hash is stored, and
    /// the trail names its id and visible prefix, never the token.
    pub async fn create_token(
        &self,
        user: &str,
        expires_at: Option<DateTime<Utc>>,
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(i64, String), StoreError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        // The token itself never enters the trail: its id (filled in by the store) and its
        // visible prefix do.
        let audit = AuditEntry::by(
            by,
            "token.create",
            format!("user/{user}"),
            json!({
                "token": null,
                "prefix": token_prefix(&token),
                "expires_at": expires_at.map(crate::domain::time::stamp),
            }),
        );
        let id = self
            .store
            .create_token(user, &token, expires_at, &audit, now)
            .await?;
        Ok((id, token))
    }

    /// Revoke a token.
    pub async fn revoke_token(
        &self,
        id: i64,
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let audit = AuditEntry::by(by, "token.revoke", format!("token/{id}"), json!({}));
        self.store.revoke_token(id, &audit, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::Role;
    use crate::domain::calendar::Calendar;
    use chrono::{NaiveDate, TimeZone};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        (dir, Store::open(&url).await.unwrap())
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn tokens_roles_and_their_limits() {
        let (_dir, s) = store().await;
        let p = People::new(s.clone(), std::sync::Arc::new(Calendar::default_wita([])));
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let agency = p
            .add_agency("DINKES", "Dinas Kesehatan", &Attribution::cli(), now)
            .await
            .unwrap();
        assert!(matches!(
            p.add_agency("DINKES", "x", &Attribution::cli(), now).await,
            Err(StoreError::AlreadyExists(_))
        ));
        p.add_user(
            "andi",
            Some("andi@dinkes.example"),
            Some(agency),
            &[Grant::permanent(Role::Applicant)],
            &Attribution::cli(),
            now,
        )
        .await
        .unwrap();
        p.add_user(
            "budi",
            None,
            None,
            &[
                Grant::permanent(Role::parse("head_of_division").unwrap()),
                Grant {
                    role: Role::parse("head_of_office").unwrap(),
                    from: Some(day("2026-12-01")),
                    until: Some(day("2026-12-31")),
                },
            ],
            &Attribution::cli(),
            now,
        )
        .await
        .unwrap();
        let (_, andi) = p
            .create_token("andi", None, &Attribution::cli(), now)
            .await
            .unwrap();
        assert!(andi.starts_with(TOKEN_PREFIX) && andi.len() > 40);
        let who = s
            .authenticate(&andi, now)
            .await
            .unwrap()
            .unwrap()
            .on(day("2026-11-23"));
        assert_eq!(
            (who.name.as_str(), who.agency_id, who.roles.clone()),
            ("andi", Some(agency), vec![Role::Applicant])
        );
        assert_eq!(s.authenticate("ranah_wrong", now).await.unwrap(), None);

        // An acting appointment holds only within its dates.
        let (_, budi) = p
            .create_token(
                "budi",
                Some(now + chrono::Duration::days(60)),
                &Attribution::cli(),
                now,
            )
            .await
            .unwrap();
        let roles = |d: &'static str| {
            let s = s.clone();
            let budi = budi.clone();
            async move {
                s.authenticate(&budi, now)
                    .await
                    .unwrap()
                    .unwrap()
                    .on(day(d))
                    .roles
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(roles("2026-11-30").await, ["head_of_division"]);
        assert_eq!(
            roles("2026-12-01").await,
            ["head_of_division", "head_of_office"]
        );
        assert_eq!(
            roles("2026-12-31").await,
            ["head_of_division", "head_of_office"]
        );
        assert_eq!(roles("2027-01-01").await, ["head_of_division"]);
        // Expiry.
        assert_eq!(
            s.authenticate(&budi, now + chrono::Duration::days(61))
                .await
                .unwrap(),
            None
        );

        // Revocation and disabling end access at once; the listing never shows the token.
        let listed = s.list_tokens().await.unwrap();
        assert_eq!(listed.len(), 2);
        // Only a short prefix is kept: enough to recognise a token, far from enough to use it.
        assert!(
            listed
                .iter()
                .all(|t| t.prefix.len() == TOKEN_PREFIX.len() + 6)
        );
        assert!(listed.iter().any(|t| andi.starts_with(&t.prefix)));
        p.revoke_token(listed[0].id, &Attribution::cli(), now)
            .await
            .unwrap();
        assert_eq!(s.authenticate(&budi, now).await.unwrap(), None);
        assert!(matches!(
            p.revoke_token(listed[0].id, &Attribution::cli(), now).await,
            Err(StoreError::NotFound(_))
        ));
        p.disable_user("andi", &Attribution::cli(), now)
            .await
            .unwrap();
        assert_eq!(s.authenticate(&andi, now).await.unwrap(), None);
        assert!(matches!(
            p.create_token("andi", None, &Attribution::cli(), now).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
