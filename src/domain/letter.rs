//! The request letter as it arrived: by which channel (on paper, through SRIKANDI, the national
//! letter system, by email, or through the web), and the number and date the letter states.
//! The front office records them when it registers a request; the register and the report show
//! them.

use chrono::{Datelike as _, NaiveDate};
use serde::{Deserialize, Serialize};

use super::policy::FieldError;

/// How a request letter arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// On paper, at the front desk.
    Paper,
    /// Through SRIKANDI, the national system of official letters.
    Srikandi,
    /// By email.
    Email,
    /// Through the web (ranah's own form or the API).
    Web,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Self; 4] = [Self::Paper, Self::Srikandi, Self::Email, Self::Web];

    /// The channel named `paper`, `srikandi`, `email` or `web`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Its name in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Srikandi => "srikandi",
            Self::Email => "email",
            Self::Web => "web",
        }
    }

    /// Whether a letter that came this way is an official letter with its own number and
    /// date (on paper, through SRIKANDI): those must be recorded as it states them.
    pub fn numbered(self) -> bool {
        matches!(self, Self::Paper | Self::Srikandi)
    }
}

/// A request letter as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingLetter {
    /// How it arrived.
    pub channel: Channel,
    /// Its number, as it states it (`005/123/DINKES/2026`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Its date, as it states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
}

fn error(field: &str, code: &'static str, message: &str) -> FieldError {
    FieldError {
        field: format!("letter.{field}"),
        code,
        message: message.into(),
    }
}

/// The letter as given (`channel`, `number`, `date` as text), checked on `today`: a known
/// channel; for a letter on paper or through SRIKANDI its number (at most 100 characters) and
/// its date (not after today, not before 2000).
pub fn check(
    channel: &str,
    number: Option<&str>,
    date: Option<&str>,
    today: NaiveDate,
) -> Result<IncomingLetter, Vec<FieldError>> {
    let mut errors = Vec::new();
    let channel_read = Channel::parse(channel.trim());
    if channel_read.is_none() {
        errors.push(error(
            "channel",
            "unknown_channel",
            "one of paper, srikandi, email, web",
        ));
    }
    let number = number.map(str::trim).filter(|n| !n.is_empty());
    if let Some(n) = number
        && (n.chars().count() > 100 || super::policy::control_character(n).is_some())
    {
        errors.push(error("number", "invalid", "at most 100 characters"));
    }
    let date_read = match date.map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(day) if day <= today && day.year_ce().1 >= 2000 => Some(day),
            Ok(_) => {
                errors.push(error(
                    "date",
                    "out_of_range",
                    "the letter's date: not after today, not before 2000",
                ));
                None
            }
            Err(_) => {
                errors.push(error("date", "invalid", "write YYYY-MM-DD"));
                None
            }
        },
    };
    if let Some(c) = channel_read
        && c.numbered()
    {
        if number.is_none() {
            errors.push(error(
                "number",
                "required",
                "a letter on paper or through SRIKANDI: its number, as it states it",
            ));
        }
        if date.map(str::trim).is_none_or(str::is_empty) {
            errors.push(error(
                "date",
                "required",
                "a letter on paper or through SRIKANDI: its date, as it states it",
            ));
        }
    }
    match channel_read {
        Some(channel) if errors.is_empty() => Ok(IncomingLetter {
            channel,
            number: number.map(str::to_owned),
            date: date_read,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_letter_is_recorded_as_it_arrived_and_as_it_states_itself() {
        let today = day("2026-12-05");
        let srikandi = check(
            "srikandi",
            Some(" 005/12/DINKES/2026 "),
            Some("2026-12-01"),
            today,
        )
        .unwrap();
        assert_eq!(srikandi.channel, Channel::Srikandi);
        assert_eq!(srikandi.number.as_deref(), Some("005/12/DINKES/2026"));
        assert_eq!(srikandi.date, Some(day("2026-12-01")));
        let web = check("web", None, None, today).unwrap();
        assert_eq!((web.number, web.date), (None, None));
        let fields = |r: Result<IncomingLetter, Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(check("fax", None, None, today)), ["letter.channel"]);
        assert_eq!(
            fields(check("paper", None, None, today)),
            ["letter.number", "letter.date"]
        );
        assert_eq!(
            fields(check("paper", Some("1"), Some("2026-12-06"), today)),
            ["letter.date"]
        );
        assert_eq!(
            fields(check(
                "email",
                Some(&"x".repeat(101)),
                Some("05-12-2026"),
                today
            )),
            ["letter.number", "letter.date"]
        );
        assert_eq!(
            serde_json::to_string(&srikandi).unwrap(),
            r#"{"channel":"srikandi","number":"005/12/DINKES/2026","date":"2026-12-01"}"#
        );
    }
}
