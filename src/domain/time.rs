//! How ranah writes an instant, everywhere it writes one as text: RFC 3339, UTC, with
//! milliseconds and `Z` (`2026-12-02T03:04:05.678Z`). The store keeps instants in this form (so
//! that text order is time order), the audit trail hashes it, and every JSON answer of the API
//! uses it (through `api::time::Timestamp`), so that a client parses one format.

use chrono::{DateTime, SecondsFormat, Utc};

/// An example of the format, as the API documents it.
pub const EXAMPLE: &str = "2026-12-02T03:04:05.678Z";

/// The pattern (ECMA 262, as JSON Schema uses) every instant written by [`stamp`] matches.
pub const PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$";

/// `t` as text: RFC 3339, UTC, milliseconds, `Z`.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant written as RFC 3339 in any offset and precision (rows written before every
/// writer used [`stamp`] have seconds, microseconds or `+00:00`), in UTC.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_format_with_milliseconds_in_utc() {
        let t = Utc.with_ymd_and_hms(2026, 12, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(678_901_234);
        assert_eq!(stamp(t), EXAMPLE);
        // Whole seconds keep their three zeros: the width never varies.
        let whole = Utc.with_ymd_and_hms(2026, 12, 2, 3, 4, 5).unwrap();
        assert_eq!(stamp(whole), "2026-12-02T03:04:05.000Z");
    }

    #[test]
    fn older_forms_read_back_in_utc() {
        for (text, expected) in [
            ("2026-12-02T03:04:05Z", "2026-12-02T03:04:05.000Z"),
            ("2026-12-02T03:04:05.678901234+00:00", EXAMPLE),
            ("2026-12-02T11:04:05.678+08:00", EXAMPLE),
        ] {
            assert_eq!(parse(text).map(stamp).as_deref(), Some(expected), "{text}");
        }
        assert_eq!(parse("2026-12-02 03:04:05"), None);
        assert_eq!(parse(""), None);
    }
}
