//! The one way a JSON answer writes an instant: [`Timestamp`], RFC 3339 in UTC with
//! milliseconds (`2026-12-02T03:04:05.678Z`, the core's [`time::stamp`]). Every instant of
//! every body is one, whether the service hands over a `DateTime` or the store's text, so that
//! a client parses one format; the OpenAPI document gives its pattern, and the integration
//! tests hold every reply to it.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use super::problem::Problem;
use crate::domain::time;
use crate::service::ServiceError;

/// An instant in a JSON answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl Timestamp {
    /// An instant as the store wrote it (`what` names it for the log): text the store cannot
    /// have written is a fault of ours, never shown as it is.
    pub fn stored(text: &str, what: &str) -> Result<Self, Problem> {
        time::parse(text).map(Self).ok_or_else(|| {
            ServiceError::internal(format!("stored {what}"), format!("not RFC 3339: {text:?}"))
                .into()
        })
    }

    /// [`Timestamp::stored`] of an instant that may be absent.
    pub fn stored_opt(text: Option<&str>, what: &str) -> Result<Option<Self>, Problem> {
        text.map(|t| Self::stored(t, what)).transpose()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time::stamp(self.0))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .pattern(Some(time::PATTERN))
            .description(Some("RFC 3339, UTC, milliseconds"))
            .examples([time::EXAMPLE])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serialized_and_documented_alike() {
        let t = Utc.with_ymd_and_hms(2026, 12, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(678_901);
        let json = serde_json::to_value(Timestamp(t)).unwrap();
        assert_eq!(json, serde_json::json!("2026-12-02T03:04:05.678Z"));
        // The documented schema (its pattern and format) accepts what is written, and refuses
        // the other forms of RFC 3339.
        let schema = serde_json::to_value(<Timestamp as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["format"], "date-time");
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(validator.is_valid(&json));
        assert!(validator.is_valid(&schema["examples"][0]));
        for other in [
            "2026-12-02T03:04:05Z",
            "2026-12-02T03:04:05.678901Z",
            "2026-12-02T03:04:05.678+00:00",
        ] {
            assert!(!validator.is_valid(&serde_json::json!(other)), "{other}");
        }
    }

    #[test]
    fn stored_text_in_older_forms_is_written_in_the_one_form() {
        let t = Timestamp::stored("2026-12-02T03:04:05.678901234+00:00", "test").unwrap();
        assert_eq!(
            serde_json::to_value(t).unwrap(),
            serde_json::json!("2026-12-02T03:04:05.678Z")
        );
        assert!(Timestamp::stored("yesterday", "test").is_err());
        assert_eq!(Timestamp::stored_opt(None, "test").unwrap(), None);
    }
}
