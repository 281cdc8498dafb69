//! SOA serials: date-based `YYYYMMDDnn` in UTC, always moving forward.

use chrono::{Datelike, NaiveDate};

/// The serial that follows `current` on `today` (UTC): the day's first serial `YYYYMMDD00` when
/// that is ahead of `current`, otherwise `current + 1` (so more than 100 changes a day, or a
/// serial imported from a file that is ahead of the date, still move forward; RFC 1982
/// arithmetic makes the wrap at 2^32 a step forward too).
pub fn next_serial(current: u32, today: NaiveDate) -> u32 {
    match date_base(today) {
        Some(base) if base > current => base,
        _ => current.wrapping_add(1),
    }
}

/// `YYYYMMDD00` for a date, if it fits in 32 bits (it does until the year 42949).
fn date_base(day: NaiveDate) -> Option<u32> {
    let y = u32::try_from(day.year()).ok()?;
    y.checked_mul(1_000_000)?
        .checked_add(day.month() * 10_000 + day.day() * 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn table() {
        let today = d(2026, 11, 23);
        for (current, expected) in [
            (1, 2026112300),
            (2026010101, 2026112300),
            (2026112300, 2026112301),
            (2026112399, 2026112400), // falls through to +1, past the day's hundred
            (2030010100, 2030010101), // a serial ahead of the date still increments
            (u32::MAX, 0),            // RFC 1982: a step forward
        ] {
            assert_eq!(next_serial(current, today), expected, "{current}");
        }
    }

    #[test]
    fn always_forward_in_serial_arithmetic() {
        // RFC 1982: s2 is greater than s1 when (s2 - s1) mod 2^32 is in 1..2^31.
        let days = [d(2026, 1, 1), d(2026, 12, 31), d(2099, 6, 15)];
        for &current in &[0u32, 1, 2026112300, 2026123199, 3_000_000_000, u32::MAX] {
            for &day in &days {
                let next = next_serial(current, day);
                let delta = next.wrapping_sub(current);
                assert!((1..(1u32 << 31)).contains(&delta), "{current} -> {next}");
            }
        }
    }
}
