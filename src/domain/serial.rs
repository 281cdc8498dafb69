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

/// Whether serial `a` is ahead of (greater than) `b` in RFC 1982 serial arithmetic: `a` differs
/// from `b` and `(a - b) mod 2^32` is below 2^31. (Serials 2^31 apart are not comparable; that
/// is neither ahead.)
pub fn is_ahead(a: u32, b: u32) -> bool {
    let delta = a.wrapping_sub(b);
    delta != 0 && delta < (1 << 31)
}

/// The serial that follows every one of `serials` on `today`: [`next_serial`] of the one no
/// other is ahead of. A secondary holding any of them sees the result as newer and transfers
/// the zone again (the serials must lie within 2^31 of each other, as a zone's serials do).
pub fn next_serial_after_all(serials: impl IntoIterator<Item = u32>, today: NaiveDate) -> u32 {
    let highest = serials
        .into_iter()
        .reduce(|high, s| if is_ahead(s, high) { s } else { high })
        .unwrap_or(0);
    next_serial(highest, today)
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

    #[test]
    fn ahead_in_serial_arithmetic() {
        assert!(is_ahead(2026010101, 2026010100));
        assert!(!is_ahead(2026010100, 2026010101));
        assert!(!is_ahead(7, 7));
        assert!(is_ahead(0, u32::MAX)); // the wrap is a step forward
        assert!(!is_ahead(1 << 31, 0)); // 2^31 apart: not comparable
    }

    #[test]
    fn after_all() {
        let today = d(2026, 11, 23);
        // A secondary ahead of the backup: the next serial passes it, whatever the order.
        assert_eq!(
            next_serial_after_all([2026112305, 2026112310, 2026112301], today),
            2026112311
        );
        // Serials from earlier days: the day's first serial.
        assert_eq!(
            next_serial_after_all([2026010100, 2026020100], today),
            2026112300
        );
        // Across the wrap: 5 is ahead of u32::MAX, and the day's serial ahead of both.
        assert_eq!(next_serial_after_all([u32::MAX, 5], today), 2026112300);
        assert_eq!(next_serial_after_all([5, u32::MAX], today), 2026112300);
        assert_eq!(
            next_serial_after_all([2147483648, 5, 3_000_000_000], today),
            3_000_000_001
        );
        for set in [
            [2_500_000_000u32, 2026112399, 3_000_000_000],
            [u32::MAX, 0, 100],
        ] {
            let next = next_serial_after_all(set, today);
            assert!(set.iter().all(|&s| is_ahead(next, s)), "{set:?} -> {next}");
        }
    }
}
