//! Signing in to the console: local passwords (argon2id, a lockout after wrong ones), single
//! sign-on through the office's OpenID provider (the account made at the first sign-in with
//! the roles the claims map to, kept in step at every later one), and the sessions that
//! follow (idle and absolute limits, a form token each, logout). Every sign-in, refusal,
//! role change and end of a session is in the audit trail.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use serde_json::json;

use super::ServiceError;
use crate::config::{ConsoleConfig, OidcConfig, Origin};
use crate::domain::access::{self, Actor, Grant, Role};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::calendar::Calendar;
use crate::domain::signin::{Lockout, SessionEnd, SessionLimits, valid_user_name};
use crate::domain::workflow::Workflow;
use crate::oidc::{OidcError, Provider};
use crate::store::{
    ExternalUser, NewSession, PendingSignIn, Store, StoreError, TakenSignIn, secret_hash,
};

/// Sign-ins sent to the provider and not yet back, at most.
const MAX_PENDING_SIGN_INS: i64 = 10_000;
/// How long a sign-in may take at the provider.
const SIGN_IN_TIME: Duration = Duration::minutes(10);
/// The shortest password a user may be given.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password hashed (argon2 takes any length; this keeps a request's work bounded).
const MAX_PASSWORD_BYTES: usize = 1024;
/// Password hashes computed at once (each takes 19 MiB and some tens of milliseconds).
const HASHING_AT_ONCE: usize = 2;
/// Sources the attempt counter tracks at once.
const TRACKED_SOURCES: usize = 4096;
/// The provider's metadata and keys are read again after this long (keys rotate).
const PROVIDER_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);

/// Why a sign-in was refused. What the browser is told is the `Display` text, in terms a user
/// can act on; the audit trail has the reason too.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong user name or password (which of the two is not said).
    #[error("the user name or password is wrong")]
    WrongPassword,
    /// Locked after wrong passwords.
    #[error("the account is locked after repeated wrong passwords until {0}")]
    Locked(String),
    /// Passwords are turned off.
    #[error("signing in with a password is turned off here; use single sign-on")]
    PasswordsOff,
    /// No single sign-on is configured.
    #[error("single sign-on is not configured")]
    NoSingleSignOn,
    /// Too many attempts from one source.
    #[error("too many sign-in attempts; wait a minute")]
    TooManyAttempts,
    /// The provider cannot be used, or its answer was refused.
    #[error(transparent)]
    Provider(#[from] OidcError),
    /// The provider sent the browser back with an error.
    #[error("the single sign-on provider refused the sign-in: {0}")]
    ProviderRefused(String),
    /// The state came back a second time.
    #[error("this sign-in was used already; sign in again")]
    Replayed,
    /// The state is unknown or too old, or came back to another browser.
    #[error("this sign-in is unknown or has expired; sign in again")]
    UnknownState,
    /// The account is disabled.
    #[error("the account {0} is disabled")]
    Disabled(String),
    /// The claims do not make a user of ranah.
    #[error("{0}")]
    Unmapped(String),
    /// The store or another part failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// A session just opened: the cookie's value, shown once.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The session cookie's value.
    pub token: String,
    /// The user's name.
    pub user: String,
}

/// A sign-in begun: where to send the browser, and the cookie that ties the answer to it.
#[derive(Debug, Clone)]
pub struct Begun {
    /// The provider's address.
    pub url: String,
    /// The value of the browser cookie.
    pub browser: String,
}

/// The user of a live session.
#[derive(Debug, Clone)]
pub struct Current {
    /// The session's id.
    pub session_id: i64,
    /// The user, with the roles in effect today.
    pub actor: Actor,
    /// The session's form token.
    pub csrf: String,
    /// Signed in through single sign-on.
    pub single_sign_on: bool,
}

/// The provider, discovered, and when; and when discovery last failed.
#[derive(Default)]
struct Discovered {
    provider: Option<Arc<Provider>>,
    at: Option<std::time::Instant>,
    failed_at: Option<std::time::Instant>,
}

