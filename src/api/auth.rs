//! Bearer authentication: the `AuthUser` extractor comes first in every `/api/v1` handler.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;

use super::AppState;
use super::client::ClientAddr;
use super::problem::Problem;
use crate::domain::access::{self, Actor};

/// The caller, with the roles in effect today (in the office's time zone). A user with no role
/// in effect (an acting period not begun or ended) is refused here, whatever they ask for.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Actor);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(Problem::unauthorized)?;
        match state.people.authenticate(token, Utc::now()).await {
            Ok(Some(mut user)) => {
                if !access::may_use_api(&user) {
                    return Err(Problem::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "no_role_in_effect",
                        format!("{} holds no role in effect today", user.name),
                    ));
                }
                // The client, for the audit trail: the peer, or the address a trusted proxy
                // names (`api::client`).
                user.client = ClientAddr::of(&parts.extensions).map(|ip| ip.to_string());
                Ok(Self(user))
            }
            Ok(None) => Err(Problem::unauthorized()),
            // A store that cannot be reached is a 503, a fault of ours a 500; either is logged
            // once, with its cause, when the response is sent.
            Err(e) => Err(Problem::from(e)),
        }
    }
}

/// The caller when a request carries a token (and is refused as above when the token is not
/// good); `None` without an `Authorization` header: for what the public may do too.
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts.headers.get(AUTHORIZATION).is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header. The scheme's name is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` are the same scheme; spaces around the token are
/// not part of it.
pub(super) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer   "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
