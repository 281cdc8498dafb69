//! What the office's letters write as Indonesian letters do: the date (`5 Desember 2026`), the
//! day (`Sabtu`), the letter number from the configured format. The documents themselves are
//! made from templates (`outbox::document`).

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;

const MONTHS: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

/// A date as Indonesian letters write it: `23 November 2026`.
pub fn tanggal(date: &DateTime<Tz>) -> String {
    let month = MONTHS
        .get(date.month0() as usize)
        .copied()
        .unwrap_or_default();
    format!("{} {month} {}", date.day(), date.year())
}

/// The letter's number from the configured format: `{id}`, `{year}` and `{month}` (Roman).
pub fn letter_number(format: &str, id: i64, date: &DateTime<Tz>) -> String {
    const ROMAN: [&str; 12] = [
        "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
    ];
    format
        .replace("{id}", &id.to_string())
        .replace("{year}", &date.year().to_string())
        .replace(
            "{month}",
            ROMAN.get(date.month0() as usize).copied().unwrap_or(""),
        )
}

/// The day of the week as Indonesian letters write it: `Senin`, …
pub fn hari(date: &DateTime<Tz>) -> &'static str {
    match date.weekday() {
        chrono::Weekday::Mon => "Senin",
        chrono::Weekday::Tue => "Selasa",
        chrono::Weekday::Wed => "Rabu",
        chrono::Weekday::Thu => "Kamis",
        chrono::Weekday::Fri => "Jumat",
        chrono::Weekday::Sat => "Sabtu",
        chrono::Weekday::Sun => "Minggu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn number_and_date() {
        let d = chrono_tz::Asia::Makassar
            .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .unwrap();
        assert_eq!(tanggal(&d), "23 November 2026");
        assert_eq!(hari(&d), "Senin");
        assert_eq!(
            letter_number("555/{id}/DKISP/{month}/{year}", 42, &d),
            "555/42/DKISP/XI/2026"
        );
    }
}
