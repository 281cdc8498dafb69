//! `[console]`: the web console: where browsers reach it, how long sessions live, local
//! passwords, and sign-in through the office's single sign-on (`[console.oidc]`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::secret::secret_from;
use super::{ConfigError, Secret, at_least_one};
use crate::domain::access::Role;
use crate::domain::signin::{ClaimMapping, Lockout, SessionLimits};

/// `[console]` as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// The address browsers use for the console, e.g. `https://ranah.example.go.id` (the
    /// single sign-on's redirect address is made from it). Default: `http://` and
    /// `api.listen`, which is allowed only on a loopback address: anywhere else the console
    /// needs HTTPS, at ranah (`[api.tls]`) or at a reverse proxy.
    pub public_url: Option<String>,
    /// Minutes a session lives without a request.
    pub session_idle_minutes: u32,
    /// Hours a session lives after sign-in, however busy.
    pub session_max_hours: u32,
    /// Whether users with a password (`ranah user password NAME`) may sign in with it.
    pub password_sign_in: bool,
    /// Wrong passwords in a row that lock an account.
    pub lockout_failures: u32,
    /// Minutes a locked account stays locked.
    pub lockout_minutes: u32,
    /// Sign-ins (passwords and single sign-on) one source (an IPv4 address, an IPv6 /64) may
    /// begin per minute; behind a reverse proxy, name it in `api.trusted_proxies`.
    pub sign_ins_per_minute: u32,
    /// Single sign-on through OpenID Connect.
    pub oidc: OidcSettings,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            session_idle_minutes: 30,
            session_max_hours: 10,
            password_sign_in: true,
            lockout_failures: 5,
            lockout_minutes: 15,
            sign_ins_per_minute: 10,
            oidc: OidcSettings::default(),
        }
    }
}

/// `[console.oidc]` as written: without `issuer` there is no single sign-on.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// The provider's issuer, e.g. `https://sso.example.go.id/realms/pemprov`; its
    /// `/.well-known/openid-configuration` is read at start.
    pub issuer: Option<String>,
    /// The client id registered at the provider for ranah.
    pub client_id: Option<String>,
    /// The client's secret (confidential client).
    pub client_secret: Option<Secret>,
    /// The variable holding the client's secret, instead of `client_secret`.
    pub client_secret_env: Option<String>,
    /// Scopes asked for (`openid` is always asked).
    pub scopes: Vec<String>,
    /// The claim that is the user name (offices set Keycloak's user name to the NIP).
    pub username_claim: String,
    /// The claim with the email address.
    pub email_claim: String,
    /// Claims with role or group names, as dotted paths: `realm_access.roles` (Keycloak's
    /// realm roles), `resource_access.CLIENT.roles` (client roles), `groups`.
    pub role_claims: Vec<String>,
    /// Which role or group names give which of ranah's roles, e.g. `kadis =
    /// ["head_of_office"]`; a name not listed gives no role, and an account none of whose
    /// names is listed cannot sign in.
    pub roles: BTreeMap<String, Vec<String>>,
    /// The claim with the agency's code (applicants).
    pub agency_claim: Option<String>,
    /// Whether signing out of ranah also signs out of the provider (RP-initiated logout), when
    /// the provider offers it.
    pub provider_logout: bool,
    /// Minutes after which a session is put to the provider again with its refresh token (when
    /// the provider gave one): a person disabled or signed out there is signed out here, and
    /// changed roles take effect.
    pub recheck_minutes: u32,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: None,
            client_secret: None,
            client_secret_env: None,
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            username_claim: "preferred_username".into(),
            email_claim: "email".into(),
            role_claims: vec!["realm_access.roles".into(), "groups".into()],
            roles: BTreeMap::new(),
            agency_claim: None,
            provider_logout: true,
            recheck_minutes: 5,
        }
    }
}

/// `[console]`, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// The console's address as browsers use it, without a trailing slash, when configured
    /// (else [`ConsoleConfig::origin`] makes it from the address the API listens on).
    pub public_url: Option<String>,
    /// Session lifetimes.
    pub sessions: SessionLimits,
    /// Whether local passwords are accepted.
    pub password_sign_in: bool,
    /// The lockout after wrong passwords.
    pub lockout: Lockout,
    /// Sign-ins one source may begin per minute.
    pub sign_ins_per_minute: u32,
    /// Single sign-on, when configured.
    pub oidc: Option<OidcConfig>,
}

/// Where browsers reach the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `scheme://host[:port]`, no trailing slash.
    pub url: String,
    /// Over HTTPS: cookies are `Secure` with the `__Host-` prefix.
    pub https: bool,
}

impl Origin {
    /// An address given as `scheme://host[:port]`: https, or http on a loopback address.
    pub fn parse(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
        let https = match parsed.scheme() {
            "https" => true,
            "http" if is_loopback(&parsed) => false,
            "http" => {
                return Err(format!(
                    "`{url}`: the console sends passwords and session cookies, so beyond this \
                     machine it needs https (serve [api.tls] or put a reverse proxy with TLS \
                     in front)"
                ));
            }
            other => return Err(format!("`{url}`: scheme `{other}`")),
        };
        if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "`{url}`: give scheme://host[:port] only: the console is at /"
            ));
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            https,
        })
    }
}

