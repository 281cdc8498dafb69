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
    /// The caller made too many calls of this kind: wait and retry.
    #[error("{0}")]
    TooManyRequests(String),
    /// Someone else changed the request or the zone first, or its state does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// Provisioning failed on the zone's rules.
    #[error(transparent)]
    Publish(PublishError),
    /// A certificate cannot be ordered or handed out.
    #[error(transparent)]
    Certificate(#[from] super::certificates::CertificateRefusal),
    /// The store cannot take the call now, and nothing of it was written: its pool timed out
    /// or closed, its file cannot be read, or the disk is full. The client may retry. `detail`
    /// is what the client is told; `cause`, for the log.
    #[error("{detail}: {cause}")]
    Unavailable {
        /// For the client: what is unavailable.
        detail: &'static str,
        /// For the log: the error underneath.
        cause: String,
    },
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

/// What a client is told when the store cannot be reached.
pub const STORE_UNREACHABLE: &str = "the store cannot be reached; retry later";
/// What a client is told when a bounded table is full.
pub const BUSY: &str = "too many sign-ins are in progress; retry in a few minutes";
/// What a client is told when the disk of the data directory is full.
pub const DISK_FULL: &str =
    "the disk of ranah's data directory is full; nothing was saved, retry once space is freed";

impl ServiceError {
    /// A fault of ours: `what` failed because of `cause`.
    pub fn internal(what: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Self::Internal {
            what: what.into(),
            cause: cause.to_string(),
        }
    }

    /// A stored file (an attachment, a response letter) could not be written or read: a full
    /// disk is unavailability that passes (503), anything else a fault of ours.
    pub fn file(what: impl Into<String>, e: std::io::Error) -> Self {
        if crate::store::is_disk_full(&e) {
            Self::Unavailable {
                detail: DISK_FULL,
                cause: format!("{}: {e}", what.into()),
            }
        } else {
            Self::internal(what, e)
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
            StoreError::Busy(what) => Self::Unavailable {
                detail: BUSY,
                cause: what,
            },
            e if e.is_disk_full() => Self::Unavailable {
                detail: DISK_FULL,
                cause: e.to_string(),
            },
            e if e.is_unavailable() => Self::Unavailable {
                detail: STORE_UNREACHABLE,
                cause: e.to_string(),
            },
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
        let e = ServiceError::from(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert!(
            matches!(
                e,
                ServiceError::Unavailable {
                    detail: STORE_UNREACHABLE,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    /// A full disk is a 503 that says so, whether SQLite or a stored file found it; other file
    /// faults are ours.
    #[test]
    fn a_full_disk_is_unavailability() {
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        let e = ServiceError::file("an attachment", full);
        assert!(
            matches!(&e, ServiceError::Unavailable { detail: DISK_FULL, cause } if cause.contains("an attachment")),
            "{e:?}"
        );
        let other = std::io::Error::from_raw_os_error(13); // EACCES
        let e = ServiceError::file("an attachment", other);
        assert!(matches!(e, ServiceError::Internal { .. }), "{e:?}");
    }

    /// SQLITE_FULL from a real database on a full disk is recognised, through sqlx, as the
    /// disk full: an in-memory database capped at its current size stands for the disk.
    #[tokio::test]
    async fn sqlite_full_is_the_disk_full() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE t (x BLOB); PRAGMA max_page_count = 2;")
            .execute(&mut conn)
            .await
            .unwrap();
        let err = sqlx::query("INSERT INTO t VALUES (zeroblob(100000))")
            .execute(&mut conn)
            .await
            .unwrap_err();
        let e = StoreError::Database(err);
        assert!(e.is_disk_full() && e.is_unavailable(), "{e:?}");
        let e = ServiceError::from(e);
        assert!(
            matches!(
                e,
                ServiceError::Unavailable {
                    detail: DISK_FULL,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
