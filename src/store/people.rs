//! Agencies, users, roles and API tokens.

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, StoreError, append_audit};
use crate::domain::access::{Actor, Grant, Role};
use crate::domain::audit::{Attribution, AuditEntry};

/// An agency (OPD).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Agency {
    /// Id.
    pub id: i64,
    /// Short code, e.g. `DINKES`.
    pub code: String,
    /// Full name.
    pub name: String,
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenInfo {
    /// Id (for `token revoke`).
    pub id: i64,
    /// The user's name.
    pub user: String,
    /// First characters of the token.
    pub prefix: String,
    /// Created.
    pub created_at: String,
    /// Expiry, if any.
    pub expires_at: Option<String>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<String>,
}

/// The account a valid token belongs to, with every role granted to it (which of them are in
/// effect on a day is [`Actor::user`]'s to decide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub user_id: i64,
    /// User name.
    pub name: String,
    /// The user's agency, for applicants.
    pub agency_id: Option<i64>,
    /// Every grant, with its period.
    pub grants: Vec<Grant>,
}

impl Account {
    /// The account acting on `today` (the date in the office's time zone).
    pub fn on(&self, today: NaiveDate) -> Actor {
        Actor::user(
            self.user_id,
            self.name.clone(),
            self.agency_id,
            &self.grants,
            today,
        )
    }
}

/// Every grant of a user, read back.
pub(crate) async fn grants_of(
    conn: &mut sqlx::SqliteConnection,
    user_id: i64,
) -> Result<Vec<Grant>, StoreError> {
    let rows = sqlx::query(
        "SELECT role, valid_from, valid_until FROM user_roles WHERE user_id = $1 ORDER BY role",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let date = |v: Option<String>| -> Result<Option<NaiveDate>, StoreError> {
        v.map(|d| {
            d.parse()
                .map_err(|_| StoreError::Corrupt(format!("user {user_id}: role date {d}")))
        })
        .transpose()
    };
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(Grant {
                role: Role::parse(&role)
                    .map_err(|e| StoreError::Corrupt(format!("user {user_id}: {e}")))?,
                from: date(r.try_get("valid_from")?)?,
                until: date(r.try_get("valid_until")?)?,
            })
        })
        .collect()
}