impl ConsoleConfig {
    /// Where browsers reach the console: `public_url`, or the address the API is bound to
    /// (`bound`, over HTTPS when `tls`). `None`: plain HTTP beyond this machine, where nobody
    /// may sign in.
    pub fn origin(&self, bound: SocketAddr, tls: bool) -> Option<Origin> {
        match &self.public_url {
            Some(url) => Origin::parse(url).ok(),
            None => {
                Origin::parse(&format!("{}://{bound}", if tls { "https" } else { "http" })).ok()
            }
        }
    }
}

/// `[console.oidc]`, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret; `None` for a public client (PKCE alone).
    pub client_secret: Option<Secret>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// From claims to a user.
    pub mapping: ClaimMapping,
    /// RP-initiated logout.
    pub provider_logout: bool,
    /// How often a session is put to the provider again.
    pub recheck: Duration,
}

impl ConsoleSettings {
    /// Check `[console]`; `listen` is the API's address, `tls` whether ranah serves HTTPS.
    pub(super) fn resolve(
        &self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<ConsoleConfig, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("console.{key}"),
            message,
        };
        let public_url = match &self.public_url {
            Some(url) => {
                let url = url.trim_end_matches('/').to_owned();
                Origin::parse(&url).map_err(|message| invalid("public_url", message))?;
                Some(url)
            }
            None => None,
        };
        at_least_one("console.session_idle_minutes", self.session_idle_minutes)?;
        at_least_one("console.session_max_hours", self.session_max_hours)?;
        // Upper bounds: a session of more than a month is no session, and times past them
        // would overflow the date arithmetic.
        for (key, value, most) in [
            (
                "session_idle_minutes",
                self.session_idle_minutes,
                7 * 24 * 60,
            ),
            ("session_max_hours", self.session_max_hours, 31 * 24),
            ("lockout_minutes", self.lockout_minutes, 31 * 24 * 60),
            ("oidc.recheck_minutes", self.oidc.recheck_minutes, 24 * 60),
        ] {
            if value > most {
                return Err(invalid(key, format!("at most {most}")));
            }
        }
        at_least_one("console.lockout_failures", self.lockout_failures)?;
        at_least_one("console.lockout_minutes", self.lockout_minutes)?;
        at_least_one("console.sign_ins_per_minute", self.sign_ins_per_minute)?;
        Ok(ConsoleConfig {
            public_url,
            sessions: SessionLimits {
                idle: Duration::minutes(self.session_idle_minutes.into()),
                absolute: Duration::hours(self.session_max_hours.into()),
            },
            password_sign_in: self.password_sign_in,
            lockout: Lockout {
                failures: self.lockout_failures,
                duration: Duration::minutes(self.lockout_minutes.into()),
            },
            sign_ins_per_minute: self.sign_ins_per_minute,
            oidc: self.oidc.resolve(env)?,
        })
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

impl OidcSettings {
    fn resolve(
        &self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OidcConfig>, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("console.oidc.{key}"),
            message,
        };
        let Some(issuer) = &self.issuer else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(issuer)
            .map_err(|e| invalid("issuer", format!("`{issuer}`: {e}")))?;
        if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
            return Err(invalid(
                "issuer",
                format!("`{issuer}`: an issuer is https (http only on a loopback address)"),
            ));
        }
        let client_id = self
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| invalid("client_id", "is required with an issuer".into()))?;
        let client_secret = secret_from(
            "console.oidc",
            "client_secret",
            self.client_secret.as_ref(),
            self.client_secret_env.as_deref(),
            env,
        )?;
        if self.roles.is_empty() {
            return Err(invalid(
                "roles",
                "map at least one role or group name to ranah's roles: without it nobody can \
                 sign in"
                    .into(),
            ));
        }
        let mut roles = BTreeMap::new();
        for (name, given) in &self.roles {
            let parsed = given
                .iter()
                .map(|r| Role::parse(r).map_err(|e| invalid("roles", format!("{name}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            // A machine's role is never a person's: single sign-on signs people in.
            if parsed.contains(&Role::Integration) {
                return Err(invalid(
                    "roles",
                    format!(
                        "{name}: `integration` is a machine's role (`ranah user add`), not one a person signs in with"
                    ),
                ));
            }
            roles.insert(name.clone(), parsed);
        }
        let mut scopes = self.scopes.clone();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        Ok(Some(OidcConfig {
            // As written: the provider's metadata must name exactly this issuer.
            issuer: issuer.clone(),
            client_id,
            client_secret,
            scopes,
            mapping: ClaimMapping {
                username_claim: self.username_claim.clone(),
                email_claim: self.email_claim.clone(),
                role_claims: self.role_claims.clone(),
                roles,
                agency_claim: self.agency_claim.clone(),
            },
            provider_logout: self.provider_logout,
            recheck: Duration::minutes(
                at_least_one("console.oidc.recheck_minutes", self.recheck_minutes)?.into(),
            ),
        }))
    }
}
