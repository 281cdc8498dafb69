//! Signing in: local passwords and their lockout, accounts made by single sign-on, console
//! sessions (only a hash of the cookie is kept) and the sign-ins in progress with the provider.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::people::{Account, grants_of, insert_grants};
use super::{Store, StoreError, append_audit};
use crate::domain::access::Grant;
use crate::domain::audit::AuditEntry;
use crate::domain::signin::{AfterFailure, Lockout};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn time(v: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("{what}: time {v}")))
}

/// SHA-256 of a secret that arrives from a browser, hex: what the store keeps of it.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// What a password sign-in needs to know of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordAccount {
    /// User id.
    pub user_id: i64,
    /// Its argon2id hash (PHC string); `None`: no password set.
    pub password_hash: Option<String>,
    /// Wrong passwords in a row.
    pub failures: u32,
    /// The end of a lockout.
    pub locked_until: Option<DateTime<Utc>>,
    /// Disabled.
    pub disabled: bool,
}

/// An account made by single sign-on, found by the provider's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccount {
    /// User id.
    pub user_id: i64,
    /// User name.
    pub name: String,
    /// Disabled.
    pub disabled: bool,
    /// The agency.
    pub agency_id: Option<i64>,
    /// Every grant.
    pub grants: Vec<Grant>,
}

/// A user as single sign-on describes them.
#[derive(Debug, Clone)]
pub struct ExternalUser<'a> {
    /// User name.
    pub name: &'a str,
    /// Email address.
    pub email: Option<&'a str>,
    /// The agency.
    pub agency_id: Option<i64>,
    /// `issuer sub`.
    pub external_id: &'a str,
    /// Exactly these grants.
    pub grants: &'a [Grant],
}

/// A new console session.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// The user.
    pub user_id: i64,
    /// The cookie's value (only its hash is stored).
    pub token: &'a str,
    /// The form token.
    pub csrf: &'a str,
    /// `password` or `oidc`.
    pub method: &'a str,
    /// The provider's ID token, for logout.
    pub id_token: Option<&'a str>,
    /// The provider's refresh token.
    pub refresh_token: Option<&'a str>,
    /// The browser's address.
    pub client: Option<&'a str>,
}

/// A live session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Session id.
    pub id: i64,
    /// Its user, with every grant.
    pub account: Account,
    /// The form token.
    pub csrf: String,
    /// `password` or `oidc`.
    pub method: String,
    /// The provider's ID token.
    pub id_token: Option<String>,
    /// The provider's refresh token.
    pub refresh_token: Option<String>,
    /// When the provider was last asked about the session.
    pub checked_at: DateTime<Utc>,
    /// The user's id at the provider (`issuer sub`), for an account of single sign-on.
    pub external_id: Option<String>,
    /// Signed in.
    pub created_at: DateTime<Utc>,
    /// Last request (written at most once a minute).
    pub last_seen_at: DateTime<Utc>,
}

/// A sign-in in progress with the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// [`secret_hash`] of the browser cookie it was started with.
    pub browser_hash: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

/// What became of a state that came back from the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenSignIn {
    /// First use, within its time: taken (marked used in the same statement).
    Fresh(PendingSignIn),
    /// Seen before: a replay.
    Used,
    /// Never issued, or expired and forgotten.
    Unknown,
}

