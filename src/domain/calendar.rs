//! Working time: the calendar that time standards are counted in.
//!
//! Rules (product.md): work that arrives outside working hours starts at the next working
//! minute; `N working hours` counts only working minutes (Fri 16:20 + 3 working hours = Mon
//! 10:50 with the default hours); `N working days` ends at the same time of day N working days
//! later, moved to that day's closing time when it closes earlier. Every function takes the
//! instant it works from; nothing here reads a clock.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// Opening and closing time of a working day (closing excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// First working minute.
    pub open: NaiveTime,
    /// End of work (exclusive).
    pub close: NaiveTime,
}

/// A time standard of a workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStandard {
    /// Counted in working minutes.
    WorkingHours(u32),
    /// Counted in working days.
    WorkingDays(u32),
}

/// The office calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    /// Monday first.
    week: [Option<Hours>; 7],
    holidays: BTreeSet<NaiveDate>,
}

/// Errors in a calendar definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A working day closes before it opens.
    #[error("{0}: closing time is not after opening time")]
    BadHours(Weekday),
    /// No working time at all: deadlines would never come.
    #[error("the calendar has no working day")]
    NoWorkingDay,
}

/// Days searched for the next working day before giving up (a year of holidays is absurd but
/// must not loop forever).
const SEARCH_DAYS: u32 = 400;

impl Calendar {
    /// A calendar from its time zone, hours per weekday (Monday first) and holidays.
    pub fn new(
        tz: Tz,
        week: [Option<Hours>; 7],
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        for (i, h) in week.iter().enumerate() {
            if let Some(h) = h
                && h.close <= h.open
            {
                return Err(CalendarError::BadHours(weekday(i)));
            }
        }
        if week.iter().all(Option::is_none) {
            return Err(CalendarError::NoWorkingDay);
        }
        Ok(Self {
            tz,
            week,
            holidays: holidays.into_iter().collect(),
        })
    }

    /// The default: `Asia/Makassar` (WITA), Monday to Thursday 08:00–16:00, Friday 08:00–16:30.
    pub fn default_wita(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
        let day = Some(Hours {
            open: t(8, 0),
            close: t(16, 0),
        });
        let friday = Some(Hours {
            open: t(8, 0),
            close: t(16, 30),
        });
        Self {
            tz: chrono_tz::Asia::Makassar,
            week: [day, day, day, day, friday, None, None],
            holidays: holidays.into_iter().collect(),
        }
    }

    /// Working hours per weekday, Monday first.
    pub fn week(&self) -> [Option<Hours>; 7] {
        self.week
    }

    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Working hours of a date, `None` on weekends and holidays.
    pub fn hours(&self, date: NaiveDate) -> Option<Hours> {
        if self.holidays.contains(&date) {
            return None;
        }
        self.week[date.weekday().num_days_from_monday() as usize]
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.tz).naive_local()
    }

    fn utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        // Time zones used by offices here have no DST gaps; for one that has, take the
        // earliest valid reading.
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }

    /// The first working instant at or after `t`.
    pub fn next_working_instant(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = self.local(t);
        let mut date = local.date();
        if let Some(h) = self.hours(date) {
            if local.time() < h.open {
                return self.utc(date.and_time(h.open));
            }
            if local.time() < h.close {
                return t;
            }
        }
        for _ in 0..SEARCH_DAYS {
            date = date.succ_opt().unwrap_or(date);
            if let Some(h) = self.hours(date) {
                return self.utc(date.and_time(h.open));
            }
        }
        t
    }

    /// `start` plus `minutes` of working time.
    pub fn add_working_minutes(&self, start: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
        let mut t = self.next_working_instant(start);
        let mut left = i64::from(minutes);
        for _ in 0..SEARCH_DAYS * 2 {
            let local = self.local(t);
            let Some(h) = self.hours(local.date()) else {
                t = self.next_working_instant(t);
                continue;
            };
            let available = (local.date().and_time(h.close) - local).num_minutes();
            if left <= available {
                return t + Duration::minutes(left);
            }
            left -= available;
            t = self.next_working_instant(self.utc(local.date().and_time(h.close)));
        }
        t
    }

    /// `start` plus `days` working days: the same time of day, `days` working days later,
    /// moved to that day's closing time if it closes earlier.
    pub fn add_working_days(&self, start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let t = self.next_working_instant(start);
        let local = self.local(t);
        let mut date = local.date();
        let mut counted = 0;
        let mut searched = 0;
        while counted < days && searched < SEARCH_DAYS * 2 {
            date = date.succ_opt().unwrap_or(date);
            searched += 1;
            if self.hours(date).is_some() {
                counted += 1;
            }
        }
        let Some(h) = self.hours(date) else {
            return t;
        };
        let time = local.time().clamp(h.open, h.close);
        self.utc(date.and_time(time))
    }

    /// When a step's time standard runs out, for work that arrived at `start`.
    pub fn deadline(&self, start: DateTime<Utc>, standard: TimeStandard) -> DateTime<Utc> {
        match standard {
            TimeStandard::WorkingHours(h) => self.add_working_minutes(start, h.saturating_mul(60)),
            TimeStandard::WorkingDays(d) => self.add_working_days(start, d),
        }
    }

    /// Working minutes between two instants (0 if `end` is not after `start`).
    pub fn working_minutes_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
        if end <= start {
            return 0;
        }
        let mut total = 0;
        let mut t = self.next_working_instant(start);
        for _ in 0..SEARCH_DAYS * 4 {
            if t >= end {
                break;
            }
            let local = self.local(t);
            let Some(h) = self.hours(local.date()) else {
                t = self.next_working_instant(t);
                continue;
            };
            let close = self.utc(local.date().and_time(h.close));
            if end <= close {
                total += (end - t).num_minutes();
                break;
            }
            total += (close - t).num_minutes();
            t = self.next_working_instant(close);
        }
        total
    }
}