/// Tokens start with this, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "ranah_";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Register an agency.
    pub async fn add_agency(
        &self,
        code: &str,
        name: &str,
        actor: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO agencies (code, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (code) DO NOTHING RETURNING id",
        )
        .bind(code)
        .bind(name)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else {
            return Err(StoreError::AlreadyExists(format!("agency {code}")));
        };
        let id: i64 = r.try_get(0)?;
        let entry = AuditEntry::by(
            actor,
            "agency.add",
            format!("agency/{code}"),
            json!({"name": name}),
        );
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// An agency by code.
    pub async fn agency(&self, code: &str) -> Result<Option<Agency>, StoreError> {
        Ok(
            sqlx::query_as::<_, Agency>("SELECT id, code, name FROM agencies WHERE code = $1")
                .bind(code)
                .fetch_optional(self.sqlite())
                .await?,
        )
    }

    /// Every agency, by code.
    pub async fn agencies(&self) -> Result<Vec<Agency>, StoreError> {
        Ok(
            sqlx::query_as::<_, Agency>("SELECT id, code, name FROM agencies ORDER BY code")
                .fetch_all(self.sqlite())
                .await?,
        )
    }

    /// An agency by id.
    pub async fn agency_by_id(&self, id: i64) -> Result<Option<Agency>, StoreError> {
        Ok(
            sqlx::query_as::<_, Agency>("SELECT id, code, name FROM agencies WHERE id = $1")
                .bind(id)
                .fetch_optional(self.sqlite())
                .await?,
        )
    }

    /// Add a user with roles, in one transaction.
    pub async fn add_user(
        &self,
        name: &str,
        email: Option<&str>,
        agency_id: Option<i64>,
        roles: &[Grant],
        actor: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO users (name, email, agency_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(email)
        .bind(agency_id)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::AlreadyExists(format!("user {name}")));
        };
        let user_id: i64 = row.try_get(0)?;
        for grant in roles {
            sqlx::query(
                "INSERT INTO user_roles (user_id, role, valid_from, valid_until) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(user_id)
            .bind(grant.role.as_str())
            .bind(grant.from.map(|d| d.to_string()))
            .bind(grant.until.map(|d| d.to_string()))
            .execute(&mut *tx)
            .await?;
        }
        let roles: Vec<serde_json::Value> = roles
            .iter()
            .map(|g| json!({"role": g.role.as_str(), "from": g.from, "until": g.until}))
            .collect();
        let entry = AuditEntry::by(
            actor,
            "user.add",
            format!("user/{name}"),
            json!({"email": email, "agency": agency_id, "roles": roles}),
        );
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// Disable a user: their tokens stop working at once.
    pub async fn disable_user(
        &self,
        name: &str,
        actor: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("UPDATE users SET disabled = 1 WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        let entry = AuditEntry::by(actor, "user.disable", format!("user/{name}"), json!({}));
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Create a token for a user: 256 random bits, returned once; only its hash is stored.
    pub async fn create_token(
        &self,
        user: &str,
        expires_at: Option<DateTime<Utc>>,
        actor: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(i64, String), StoreError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, prefix, expires_at, created_at) \
             SELECT id, $2, $3, $4, $5 FROM users WHERE name = $1 AND disabled = 0 RETURNING id",
        )
        .bind(user)
        .bind(token_hash(&token))
        .bind(&token[..TOKEN_PREFIX.len() + 6])
        .bind(expires_at.map(ts))
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else {
            return Err(StoreError::NotFound(format!("active user {user}")));
        };
        let id: i64 = r.try_get(0)?;
        // The token itself never enters the trail: its id and visible prefix do.
        let entry = AuditEntry::by(
            actor,
            "token.create",
            format!("user/{user}"),
            json!({"token": id, "prefix": &token[..TOKEN_PREFIX.len() + 6], "expires_at": expires_at.map(ts)}),
        );
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok((id, token))
    }

    /// Every token, newest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(sqlx::query_as::<_, TokenInfo>(
            "SELECT t.id, u.name AS user, t.prefix, t.created_at, t.expires_at, t.revoked_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id DESC",
        )
        .fetch_all(self.sqlite())
        .await?)
    }

    /// Revoke a token.
    pub async fn revoke_token(
        &self,
        id: i64,
        actor: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("unrevoked token {id}")));
        }
        let entry = AuditEntry::by(actor, "token.revoke", format!("token/{id}"), json!({}));
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account a token belongs to, if the token is valid at `now` and the user enabled.
    pub async fn authenticate(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Account>, StoreError> {
        let mut conn = self.sqlite().acquire().await?;
        let row = sqlx::query(
            "SELECT u.id, u.name, u.agency_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = 0 \
             AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_hash(token))
        .bind(ts(now))
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user_id: i64 = row.try_get("id")?;
        Ok(Some(Account {
            user_id,
            name: row.try_get("name")?,
            agency_id: row.try_get("agency_id")?,
            grants: grants_of(&mut conn, user_id).await?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let agency = s
            .add_agency("DINKES", "Dinas Kesehatan", &Attribution::cli(), now)
            .await
            .unwrap();
        assert!(matches!(
            s.add_agency("DINKES", "x", &Attribution::cli(), now).await,
            Err(StoreError::AlreadyExists(_))
        ));
        s.add_user(
            "andi",
            Some("andi@dinkes.example"),
            Some(agency),
            &[Grant::permanent(Role::Applicant)],
            &Attribution::cli(),
            now,
        )
        .await
        .unwrap();
        s.add_user(
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
        let (_, andi) = s
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
        let (_, budi) = s
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
        s.revoke_token(listed[0].id, &Attribution::cli(), now)
            .await
            .unwrap();
        assert_eq!(s.authenticate(&budi, now).await.unwrap(), None);
        assert!(matches!(
            s.revoke_token(listed[0].id, &Attribution::cli(), now).await,
            Err(StoreError::NotFound(_))
        ));
        s.disable_user("andi", &Attribution::cli(), now)
            .await
            .unwrap();
        assert_eq!(s.authenticate(&andi, now).await.unwrap(), None);
        assert!(matches!(
            s.create_token("andi", None, &Attribution::cli(), now).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

/// One name to give an owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Owner name, absolute with the trailing dot, lower-case.
    pub owner: String,
    /// The agency's code.
    pub agency: String,
}

impl Store {
    /// Give names an owning agency, all or nothing: every name must have records in a zone
    /// and every agency must exist. Returns how many records changed owner.
    pub async fn assign_names(
        &self,
        assignments: &[Assignment],
        source: &str,
        actor: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let mut changed = 0;
        for a in assignments {
            let agency: Option<i64> = sqlx::query_scalar("SELECT id FROM agencies WHERE code = $1")
                .bind(&a.agency)
                .fetch_optional(&mut *tx)
                .await?;
            let agency =
                agency.ok_or_else(|| StoreError::NotFound(format!("agency {}", a.agency)))?;
            let row = sqlx::query(
                "SELECT z.name AS zone, MAX(r.agency_id) AS previous, COUNT(*) AS n FROM records r \
                 JOIN zones z ON z.id = r.zone_id WHERE r.owner = $1 GROUP BY z.name",
            )
            .bind(&a.owner)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!(
                    "name {} (no records)",
                    a.owner
                )));
            };
            let zone: String = row.try_get("zone")?;
            if zone == a.owner {
                return Err(StoreError::NotFound(format!(
                    "subdomain {} (that is a zone apex)",
                    a.owner
                )));
            }
            let previous: Option<i64> = row.try_get("previous")?;
            let done = sqlx::query(
                "UPDATE records SET agency_id = $1 WHERE owner = $2 AND zone_id = \
                 (SELECT id FROM zones WHERE name = $3)",
            )
            .bind(agency)
            .bind(&a.owner)
            .bind(&zone)
            .execute(&mut *tx)
            .await?;
            changed += done.rows_affected();
            sqlx::query(
                "INSERT INTO name_assignments (zone, owner, agency_id, previous, assigned_at, \
                 source) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&zone)
            .bind(&a.owner)
            .bind(agency)
            .bind(previous)
            .bind(ts(now))
            .bind(source)
            .execute(&mut *tx)
            .await?;
            let entry = AuditEntry::by(
                actor,
                "subdomain.assign",
                format!("name/{}", a.owner.trim_end_matches('.')),
                json!({"zone": zone, "agency": a.agency, "previous_agency": previous, "source": source}),
            );
            append_audit(&mut tx, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