impl Store {
    /// Set (or, with `None`, remove) a user's password hash; unlocks the account.
    pub async fn set_password(
        &self,
        name: &str,
        hash: Option<&str>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, failed_sign_ins = 0, locked_until = NULL \
             WHERE name = $1 AND external_id IS NULL",
        )
        .bind(name)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // An account of single sign-on signs in at the provider only: a password would let
            // it in past a disabling there.
            return Err(StoreError::NotFound(format!(
                "local user {name} (an account of single sign-on has no password here)"
            )));
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account a password sign-in names.
    pub async fn password_account(
        &self,
        name: &str,
    ) -> Result<Option<PasswordAccount>, StoreError> {
        let row = sqlx::query(
            "SELECT id, password_hash, failed_sign_ins, locked_until, disabled FROM users \
             WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let locked: Option<String> = row.try_get("locked_until")?;
        let failures: i64 = row.try_get("failed_sign_ins")?;
        let disabled: i64 = row.try_get("disabled")?;
        Ok(Some(PasswordAccount {
            user_id: row.try_get("id")?,
            password_hash: row.try_get("password_hash")?,
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            locked_until: locked.map(|t| time(&t, "locked_until")).transpose()?,
            disabled: disabled != 0,
        }))
    }

    /// Record a wrong password, with its audit event, in one transaction: the count in a row is
    /// read and raised under the write lock (guesses sent at once are each counted), and
    /// `lockout` decides whether it locks the account. Returns what was decided.
    pub async fn record_password_failure(
        &self,
        user_id: i64,
        lockout: &Lockout,
        audit: &(dyn Fn(&AfterFailure) -> AuditEntry + Sync),
        now: DateTime<Utc>,
    ) -> Result<AfterFailure, StoreError> {
        let mut tx = self.write().await?;
        let failures: i64 = sqlx::query_scalar("SELECT failed_sign_ins FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        let after = lockout.after_failure(u32::try_from(failures).unwrap_or(u32::MAX), now);
        // A failure that sets no lock leaves a lock in place: guesses that were already under
        // way when the lock was set must not lift it.
        match after.locked_until {
            Some(until) => {
                sqlx::query(
                    "UPDATE users SET failed_sign_ins = $2, locked_until = $3 WHERE id = $1",
                )
                .bind(user_id)
                .bind(i64::from(after.failures))
                .bind(ts(until))
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("UPDATE users SET failed_sign_ins = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(i64::from(after.failures))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        append_audit(&mut tx, &audit(&after), now).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Open a session for an enabled user (clearing the password failures), with its audit
    /// event; returns the session's id. A password sign-in (`session.method` `password`) is
    /// refused ([`StoreError::Busy`]) when the account was locked meanwhile: a right guess among
    /// many sent at once does not pass a lock the wrong ones set. Sessions unused since `forget_before` (ended
    /// or long expired: the audit trail keeps their story) are deleted first, so the table
    /// holds about one day of sign-ins.
    pub async fn open_session(
        &self,
        session: &NewSession<'_>,
        audit: &AuditEntry,
        forget_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1")
            .bind(ts(forget_before))
            .execute(&mut *tx)
            .await?;
        let locked: Option<Option<String>> =
            sqlx::query_scalar("SELECT locked_until FROM users WHERE id = $1 AND disabled = 0")
                .bind(session.user_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(locked) = locked else {
            return Err(StoreError::NotFound(format!(
                "active user {}",
                session.user_id
            )));
        };
        if session.method == "password" && locked.is_some_and(|l| l > ts(now)) {
            return Err(StoreError::Busy(format!(
                "user {} was locked meanwhile",
                session.user_id
            )));
        }
        sqlx::query("UPDATE users SET failed_sign_ins = 0, locked_until = NULL WHERE id = $1")
            .bind(session.user_id)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (user_id, token_hash, csrf, method, id_token, refresh_token, \
             client, created_at, last_seen_at, checked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) RETURNING id",
        )
        .bind(session.user_id)
        .bind(secret_hash(session.token))
        .bind(session.csrf)
        .bind(session.method)
        .bind(session.id_token)
        .bind(session.refresh_token)
        .bind(session.client)
        .bind(ts(now))
        .fetch_one(&mut *tx)
        .await?;
        let mut entry = audit.clone();
        if let Some(map) = entry.summary.as_object_mut() {
            map.insert("session".into(), id.into());
        }
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The session a cookie names, if it has not ended and its user is enabled (whether it
    /// has outlived its limits is the caller's to decide).
    pub async fn session(&self, token: &str) -> Result<Option<StoredSession>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query(
            "SELECT s.id, s.csrf, s.method, s.id_token, s.refresh_token, s.checked_at, \
             s.created_at, s.last_seen_at, u.id AS user_id, u.name, u.agency_id, u.external_id \
             FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.ended_at IS NULL AND u.disabled = 0",
        )
        .bind(secret_hash(token))
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: i64 = row.try_get("user_id")?;
        let created: String = row.try_get("created_at")?;
        let seen: String = row.try_get("last_seen_at")?;
        let checked: Option<String> = row.try_get("checked_at")?;
        Ok(Some(StoredSession {
            id: row.try_get("id")?,
            account: Account {
                user_id,
                name: row.try_get("name")?,
                agency_id: row.try_get("agency_id")?,
                grants: grants_of(&mut conn, user_id).await?,
            },
            csrf: row.try_get("csrf")?,
            method: row.try_get("method")?,
            id_token: row.try_get("id_token")?,
            refresh_token: row.try_get("refresh_token")?,
            checked_at: time(checked.as_deref().unwrap_or(&created), "session")?,
            external_id: row.try_get("external_id")?,
            created_at: time(&created, "session")?,
            last_seen_at: time(&seen, "session")?,
        }))
    }

    /// Claim the next check of a session with the provider: `true` for the one caller that moved
    /// `checked_at` from `seen` to `now` (two pages at once do not both use the refresh token).
    pub async fn claim_check(
        &self,
        id: i64,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE sessions SET checked_at = $3 \
             WHERE id = $1 AND ended_at IS NULL AND checked_at = $2",
        )
        .bind(id)
        .bind(ts(seen))
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Note that the provider was asked about a session now, and the refresh token to use next.
    pub async fn record_check(
        &self,
        id: i64,
        refresh_token: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE sessions SET checked_at = $2, refresh_token = $3 \
             WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(ts(now))
        .bind(refresh_token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Note that a session was used now.
    pub async fn touch_session(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// End a session, with its audit event (when given); `false` if it had ended already.
    pub async fn end_session(
        &self,
        id: i64,
        reason: &str,
        audit: Option<&AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $2, end_reason = $3, refresh_token = NULL \
             WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(ts(now))
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let ended = done.rows_affected() > 0;
        if ended && let Some(audit) = audit {
            append_audit(&mut tx, audit, now).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Record a refused sign-in: end the user's sessions, if the refusal names a user, and
    /// append the audit event, in one transaction; returns how many sessions ended.
    pub async fn refuse_sign_in(
        &self,
        user_id: Option<i64>,
        reason: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let mut ended = 0;
        if let Some(user_id) = user_id {
            ended = sqlx::query(
                "UPDATE sessions SET ended_at = $2, end_reason = $3, refresh_token = NULL \
                 WHERE user_id = $1 AND ended_at IS NULL",
            )
            .bind(user_id)
            .bind(ts(now))
            .bind(reason)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        let mut entry = audit.clone();
        if let Some(map) = entry.summary.as_object_mut() {
            map.insert("sessions_ended".into(), ended.into());
        }
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Remember a sign-in sent to the provider. Attempts older than `forget_before` are
    /// forgotten first; with `max_pending` or more remembered, the new one is refused
    /// ([`StoreError::Busy`]), so that visitors cannot grow the table without bound.
    pub async fn begin_sign_in(
        &self,
        state: &str,
        pending: &PendingSignIn,
        max_pending: i64,
        forget_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sign_in_attempts WHERE created_at < $1")
            .bind(ts(forget_before))
            .execute(&mut *tx)
            .await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sign_in_attempts")
            .fetch_one(&mut *tx)
            .await?;
        if held >= max_pending {
            return Err(StoreError::Busy(format!(
                "{held} sign-ins are in progress with the provider"
            )));
        }
        sqlx::query(
            "INSERT INTO sign_in_attempts (state_hash, browser_hash, nonce, pkce_verifier, \
             created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(secret_hash(state))
        .bind(&pending.browser_hash)
        .bind(&pending.nonce)
        .bind(&pending.pkce_verifier)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Take the sign-in a state names: once, and only if begun at or after `not_before`.
    pub async fn take_sign_in(
        &self,
        state: &str,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<TakenSignIn, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "SELECT browser_hash, nonce, pkce_verifier, created_at, used_at \
             FROM sign_in_attempts WHERE state_hash = $1",
        )
        .bind(secret_hash(state))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(TakenSignIn::Unknown);
        };
        let used: Option<String> = row.try_get("used_at")?;
        if used.is_some() {
            return Ok(TakenSignIn::Used);
        }
        let created: String = row.try_get("created_at")?;
        if time(&created, "sign-in attempt")? < not_before {
            return Ok(TakenSignIn::Unknown);
        }
        sqlx::query("UPDATE sign_in_attempts SET used_at = $2 WHERE state_hash = $1")
            .bind(secret_hash(state))
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TakenSignIn::Fresh(PendingSignIn {
            browser_hash: row.try_get("browser_hash")?,
            nonce: row.try_get("nonce")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
        }))
    }

    /// The account single sign-on made for the provider's `external_id`.
    pub async fn external_account(
        &self,
        external_id: &str,
    ) -> Result<Option<ExternalAccount>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let row =
            sqlx::query("SELECT id, name, disabled, agency_id FROM users WHERE external_id = $1")
                .bind(external_id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: i64 = row.try_get("id")?;
        let disabled: i64 = row.try_get("disabled")?;
        Ok(Some(ExternalAccount {
            user_id,
            name: row.try_get("name")?,
            disabled: disabled != 0,
            agency_id: row.try_get("agency_id")?,
            grants: grants_of(&mut conn, user_id).await?,
        }))
    }

    /// Make the account of a first single sign-on, with exactly `grants`.
    pub async fn add_external_user(
        &self,
        user: &ExternalUser<'_>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO users (name, email, agency_id, external_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(user.name)
        .bind(user.email)
        .bind(user.agency_id)
        .bind(user.external_id)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::AlreadyExists(format!("user {}", user.name)));
        };
        let user_id: i64 = row.try_get(0)?;
        insert_grants(&mut tx, user_id, user.grants).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// Replace a user's grants, email and agency with what single sign-on now says, with the
    /// audit event of the change.
    pub async fn update_external_user(
        &self,
        user_id: i64,
        user: &ExternalUser<'_>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE users SET email = $2, agency_id = $3 WHERE id = $1")
            .bind(user_id)
            .bind(user.email)
            .bind(user.agency_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        insert_grants(&mut tx, user_id, user.grants).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