/// After a failed discovery, the provider is not asked again for this long (the keys read
/// before, if any, serve meanwhile): callers do not queue behind one slow failure after another.
const DISCOVERY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(30);

/// Signing in and sessions.
pub struct SignIn {
    store: Store,
    calendar: Arc<Calendar>,
    workflow: Arc<Workflow>,
    console: ConsoleConfig,
    origin: Option<Origin>,
    provider: tokio::sync::Mutex<Discovered>,
    hashing: tokio::sync::Semaphore,
    attempts: Mutex<HashMap<IpAddr, (DateTime<Utc>, u32)>>,
    /// A hash to check wrong user names against, so that a name that does not exist takes as
    /// long to refuse as a wrong password.
    decoy: String,
}

impl SignIn {
    /// The service; `origin` is where browsers reach the console (`None`: nobody may sign in,
    /// see [`ConsoleConfig::origin`]).
    pub fn new(
        store: Store,
        calendar: Arc<Calendar>,
        workflow: Arc<Workflow>,
        console: ConsoleConfig,
        origin: Option<Origin>,
    ) -> Result<Self, ServiceError> {
        if let Some(oidc) = &console.oidc {
            check_mapping(oidc, &workflow)?;
        }
        Ok(Self {
            store,
            calendar,
            workflow,
            console,
            origin,
            provider: tokio::sync::Mutex::new(Discovered::default()),
            hashing: tokio::sync::Semaphore::new(HASHING_AT_ONCE),
            attempts: Mutex::new(HashMap::new()),
            decoy: hash_password_now("decoy password, never anyone's")?,
        })
    }

    /// Where browsers reach the console, if anyone may sign in.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// Whether passwords are accepted.
    pub fn passwords_on(&self) -> bool {
        self.console.password_sign_in
    }

    /// Whether single sign-on is configured.
    pub fn single_sign_on(&self) -> bool {
        self.console.oidc.is_some()
    }

