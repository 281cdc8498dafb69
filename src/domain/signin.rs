//! Signing in to the console: how long a session lives, when repeated password failures lock an
//! account, and how the claims of the office's single sign-on map to a user name, ranah's roles
//! and an agency. The service applies these; nothing here reads a clock or a token.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::access::Role;

/// How long a console session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after sign-in, however busy.
    pub absolute: Duration,
}

/// Why a session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Signed out.
    Logout,
    /// Idle for longer than the limit.
    Idle,
    /// Older than the absolute limit.
    Expired,
    /// The user was disabled.
    Disabled,
    /// The user's claims no longer map to a role.
    Unmapped,
    /// The provider no longer vouches for the person (asked with the refresh token).
    Provider,
}

impl SessionEnd {
    /// The reason as stored and audited.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Idle => "idle",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
            Self::Unmapped => "unmapped",
            Self::Provider => "provider",
        }
    }
}

/// A session's last-seen time is written at most this often: every page view would otherwise
/// be a write, and the idle limit is counted in minutes.
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

impl SessionLimits {
    /// Whether a session begun at `created` and last used at `last_seen` is still alive at `now`.
    pub fn check(
        &self,
        created: DateTime<Utc>,
        last_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), SessionEnd> {
        if now - created >= self.absolute {
            Err(SessionEnd::Expired)
        } else if now - last_seen >= self.idle {
            Err(SessionEnd::Idle)
        } else {
            Ok(())
        }
    }

    /// Whether the last-seen time is old enough to be written again.
    pub fn needs_touch(last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - last_seen >= TOUCH_EVERY
    }
}

/// Locking a local account after repeated password failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Failures in a row that lock the account.
    pub failures: u32,
    /// How long it stays locked.
    pub duration: Duration,
}

/// A password failure, decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFailure {
    /// Failures in a row now (0 again once a lock is set: the lock counts from here).
    pub failures: u32,
    /// The end of the lock this failure sets, if it sets one.
    pub locked_until: Option<DateTime<Utc>>,
}

impl Lockout {
    /// Whether an account locked until `locked_until` is locked at `now`.
    pub fn locked(locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        locked_until.is_some_and(|t| now < t)
    }

    /// What one more failure does to an account that had `failures` in a row.
    pub fn after_failure(&self, failures: u32, now: DateTime<Utc>) -> AfterFailure {
        let failures = failures.saturating_add(1);
        if failures >= self.failures {
            AfterFailure {
                failures: 0,
                locked_until: Some(now + self.duration),
            }
        } else {
            AfterFailure {
                failures,
                locked_until: None,
            }
        }
    }
}

/// How the claims of a verified ID token (and the UserInfo answer) become a ranah user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The claim that is the user name (Keycloak's `preferred_username`, which offices set to
    /// the NIP).
    pub username_claim: String,
    /// The claim with the email address.
    pub email_claim: String,
    /// Claims holding role or group names: dotted paths into the claims
    /// (`realm_access.roles`, `resource_access.ranah.roles`, `groups`); each a string or an
    /// array of strings.
    pub role_claims: Vec<String>,
    /// Which of those names give which of ranah's roles; a name not listed gives nothing.
    pub roles: BTreeMap<String, Vec<Role>>,
    /// The claim with the agency's code, for applicants.
    pub agency_claim: Option<String>,
}

/// A user as the claims describe them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The user name.
    pub username: String,
    /// The email address, when the claims have one.
    pub email: Option<String>,
    /// ranah's roles, sorted, without repeats.
    pub roles: Vec<Role>,
    /// The agency's code, when the claims name one.
    pub agency: Option<String>,
}

/// Why the claims do not make a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmapped {
    /// No usable user name.
    #[error("the sign-in gave no usable user name in claim `{0}`")]
    NoUsername(String),
    /// None of the role or group names maps to a role.
    #[error("none of the roles or groups of this account ({0}) is mapped to a role in ranah")]
    NoRole(String),
    /// An applicant role without an agency.
    #[error("the account is mapped to the applicant role but claim `{0}` names no agency")]
    NoAgency(String),
}

/// The most characters of a user name or agency code taken from a claim.
const MAX_CLAIM_TEXT: usize = 128;

impl ClaimMapping {
    /// The user the claims describe, or why they describe none.
    pub fn map(&self, claims: &Value) -> Result<Mapped, Unmapped> {
        let username = text(claims, &self.username_claim)
            .filter(|n| valid_user_name(n))
            .ok_or_else(|| Unmapped::NoUsername(self.username_claim.clone()))?;
        let email = text(claims, &self.email_claim).filter(|e| e.contains('@'));
        let mut seen = Vec::new();
        let mut roles = Vec::new();
        for path in &self.role_claims {
            for name in strings(claims, path) {
                if let Some(given) = self.roles.get(&name) {
                    roles.extend(given.iter().cloned());
                }
                if seen.len() < 20 && !seen.contains(&name) {
                    seen.push(name);
                }
            }
        }
        roles.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        roles.dedup();
        if roles.is_empty() {
            let seen = if seen.is_empty() {
                "none".to_owned()
            } else {
                seen.join(", ")
            };
            return Err(Unmapped::NoRole(seen));
        }
        let agency = self
            .agency_claim
            .as_deref()
            .and_then(|claim| text(claims, claim));
        if roles.contains(&Role::Applicant) && agency.is_none() {
            return Err(Unmapped::NoAgency(
                self.agency_claim.clone().unwrap_or_else(|| "-".into()),
            ));
        }
        Ok(Mapped {
            username,
            email,
            roles,
            agency,
        })
    }
}

