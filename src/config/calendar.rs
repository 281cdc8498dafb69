//! `[calendar]`: the office calendar that time standards count working time in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::domain::calendar::{Calendar, Hours};

/// The weekday keys of `[calendar.hours]`, Monday first as in [`Calendar::week`].
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `[calendar]` as written; the defaults are the core's default calendar (WITA, Monday to
/// Friday), so that the file, `check-config` and the core agree on one set of numbers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarSettings {
    /// IANA time zone, e.g. `Asia/Makassar`.
    pub time_zone: String,
    /// Working hours per weekday, `"08:00-16:00"`; a day left out is not a working day.
    pub hours: BTreeMap<String, String>,
    /// Holidays (`YYYY-MM-DD`).
    pub holidays: Vec<chrono::NaiveDate>,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self::of(&Calendar::default_wita([]), Vec::new())
    }
}

impl CalendarSettings {
    /// The settings that describe `calendar` (for `check-config`, and the defaults).
    pub(super) fn of(calendar: &Calendar, holidays: Vec<chrono::NaiveDate>) -> Self {
        Self {
            time_zone: calendar.time_zone().name().to_owned(),
            hours: calendar
                .week()
                .iter()
                .zip(DAYS)
                .filter_map(|(h, d)| {
                    h.map(|h| {
                        (
                            d.to_owned(),
                            format!("{}-{}", h.open.format("%H:%M"), h.close.format("%H:%M")),
                        )
                    })
                })
                .collect(),
            holidays,
        }
    }
}

/// The calendar the settings describe: a known time zone, weekdays by their short names, spans
/// that open before they close.
pub(super) fn resolve_calendar(settings: &CalendarSettings) -> Result<Calendar, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("calendar.{key}"),
        message,
    };
    let tz = settings
        .time_zone
        .parse::<chrono_tz::Tz>()
        .map_err(|e| invalid("time_zone", format!("`{}`: {e}", settings.time_zone)))?;
    let mut week = [None; 7];
    for (day, span) in &settings.hours {
        let i = DAYS.iter().position(|d| d == day).ok_or_else(|| {
            invalid(
                "hours",
                format!("`{day}`: use mon, tue, wed, thu, fri, sat, sun"),
            )
        })?;
        let parse = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M");
        let (open, close) = span
            .split_once('-')
            .and_then(|(a, b)| Some((parse(a).ok()?, parse(b).ok()?)))
            .ok_or_else(|| invalid("hours", format!("{day} = `{span}`: write \"08:00-16:00\"")))?;
        week[i] = Some(Hours { open, close });
    }
    Calendar::new(tz, week, settings.holidays.clone()).map_err(|e| invalid("hours", e.to_string()))
}
