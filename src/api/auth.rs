//! Bearer authentication: the `AuthUser` extractor comes first in every `/api/v1` handler.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;

use super::AppState;
use super::problem::Problem;
use crate::store::Authenticated;

/// The caller, with the roles they hold today (in the office's time zone).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Authenticated);

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
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(Problem::unauthorized)?;
        let now = Utc::now();
        let today = now.with_timezone(&state.calendar.time_zone()).date_naive();
        match state.readiness.store.authenticate(token, now, today).await {
            Ok(Some(mut user)) => {
                // The peer address, for the audit trail (the daemon serves with ConnectInfo).
                user.client = parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip().to_string());
                Ok(Self(user))
            }
            Ok(None) => Err(Problem::unauthorized()),
            Err(e) => {
                tracing::error!(error = %e, "cannot check a token");
                Err(Problem::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the store cannot be reached; retry later",
                ))
            }
        }
    }
}