/// A user name: 1 to 64 characters of letters, digits and `.`, `_`, `-`, `@` (a NIP, an email
/// address, a login name); nothing that could be mistaken in a listing or a log line.
pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
}

/// An email address as far as ranah checks one: something before and after one `@`, a dot in
/// the domain not at its start, no spaces. (Whether it is delivered is the mail server's to say.)
pub fn plausible_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.contains('@')
    }) && !email.chars().any(char::is_whitespace)
        && email.len() <= 254
}

/// The value at a dotted path.
fn at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    // A claim whose own name has a dot (`https://example/roles`) is found whole first.
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(claims, |v, key| v.get(key))
}

/// A string claim, trimmed and not too long.
fn text(claims: &Value, path: &str) -> Option<String> {
    let s = at(claims, path)?.as_str()?.trim();
    (!s.is_empty() && s.len() <= MAX_CLAIM_TEXT).then(|| s.to_owned())
}

/// The strings of a claim that is a string or an array (other entries ignored; at most 256).
fn strings(claims: &Value, path: &str) -> Vec<String> {
    match at(claims, path) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| s.len() <= MAX_CLAIM_TEXT)
            .take(256)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, h, m, 0).unwrap()
    }

    #[test]
    fn sessions_end_when_idle_or_old() {
        let limits = SessionLimits {
            idle: Duration::minutes(30),
            absolute: Duration::hours(10),
        };
        assert_eq!(limits.check(t(1, 0), t(1, 0), t(1, 29)), Ok(()));
        assert_eq!(
            limits.check(t(1, 0), t(1, 0), t(1, 30)),
            Err(SessionEnd::Idle)
        );
        assert_eq!(limits.check(t(1, 0), t(10, 50), t(10, 59)), Ok(()));
        assert_eq!(
            limits.check(t(1, 0), t(10, 50), t(11, 0)),
            Err(SessionEnd::Expired)
        );
        assert!(!SessionLimits::needs_touch(t(1, 0), t(1, 0)));
        assert!(SessionLimits::needs_touch(t(1, 0), t(1, 1)));
    }

    #[test]
    fn the_fifth_failure_locks_and_the_lock_ends() {
        let lockout = Lockout {
            failures: 5,
            duration: Duration::minutes(15),
        };
        let mut failures = 0;
        for _ in 0..4 {
            let after = lockout.after_failure(failures, t(1, 0));
            assert_eq!(after.locked_until, None);
            failures = after.failures;
        }
        assert_eq!(failures, 4);
        let after = lockout.after_failure(failures, t(1, 0));
        assert_eq!(after.locked_until, Some(t(1, 15)));
        assert_eq!(after.failures, 0);
        assert!(Lockout::locked(after.locked_until, t(1, 14)));
        assert!(!Lockout::locked(after.locked_until, t(1, 15)));
        assert!(!Lockout::locked(None, t(1, 0)));
    }

    fn mapping() -> ClaimMapping {
        let role = |n: &str| Role::parse(n).unwrap();
        ClaimMapping {
            username_claim: "preferred_username".into(),
            email_claim: "email".into(),
            role_claims: vec!["realm_access.roles".into(), "groups".into()],
            roles: BTreeMap::from([
                ("kadis".into(), vec![role("head_of_office")]),
                ("kabid".into(), vec![role("head_of_division")]),
                ("opd".into(), vec![role("applicant")]),
                ("/ranah/audit".into(), vec![role("auditor")]),
            ]),
            agency_claim: Some("agency".into()),
        }
    }

    #[test]
    fn claims_map_to_a_user_with_the_roles_listed_and_nothing_else() {
        let m = mapping()
            .map(&json!({
                "preferred_username": "199001012020011001",
                "email": "kadis@example.go.id",
                "realm_access": {"roles": ["offline_access", "kadis", "kabid"]},
                "groups": "/ranah/audit",
            }))
            .unwrap();
        assert_eq!(m.username, "199001012020011001");
        assert_eq!(m.email.as_deref(), Some("kadis@example.go.id"));
        let roles: Vec<&str> = m.roles.iter().map(Role::as_str).collect();
        assert_eq!(roles, ["auditor", "head_of_division", "head_of_office"]);
        assert_eq!(m.agency, None);
    }

    #[test]
    fn claims_that_map_to_nothing_are_refused_with_what_they_held() {
        let e = mapping()
            .map(&json!({"preferred_username": "x", "realm_access": {"roles": ["offline_access"]}}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "none of the roles or groups of this account (offline_access) is mapped to a role in ranah"
        );
        assert!(matches!(
            mapping().map(&json!({"preferred_username": "a b", "groups": ["kadis"]})),
            Err(Unmapped::NoUsername(_))
        ));
        assert!(matches!(
            mapping().map(&json!({"groups": ["kadis"]})),
            Err(Unmapped::NoUsername(_))
        ));
        assert!(matches!(
            mapping().map(&json!({"preferred_username": "andi", "groups": ["opd"]})),
            Err(Unmapped::NoAgency(_))
        ));
        let applicant = mapping()
            .map(&json!({"preferred_username": "andi", "groups": ["opd"], "agency": "DINKES"}))
            .unwrap();
        assert_eq!(applicant.agency.as_deref(), Some("DINKES"));
    }

    #[test]
    fn user_names() {
        assert!(valid_user_name("199001012020011001"));
        assert!(valid_user_name("andi.s@example.go.id"));
        assert!(!valid_user_name(""));
        assert!(!valid_user_name("a b"));
        assert!(!valid_user_name("<script>"));
        assert!(!valid_user_name(&"a".repeat(65)));
    }
}