    /// The office's time zone, for the times a page shows.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.calendar.time_zone()
    }

    /// The session limits.
    pub fn limits(&self) -> SessionLimits {
        self.console.sessions
    }

    /// Give a user a password (an administrator in the console; see [`set_password`]).
    pub async fn set_password(
        &self,
        name: &str,
        password: Option<&str>,
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        set_password(&self.store, name, password, by, now).await
    }

    /// Sign in with a user name and password.
    pub async fn password(
        &self,
        name: &str,
        password: &str,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Opened, SignInError> {
        if !self.console.password_sign_in {
            return Err(SignInError::PasswordsOff);
        }
        self.count_attempt(client, now)?;
        let who = anonymous(client);
        let account = if valid_user_name(name) {
            self.store.password_account(name).await?
        } else {
            None
        };
        let target = if valid_user_name(name) {
            format!("user/{name}")
        } else {
            "user/(invalid name)".into()
        };
        let refuse = |reason: &str| {
            AuditEntry::by(
                &who,
                "signin.refused",
                target.clone(),
                json!({"method": "password", "reason": reason}),
            )
        };
        let Some(account) = account else {
            // As long as a wrong password takes.
            let _ = self.verify_password(&self.decoy, password).await;
            self.store
                .refuse_sign_in(None, "unknown", &refuse("unknown user"), now)
                .await?;
            return Err(SignInError::WrongPassword);
        };
        // A disabled or locked account costs as long to refuse as a wrong password, and a
        // disabled one is refused in the same words: neither tells what exists.
        if account.disabled {
            let _ = self.verify_password(&self.decoy, password).await;
            self.store
                .refuse_sign_in(Some(account.user_id), "disabled", &refuse("disabled"), now)
                .await?;
            return Err(SignInError::WrongPassword);
        }
        if Lockout::locked(account.locked_until, now) {
            let _ = self.verify_password(&self.decoy, password).await;
            let until = account
                .locked_until
                .map(|t| {
                    t.with_timezone(&self.calendar.time_zone())
                        .format("%Y-%m-%d %H:%M %Z")
                        .to_string()
                })
                .unwrap_or_default();
            self.store
                .refuse_sign_in(None, "locked", &refuse("locked"), now)
                .await?;
            return Err(SignInError::Locked(until));
        }
        let Some(hash) = account.password_hash.as_deref() else {
            let _ = self.verify_password(&self.decoy, password).await;
            self.store
                .refuse_sign_in(None, "no password", &refuse("no password set"), now)
                .await?;
            return Err(SignInError::WrongPassword);
        };
        if !self.verify_password(hash, password).await? {
            let audit = |after: &crate::domain::signin::AfterFailure| {
                AuditEntry::by(
                    &who,
                    "signin.refused",
                    target.clone(),
                    json!({
                        "method": "password",
                        "reason": "wrong password",
                        "locked_until": after.locked_until.map(crate::domain::time::stamp),
                    }),
                )
            };
            self.store
                .record_password_failure(account.user_id, &self.console.lockout, &audit, now)
                .await?;
            return Err(SignInError::WrongPassword);
        }
        self.open(account.user_id, name, "password", None, client, now)
            .await
    }

    /// Begin a sign-in through the provider.
    pub async fn begin_single_sign_on(
        &self,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Begun, SignInError> {
        self.count_attempt(client, now)?;
        let provider = self.provider().await?;
        let authorization = provider.authorize();
        let browser = random_token()?;
        let pending = PendingSignIn {
            browser_hash: secret_hash(&browser),
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
        };
        self.store
            .begin_sign_in(
                &authorization.state,
                &pending,
                MAX_PENDING_SIGN_INS,
                now - SIGN_IN_TIME,
                now,
            )
            .await?;
        Ok(Begun {
            url: authorization.url,
            browser,
        })
    }

    /// The browser came back from the provider: with a code (`Ok`) or an error (`Err`).
    pub async fn finish_single_sign_on(
        &self,
        state: &str,
        answer: Result<&str, &str>,
        browser: Option<&str>,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Opened, SignInError> {
        let who = anonymous(client);
        let refuse = |reason: String, target: &str| {
            AuditEntry::by(
                &who,
                "signin.refused",
                target.to_owned(),
                json!({"method": "oidc", "reason": reason}),
            )
        };
        self.count_attempt(client, now)?;
        let provider = self.provider().await?;
        let pending = match self
            .store
            .take_sign_in(state, now - SIGN_IN_TIME, now)
            .await?
        {
            TakenSignIn::Fresh(p) => p,
            TakenSignIn::Used => {
                self.store
                    .refuse_sign_in(None, "replay", &refuse("state replayed".into(), "-"), now)
                    .await?;
                return Err(SignInError::Replayed);
            }
            // Anyone can make up a state: logged, not a row of the trail each.
            TakenSignIn::Unknown => {
                tracing::info!(client = ?client, "single sign-on: an unknown or expired state");
                return Err(SignInError::UnknownState);
            }
        };
        // The answer must come back to the browser the sign-in began in: otherwise someone
        // could sign a victim in as themselves (login CSRF).
        if browser.map(secret_hash).as_deref() != Some(pending.browser_hash.as_str()) {
            self.store
                .refuse_sign_in(
                    None,
                    "browser",
                    &refuse("came back to another browser".into(), "-"),
                    now,
                )
                .await?;
            return Err(SignInError::UnknownState);
        }
        let code = match answer {
            Ok(code) => code,
            Err(error) => {
                let error: String = error.chars().take(200).collect();
                self.store
                    .refuse_sign_in(
                        None,
                        "provider",
                        &refuse(format!("provider: {error}"), "-"),
                        now,
                    )
                    .await?;
                return Err(SignInError::ProviderRefused(error));
            }
        };
        let verified = match provider
            .finish(code, &pending.nonce, &pending.pkce_verifier)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                self.store
                    .refuse_sign_in(None, "token", &refuse(e.to_string(), "-"), now)
                    .await?;
                return Err(e.into());
            }
        };
        let (user_id, name) = self.admit(&provider, &verified, client, now).await?;
        self.open(user_id, &name, "oidc", Some(&verified), client, now)
            .await
    }

    /// The account a verified ID token stands for: made at the first sign-in, its roles,
    /// agency and email set again from the claims at every later one (the change recorded);
    /// refused, with its sessions ended, when the claims map to nothing or it is disabled.
    async fn admit(
        &self,
        provider: &Provider,
        verified: &crate::oidc::Verified,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(i64, String), SignInError> {
        let who = anonymous(client);
        let refuse = |reason: String, target: &str| {
            AuditEntry::by(
                &who,
                "signin.refused",
                target.to_owned(),
                json!({"method": "oidc", "reason": reason}),
            )
        };
        let Some(oidc) = &self.console.oidc else {
            return Err(SignInError::NoSingleSignOn);
        };
        let known = self.store.external_account(&verified.external_id).await?;
        let mapped = match oidc.mapping.map(&verified.claims) {
            Ok(m) => m,
            Err(e) => {
                let target = known
                    .as_ref()
                    .map(|k| format!("user/{}", k.name))
                    .unwrap_or_else(|| "-".into());
                self.store
                    .refuse_sign_in(
                        known.as_ref().map(|k| k.user_id),
                        SessionEnd::Unmapped.as_str(),
                        &refuse(e.to_string(), &target),
                        now,
                    )
                    .await?;
                return Err(SignInError::Unmapped(e.to_string()));
            }
        };
        let target = format!("user/{}", mapped.username);
        if let Some(k) = &known
            && k.disabled
        {
            self.store
                .refuse_sign_in(
                    Some(k.user_id),
                    SessionEnd::Disabled.as_str(),
                    &refuse("disabled".into(), &format!("user/{}", k.name)),
                    now,
                )
                .await?;
            return Err(SignInError::Disabled(k.name.clone()));
        }
        let agency_id = match &mapped.agency {
            Some(code) => match self.store.agency(code).await? {
                Some(a) => Some(a.id),
                None => {
                    let reason = format!("the agency {code} the account names is not registered");
                    self.store
                        .refuse_sign_in(
                            known.as_ref().map(|k| k.user_id),
                            SessionEnd::Unmapped.as_str(),
                            &refuse(reason.clone(), &target),
                            now,
                        )
                        .await?;
                    return Err(SignInError::Unmapped(reason));
                }
            },
            None => None,
        };
        let grants: Vec<Grant> = mapped.roles.iter().cloned().map(Grant::permanent).collect();
        let roles: Vec<&str> = mapped.roles.iter().map(Role::as_str).collect();
        let user = ExternalUser {
            name: &mapped.username,
            email: mapped.email.as_deref(),
            agency_id,
            external_id: &verified.external_id,
            grants: &grants,
        };
        let who_now = Attribution {
            name: mapped.username.clone(),
            ..who.clone()
        };
        let user_id = match known {
            None => {
                let audit = AuditEntry::by(
                    &who_now,
                    "user.add",
                    target.clone(),
                    json!({
                        "via": "oidc",
                        "issuer": provider.issuer(),
                        "email": mapped.email,
                        "agency": agency_id,
                        "roles": roles,
                    }),
                );
                match self.store.add_external_user(&user, &audit, now).await {
                    Ok(id) => id,
                    Err(StoreError::AlreadyExists(_)) => {
                        let reason = format!(
                            "a local account named {} exists; an administrator must remove or \
                             rename it before this person can sign in through single sign-on",
                            mapped.username
                        );
                        self.store
                            .refuse_sign_in(None, "taken", &refuse(reason.clone(), &target), now)
                            .await?;
                        return Err(SignInError::Unmapped(reason));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(k) => {
                let before: Vec<&str> = k.grants.iter().map(|g| g.role.as_str()).collect();
                if before != roles || k.agency_id != agency_id {
                    let audit = AuditEntry::by(
                        &who_now,
                        "user.roles",
                        format!("user/{}", k.name),
                        json!({
                            "via": "oidc",
                            "before": before,
                            "after": roles,
                            "agency_before": k.agency_id,
                            "agency": agency_id,
                        }),
                    );
                    self.store
                        .update_external_user(k.user_id, &user, &audit, now)
                        .await?;
                }
                return Ok((k.user_id, k.name));
            }
        };
        Ok((user_id, mapped.username))
    }

    /// The user of a session cookie, if the session is alive; a session past its limits is
    /// ended here (and audited once).
    pub async fn current(
        &self,
        token: &str,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Option<Current>, ServiceError> {
        let Some(session) = self.store.session(token).await? else {
            return Ok(None);
        };
        if let Err(end) = self
            .console
            .sessions
            .check(session.created_at, session.last_seen_at, now)
        {
            let audit = AuditEntry::by(
                &Attribution::system(),
                "session.end",
                format!("user/{}", session.account.name),
                json!({"session": session.id, "reason": end.as_str()}),
            );
            self.store
                .end_session(session.id, end.as_str(), Some(&audit), now)
                .await?;
            return Ok(None);
        }
        // A session of single sign-on is put to the provider again every few minutes, with
        // its refresh token: a person disabled or signed out there is signed out here too,
        // and changed roles take effect without a new sign-in.
        let session = match (&session.refresh_token, &self.console.oidc) {
            (Some(refresh), Some(oidc))
                if session.method == "oidc"
                    && now - session.checked_at >= oidc.recheck
                    && self
                        .store
                        .claim_check(session.id, session.checked_at, now)
                        .await? =>
            {
                let refresh = refresh.clone();
                if !self.recheck(&session, &refresh, client, now).await? {
                    return Ok(None);
                }
                match self.store.session(token).await? {
                    Some(s) => s,
                    None => return Ok(None),
                }
            }
            _ => session,
        };
        if SessionLimits::needs_touch(session.last_seen_at, now) {
            self.store.touch_session(session.id, now).await?;
        }
        let today = now.with_timezone(&self.calendar.time_zone()).date_naive();
        let mut actor = session.account.on(today);
        actor.client = client.map(|ip| ip.to_string());
        Ok(Some(Current {
            session_id: session.id,
            actor,
            csrf: session.csrf,
            single_sign_on: session.method == "oidc",
        }))
    }

    /// Ask the provider about a session again; `false` when it has ended.
    async fn recheck(
        &self,
        session: &crate::store::StoredSession,
        refresh: &str,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<bool, ServiceError> {
        let end = |detail: String| {
            AuditEntry::by(
                &Attribution::system(),
                "session.end",
                format!("user/{}", session.account.name),
                json!({"session": session.id, "reason": SessionEnd::Provider.as_str(),
                       "detail": detail}),
            )
        };
        let answer = match self.provider().await {
            Ok(p) => p.refresh(refresh).await.map(|a| (p, a)),
            Err(SignInError::Provider(e)) => Err(e),
            Err(e) => return Err(ServiceError::internal("single sign-on", e)),
        };
        match answer {
            // The provider does not answer: the session stays, and is put again later.
            Err(e) => {
                tracing::warn!(error = %e, user = %session.account.name,
                    "single sign-on: the provider could not be asked about a session");
                self.store.record_check(session.id, refresh, now).await?;
                Ok(true)
            }
            Ok((_, crate::oidc::Refreshed::Refused(why))) => {
                let why: String = why.chars().take(200).collect();
                self.store
                    .end_session(
                        session.id,
                        SessionEnd::Provider.as_str(),
                        Some(&end(why)),
                        now,
                    )
                    .await?;
                Ok(false)
            }
            Ok((
                provider,
                crate::oidc::Refreshed::Valid {
                    verified,
                    refresh_token,
                },
            )) => {
                if let Some(v) = verified {
                    if session.external_id.as_deref() != Some(v.external_id.as_str()) {
                        self.store
                            .end_session(
                                session.id,
                                SessionEnd::Provider.as_str(),
                                Some(&end("the provider named another person".into())),
                                now,
                            )
                            .await?;
                        return Ok(false);
                    }
                    match self.admit(&provider, &v, client, now).await {
                        Ok(_) => {}
                        // Refused: admit ended the sessions and recorded why.
                        Err(SignInError::Service(e)) => return Err(e),
                        Err(_) => return Ok(false),
                    }
                }
                self.store
                    .record_check(session.id, &refresh_token, now)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Sign out: end the session; returns the provider's address that ends its session too,
    /// when that applies.
    pub async fn logout(
        &self,
        token: &str,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, ServiceError> {
        let Some(session) = self.store.session(token).await? else {
            return Ok(None);
        };
        let mut actor = session.account.on(now.date_naive());
        actor.client = client.map(|ip| ip.to_string());
        let audit = AuditEntry::by(
            &Attribution::of(&actor),
            "session.end",
            format!("user/{}", session.account.name),
            json!({"session": session.id, "reason": SessionEnd::Logout.as_str()}),
        );
        self.store
            .end_session(session.id, SessionEnd::Logout.as_str(), Some(&audit), now)
            .await?;
        if session.method != "oidc" {
            return Ok(None);
        }
        let (Ok(provider), Some(origin)) = (self.provider().await, &self.origin) else {
            return Ok(None);
        };
        Ok(provider.logout_url(session.id_token.as_deref(), &format!("{}/", origin.url)))
    }

    /// Open a session for a user who has just proved who they are.
    async fn open(
        &self,
        user_id: i64,
        name: &str,
        method: &str,
        verified: Option<&crate::oidc::Verified>,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Opened, SignInError> {
        let token = random_token()?;
        let csrf = random_token()?;
        let client_text = client.map(|ip| ip.to_string());
        let who = Attribution {
            name: name.to_owned(),
            role: None,
            client: client_text.clone().unwrap_or_else(|| "-".into()),
        };
        let audit = AuditEntry::by(
            &who,
            "signin",
            format!("user/{name}"),
            json!({"method": method}),
        );
        let opened = self
            .store
            .open_session(
                &NewSession {
                    user_id,
                    token: &token,
                    csrf: &csrf,
                    method,
                    id_token: verified.map(|v| v.id_token.as_str()),
                    refresh_token: verified.and_then(|v| v.refresh_token.as_deref()),
                    client: client_text.as_deref(),
                },
                &audit,
                // Past the absolute limit and a day more, a session is no one's.
                now - self.console.sessions.absolute - Duration::days(1),
                now,
            )
            .await;
        match opened {
            Ok(_) => {}
            // Locked by the wrong guesses sent beside this one.
            Err(StoreError::Busy(_)) => {
                return Err(SignInError::Locked(
                    "the lock the other attempts set ends".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Opened {
            token,
            user: name.to_owned(),
        })
    }

    /// The provider, discovered now or within the last hour.
    async fn provider(&self) -> Result<Arc<Provider>, SignInError> {
        let Some(config) = &self.console.oidc else {
            return Err(SignInError::NoSingleSignOn);
        };
        let Some(origin) = &self.origin else {
            return Err(SignInError::NoSingleSignOn);
        };
        let mut held = self.provider.lock().await;
        let fresh = held.at.is_some_and(|at| at.elapsed() < PROVIDER_REFRESH);
        let resting = held
            .failed_at
            .is_some_and(|at| at.elapsed() < DISCOVERY_BACKOFF);
        if let Some(p) = &held.provider
            && (fresh || resting)
        {
            return Ok(p.clone());
        }
        if resting {
            return Err(SignInError::Provider(OidcError::Discovery {
                issuer: config.issuer.clone(),
                cause: "it failed moments ago; trying again shortly".into(),
            }));
        }
        let redirect = format!("{}/signin/callback", origin.url);
        match Provider::discover(config, &redirect).await {
            Ok(p) => {
                let p = Arc::new(p);
                *held = Discovered {
                    provider: Some(p.clone()),
                    at: Some(std::time::Instant::now()),
                    failed_at: None,
                };
                Ok(p)
            }
            // A provider that cannot be reached for a while: the keys read before still serve.
            Err(e) => {
                held.failed_at = Some(std::time::Instant::now());
                match &held.provider {
                    Some(p) => {
                        tracing::warn!(error = %e, "single sign-on: metadata not refreshed");
                        Ok(p.clone())
                    }
                    None => Err(e.into()),
                }
            }
        }
    }

    /// Count an attempt of a source; refuse past the rate. The table is bounded: when it is
    /// full of sources seen within the minute, new sources are refused until it empties.
    fn count_attempt(&self, client: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), SignInError> {
        let Some(ip) = client else { return Ok(()) };
        let key = crate::net::source_of(ip);
        let mut table = self.attempts.lock();
        if table.len() >= TRACKED_SOURCES && !table.contains_key(&key) {
            table.retain(|_, (start, _)| now - *start < Duration::minutes(1));
            if table.len() >= TRACKED_SOURCES {
                return Err(SignInError::TooManyAttempts);
            }
        }
        let entry = table.entry(key).or_insert((now, 0));
        if now - entry.0 >= Duration::minutes(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > self.console.sign_ins_per_minute {
            return Err(SignInError::TooManyAttempts);
        }
        Ok(())
    }

    async fn verify_password(&self, hash: &str, password: &str) -> Result<bool, ServiceError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| ServiceError::internal("password check", e))?;
        let (hash, password) = (hash.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            use argon2::PasswordVerifier as _;
            let parsed = argon2::PasswordHash::new(&hash)
                .map_err(|e| ServiceError::internal("a stored password hash", e))?;
            Ok(argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|e| ServiceError::internal("password check", e))?
    }

    /// The workflow the roles belong to.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }
}

/// Give a local account a password (`None`: remove it), from the command line or an admin:
/// at least [`MIN_PASSWORD_CHARS`] characters, stored as an argon2id hash. Unlocks the account.
pub async fn set_password(
    store: &Store,
    name: &str,
    password: Option<&str>,
    by: &Attribution,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let hash = match password {
        Some(p) => {
            if p.chars().count() < MIN_PASSWORD_CHARS || p.len() > MAX_PASSWORD_BYTES {
                return Err(ServiceError::Validation(vec![
                    crate::domain::policy::FieldError {
                        field: "password".into(),
                        code: "invalid_password",
                        message: format!(
                            "a password has at least {MIN_PASSWORD_CHARS} characters and at \
                             most {MAX_PASSWORD_BYTES} bytes"
                        ),
                    },
                ]));
            }
            let p = p.to_owned();
            Some(
                tokio::task::spawn_blocking(move || hash_password_now(&p))
                    .await
                    .map_err(|e| ServiceError::internal("password hashing", e))??,
            )
        }
        None => None,
    };
    let audit = AuditEntry::by(
        by,
        if hash.is_some() {
            "user.password.set"
        } else {
            "user.password.remove"
        },
        format!("user/{name}"),
        json!({}),
    );
    Ok(store
        .set_password(name, hash.as_deref(), &audit, now)
        .await?)
}

/// Every role the mapping gives is one the workflow knows (checked at start: a typo would
/// otherwise lock everyone out, or in).
fn check_mapping(oidc: &OidcConfig, workflow: &Workflow) -> Result<(), ServiceError> {
    for (name, roles) in &oidc.mapping.roles {
        for role in roles {
            Role::known(role.as_str(), workflow)
                .map_err(|e| ServiceError::Forbidden(format!("console.oidc.roles.{name}: {e}")))?;
        }
    }
    Ok(())
}

/// argon2id with the crate's defaults (19 MiB, 2 passes: OWASP's first choice) and a random salt.
fn hash_password_now(password: &str) -> Result<String, ServiceError> {
    use argon2::PasswordHasher as _;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ServiceError::internal("randomness", e))?;
    let salt = argon2::password_hash::SaltString::encode_b64(&salt)
        .map_err(|e| ServiceError::internal("password salt", e))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| ServiceError::internal("password hashing", e))?
        .to_string())
}

/// 256 random bits, URL-safe.
fn random_token() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::internal("randomness", e))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Who acts before anyone is signed in: the browser's address.
fn anonymous(client: Option<IpAddr>) -> Attribution {
    Attribution {
        name: "anonymous".into(),
        role: None,
        client: client
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "-".into()),
    }
}

/// Whether an actor may use the console at all (a role in effect today).
pub fn may_use_console(actor: &Actor) -> bool {
    access::may_use_api(actor)
}
