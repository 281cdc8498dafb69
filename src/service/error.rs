//! Why a service call failed. The layers are `DomainError` (a rule of the core refused) →
//! [`ServiceError`] (what the caller is told, or a fault of ours) → the API's problem (one
//! mapping, in `api/problem.rs`). A fault of ours is [`ServiceError::Internal`]: it keeps its
//! cause for the log and reaches the client only as a 500 without internals; it is never
//! dressed as a conflict.

use crate::domain::policy::FieldError;
use crate::domain::request::DomainError;
use crate::publish::PublishError;
use crate::store::StoreError;

/// Why a service call failed; the API maps each to one problem type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A workflow rule refused the action.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The input is invalid; every problem is listed.
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    /// No such thing, or not visible to the caller: what was looked for.
    #[error("no {0}")]
    NotFound(String),
    /// A query parameter out of its range.
    #[error("{0}")]
    InvalidQuery(String),
    /// A file over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// A file of a type not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The caller's roles do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// An applicant named an agency other than its own (in a body or a filter).
    #[error("{0}")]
    NotYourAgency(String),
    /// A request holds as many attachments as it may.
    #[error("{0}")]
    TooManyAttachments(String),
    /// The name exists or another open request holds it.
    #[error("{message}")]
    NameTaken {
        /// What holds it.
        message: String,
        /// The open request that holds it, if that is what holds it.
        held_by: Option<i64>,
    },
    /// Someone else changed the request or the zone first, or its state does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// Provisioning failed on the zone's rules.
    #[error(transparent)]
    Publish(PublishError),
    /// A certificate cannot be ordered or handed out.
    #[error(transparent)]
    Certificate(#[from] super::certificates::CertificateRefusal),
    /// The store cannot be reached now (its pool timed out or closed, or its file cannot be
    /// read): the client may retry.
    #[error("the store cannot be reached: {0}")]
    Unavailable(String),
    /// A fault of ours (the store failed, a file could not be written, stored data cannot be
    /// read back): `what` failed because of `cause`. Logged once with both; the client is told
    /// only that it was an internal error.
    #[error("{what}: {cause}")]
    Internal {
        /// What could not be done, for the log.
        what: String,
        /// Why, for the log.
        cause: String,
    },
}

impl ServiceError {
    /// A fault of ours: `what` failed because of `cause`.
    pub fn internal(what: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Self::Internal {
            what: what.into(),
            cause: cause.to_string(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                Self::Conflict(format!("{what} was changed concurrently; reload and retry"))
            }
            StoreError::NameHeld(held) => Self::NameTaken {
                message: format!("the name is held by open request {held}"),
                held_by: Some(held),
            },
            e if e.is_unavailable() => Self::Unavailable(e.to_string()),
            other => Self::internal("the store failed", other),
        }
    }
}

impl From<PublishError> for ServiceError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Store(s) => s.into(),
            other => Self::Publish(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors() {
        let e = ServiceError::from(StoreError::Corrupt("request 9: records".into()));
        assert!(matches!(e, ServiceError::Internal { .. }), "{e:?}");
        let e = ServiceError::from(StoreError::NameHeld(4));
        assert!(
            matches!(
                e,
                ServiceError::NameTaken {
                    held_by: Some(4),
                    ..
                }
            ),
            "{e:?}"
        );
        let e = ServiceError::from(StoreError::Conflict("request 9".into()));
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
    }
}