fn weekday(i: usize) -> Weekday {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ][i % 7]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WITA wall-clock time as UTC.
    fn wita(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Makassar
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn cal() -> Calendar {
        // 2026-11-20 is a Friday.
        Calendar::default_wita([NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()])
    }

    #[test]
    fn working_hours_table() {
        let c = cal();
        for (start, hours, expected) in [
            // The product's example: Fri 16:20 + 3 working hours = Mon 10:50.
            (wita(2026, 11, 20, 16, 20), 3, wita(2026, 11, 23, 10, 50)),
            // Arriving before opening starts at opening.
            (wita(2026, 11, 23, 6, 0), 3, wita(2026, 11, 23, 11, 0)),
            // Arriving on Saturday starts Monday 08:00.
            (wita(2026, 11, 21, 12, 0), 1, wita(2026, 11, 23, 9, 0)),
            // Ending exactly at closing time stays that day.
            (wita(2026, 11, 23, 13, 0), 3, wita(2026, 11, 23, 16, 0)),
            // A holiday (Wed 25th) is skipped: Tue 15:00 + 2h = Thu 09:00.
            (wita(2026, 11, 24, 15, 0), 2, wita(2026, 11, 26, 9, 0)),
            // Arriving at closing time is outside working hours.
            (wita(2026, 11, 23, 16, 0), 1, wita(2026, 11, 24, 9, 0)),
        ] {
            assert_eq!(
                c.deadline(start, TimeStandard::WorkingHours(hours)),
                expected,
                "{start} + {hours}h"
            );
        }
    }

    #[test]
    fn working_days_table() {
        let c = cal();
        for (start, days, expected) in [
            // Mon 10:00 + 1 day = Tue 10:00.
            (wita(2026, 11, 23, 10, 0), 1, wita(2026, 11, 24, 10, 0)),
            // Tue 10:00 + 1 day skips the holiday: Thu 10:00.
            (wita(2026, 11, 24, 10, 0), 1, wita(2026, 11, 26, 10, 0)),
            // Fri 16:20 + 1 day = Mon 16:00 (Monday closes earlier).
            (wita(2026, 11, 20, 16, 20), 1, wita(2026, 11, 23, 16, 0)),
            // Saturday + 1 day: starts Mon 08:00, ends Tue 08:00.
            (wita(2026, 11, 21, 12, 0), 1, wita(2026, 11, 24, 8, 0)),
            // 7 working days from Mon 09:00: Tue, Thu, Fri, Mon, Tue, Wed, Thu.
            (wita(2026, 11, 23, 9, 0), 7, wita(2026, 12, 3, 9, 0)),
        ] {
            assert_eq!(
                c.deadline(start, TimeStandard::WorkingDays(days)),
                expected,
                "{start} + {days}d"
            );
        }
    }

    #[test]
    fn minutes_between_count_only_working_time() {
        let c = cal();
        assert_eq!(
            c.working_minutes_between(wita(2026, 11, 20, 16, 20), wita(2026, 11, 23, 10, 50)),
            180
        );
        assert_eq!(
            c.working_minutes_between(wita(2026, 11, 21, 0, 0), wita(2026, 11, 22, 23, 0)),
            0
        );
        assert_eq!(
            c.working_minutes_between(wita(2026, 11, 23, 8, 0), wita(2026, 11, 24, 8, 0)),
            480
        );
        assert_eq!(
            c.working_minutes_between(wita(2026, 11, 24, 8, 0), wita(2026, 11, 23, 8, 0)),
            0
        );
    }

    #[test]
    fn bad_calendars_are_refused() {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        let bad = Some(Hours {
            open: t(16),
            close: t(8),
        });
        assert_eq!(
            Calendar::new(
                chrono_tz::UTC,
                [bad, None, None, None, None, None, None],
                []
            ),
            Err(CalendarError::BadHours(Weekday::Mon))
        );
        assert_eq!(
            Calendar::new(chrono_tz::UTC, [None; 7], []),
            Err(CalendarError::NoWorkingDay)
        );
    }

    proptest::proptest! {
        #[test]
        fn deadlines_are_consistent(mins in 0i64..(60 * 24 * 60), hours in 0u32..60) {
            let c = cal();
            let start = wita(2026, 11, 1, 0, 0) + Duration::minutes(mins);
            let end = c.deadline(start, TimeStandard::WorkingHours(hours));
            // The deadline is never before the start, and exactly that much working time lies
            // between them.
            proptest::prop_assert!(end >= start);
            proptest::prop_assert_eq!(c.working_minutes_between(start, end), i64::from(hours) * 60);
            let days = hours % 10;
            let end_days = c.deadline(start, TimeStandard::WorkingDays(days));
            proptest::prop_assert!(end_days >= c.next_working_instant(start));
        }
    }
}
