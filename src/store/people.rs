//! Agencies, users, roles and API tokens.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, StoreError, append_audit};
use crate::domain::access::{Actor, Grant, Role};
use crate::domain::audit::AuditEntry;

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

/// A user as listed for administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// The agency's code.
    pub agency: Option<String>,
    /// Disabled.
    pub disabled: bool,
    /// Made by single sign-on.
    pub single_sign_on: bool,
    /// Has a password.
    pub password: bool,
    /// Locked until, after wrong passwords.
    pub locked_until: Option<String>,
    /// Every grant.
    pub grants: Vec<Grant>,
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
    conn: &mut sqlx::AnyConnection,
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

/// Give a user `grants`, in the caller's transaction.
pub(super) async fn insert_grants(
    tx: &mut super::Tx<'_>,
    user_id: i64,
    grants: &[Grant],
) -> Result<(), StoreError> {
    for grant in grants {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role, valid_from, valid_until) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(grant.role.as_str())
        .bind(grant.from.map(|d| d.to_string()))
        .bind(grant.until.map(|d| d.to_string()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Tokens start with this, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "ranah_";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The visible start of a token (listed, and named in the audit trail).
pub fn token_prefix(token: &str) -> &str {
    token.get(..TOKEN_PREFIX.len() + 6).unwrap_or(token)
}

impl Store {
    /// Register an agency.
    pub async fn add_agency(
        &self,
        code: &str,
        name: &str,
        audit: &AuditEntry,
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
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// An agency by code.
    pub async fn agency(&self, code: &str) -> Result<Option<Agency>, StoreError> {
        Ok(
            sqlx::query_as::<_, Agency>("SELECT id, code, name FROM agencies WHERE code = $1")
                .bind(code)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Every agency, by code.
    pub async fn agencies(&self) -> Result<Vec<Agency>, StoreError> {
        Ok(
            sqlx::query_as::<_, Agency>("SELECT id, code, name FROM agencies ORDER BY code")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// An agency by id.
    pub async fn agency_by_id(&self, id: i64) -> Result<Option<Agency>, StoreError> {
        Ok(
            sqlx::query_as::<_, Agency>("SELECT id, code, name FROM agencies WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
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
        audit: &AuditEntry,
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
        insert_grants(&mut tx, user_id, roles).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// Disable a user: their tokens stop working at once.
    pub async fn disable_user(
        &self,
        name: &str,
        audit: &AuditEntry,
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
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Store a token of an enabled user (only its hash and visible prefix); returns its id. The
    /// audit entry's summary gets the id the database gave the token as `token`.
    pub async fn create_token(
        &self,
        user: &str,
        token: &str,
        expires_at: Option<DateTime<Utc>>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, prefix, expires_at, created_at) \
             SELECT id, $2, $3, $4, $5 FROM users WHERE name = $1 AND disabled = 0 RETURNING id",
        )
        .bind(user)
        .bind(token_hash(token))
        .bind(token_prefix(token))
        .bind(expires_at.map(ts))
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else {
            return Err(StoreError::NotFound(format!("active user {user}")));
        };
        let id: i64 = r.try_get(0)?;
        let mut entry = audit.clone();
        if let Some(map) = entry.summary.as_object_mut() {
            map.insert("token".into(), id.into());
        }
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every user, by name, with their grants.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query(
            "SELECT u.id, u.name, u.email, a.code AS agency, u.disabled, u.external_id, \
             u.password_hash, u.locked_until FROM users u \
             LEFT JOIN agencies a ON a.id = u.agency_id ORDER BY u.name",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut users = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let disabled: i64 = r.try_get("disabled")?;
            let external: Option<String> = r.try_get("external_id")?;
            let password: Option<String> = r.try_get("password_hash")?;
            users.push(UserRow {
                id,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                agency: r.try_get("agency")?,
                disabled: disabled != 0,
                single_sign_on: external.is_some(),
                password: password.is_some(),
                locked_until: r.try_get("locked_until")?,
                grants: grants_of(&mut conn, id).await?,
            });
        }
        Ok(users)
    }

    /// The agency of a user (`None` when the user has none); `NotFound` without the user.
    pub async fn user_agency(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT agency_id FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {name}")))?;
        Ok(row.try_get("agency_id")?)
    }

    /// A user's email address, if they have one (`None` too without the user).
    pub async fn user_email(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .flatten())
    }

    /// Replace a user's grants, with the audit event of the change.
    pub async fn set_grants(
        &self,
        name: &str,
        grants: &[Grant],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let user_id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let user_id = user_id.ok_or_else(|| StoreError::NotFound(format!("user {name}")))?;
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        insert_grants(&mut tx, user_id, grants).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every token, newest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(sqlx::query_as::<_, TokenInfo>(
            "SELECT t.id, u.name AS user, t.prefix, t.created_at, t.expires_at, t.revoked_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id DESC",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Revoke a token.
    pub async fn revoke_token(
        &self,
        id: i64,
        audit: &AuditEntry,
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
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account a token belongs to, if the token is valid at `now` and the user enabled.
    pub async fn authenticate(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Account>, StoreError> {
        let mut conn = self.pool().acquire().await?;
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

/// One name to give an owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Owner name, absolute with the trailing dot, lower-case.
    pub owner: String,
    /// The agency's code.
    pub agency: String,
}

/// What an assignment found and did, for the caller's audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned<'a> {
    /// The assignment.
    pub assignment: &'a Assignment,
    /// The name's zone.
    pub zone: &'a str,
    /// The agency that owned it before, if any.
    pub previous: Option<i64>,
}

impl Store {
    /// Give names an owning agency, all or nothing: every name must have records in a zone
    /// and every agency must exist. Returns how many records changed owner.
    pub async fn assign_names(
        &self,
        assignments: &[Assignment],
        source: &str,
        audit: &(dyn Fn(Assigned<'_>) -> AuditEntry + Sync),
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
            let entry = audit(Assigned {
                assignment: a,
                zone: &zone,
                previous,
            });
            append_audit(&mut tx, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
