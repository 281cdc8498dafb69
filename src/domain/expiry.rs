//! Names given for a time (an event's site, a project's): when the agency is told the end is
//! near, when the name is suspended, when it is removed. Pure: the day is an argument.
//!
//! An event's site left to run after the event is how abandoned names are taken over: the end
//! date makes the ending happen without anyone remembering it.

use chrono::NaiveDate;

/// The notices, in days before the last day.
pub const NOTICE_DAYS: [i64; 3] = [30, 7, 1];

/// Longest term ahead an end date may be set (five years).
pub const MAX_DAYS_AHEAD: i64 = 5 * 366;

/// The next step of a name's ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Tell the agency: this many days are left (30, 7 or 1).
    Notice(i64),
    /// The last day has passed: suspend the name.
    Suspend,
    /// The grace period after the end has passed too: remove the name.
    Remove,
}

/// Where a name's ending stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The last day the name is served.
    pub ends_on: NaiveDate,
    /// The notices sent (days before the end).
    pub notified: Vec<i64>,
    /// Whether it was suspended at the end.
    pub suspended: bool,
    /// Whether it was removed.
    pub removed: bool,
}

/// What is due on `today` for a name whose term is `term`, with `grace_days` between the
/// suspension and the removal. At most one notice is due: the nearest one not sent (a term set
/// 5 days before its end gets the 7-day notice, not the 30-day one as well); [`sent_with`]
/// records it with the ones it stands for.
pub fn due(term: &Term, today: NaiveDate, grace_days: i64) -> Option<Step> {
    if term.removed {
        return None;
    }
    let left = (term.ends_on - today).num_days();
    if left < 0 {
        if !term.suspended {
            return Some(Step::Suspend);
        }
        return (-left > grace_days).then_some(Step::Remove);
    }
    notice_due(term.ends_on, today, &term.notified).map(Step::Notice)
}

/// The notice (days before: 30, 7 or 1) due on `today` before `last_day`, unless sent: the
/// nearest one. Days left count the last day itself: on it, 1 day is left.
pub fn notice_due(last_day: NaiveDate, today: NaiveDate, sent: &[i64]) -> Option<i64> {
    let left = (last_day - today).num_days() + 1;
    if left < 1 {
        return None;
    }
    NOTICE_DAYS
        .iter()
        .rev()
        .find(|n| left <= **n)
        .filter(|n| !sent.contains(n))
        .copied()
}

/// The notices recorded once the `days` notice is sent: it, and the earlier ones it makes
/// pointless (sent late, the 7-day notice stands for the 30-day one).
pub fn sent_with(notified: &[i64], days: i64) -> Vec<i64> {
    let mut out: Vec<i64> = notified.to_vec();
    out.extend(NOTICE_DAYS.iter().filter(|n| **n >= days));
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    out
}

/// Whether `ends_on` may be set on `today`: from tomorrow, at most [`MAX_DAYS_AHEAD`] ahead.
pub fn check_end(ends_on: NaiveDate, today: NaiveDate) -> Result<(), &'static str> {
    let ahead = (ends_on - today).num_days();
    if ahead < 1 {
        return Err("the end date must be after today");
    }
    if ahead > MAX_DAYS_AHEAD {
        return Err("the end date may be at most five years ahead");
    }
    Ok(())
}

/// The notice's text, in Bahasa Indonesia: subject and body.
pub fn notice_text(
    name: &str,
    ends_on: NaiveDate,
    step: Step,
    grace_days: i64,
) -> (String, String) {
    let date = ends_on.format("%d-%m-%Y");
    match step {
        Step::Notice(days) => (
            format!("[ranah] Masa berlaku subdomain {name} berakhir dalam {days} hari"),
            format!(
                "Yth. Bapak/Ibu,\n\nSubdomain {name} diberikan sampai dengan tanggal {date}. Masa \
                 berlakunya berakhir dalam {days} hari. Setelah tanggal tersebut subdomain \
                 ditangguhkan, dan dihapus {grace_days} hari kemudian.\n\nBila subdomain masih \
                 diperlukan, mohon hubungi Diskominfo untuk memperpanjang masa berlakunya.\n\n\
                 Pesan ini dikirim otomatis oleh ranah.\n"
            ),
        ),
        Step::Suspend => (
            format!("[ranah] Subdomain {name} ditangguhkan: masa berlaku berakhir"),
            format!(
                "Yth. Bapak/Ibu,\n\nMasa berlaku subdomain {name} berakhir pada tanggal {date}; \
                 subdomain kini ditangguhkan dan tidak dijawab DNS. Subdomain dihapus {grace_days} \
                 hari setelah tanggal tersebut, kecuali masa berlakunya diperpanjang.\n\n\
                 Pesan ini dikirim otomatis oleh ranah.\n"
            ),
        ),
        Step::Remove => (
            format!("[ranah] Subdomain {name} dihapus"),
            format!(
                "Yth. Bapak/Ibu,\n\nMasa berlaku subdomain {name} berakhir pada tanggal {date} \
                 dan masa tenggang {grace_days} hari telah lewat; subdomain telah dihapus dari \
                 daftar subdomain.\n\nPesan ini dikirim otomatis oleh ranah.\n"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn term(notified: &[i64], suspended: bool) -> Term {
        Term {
            ends_on: day("2027-03-31"),
            notified: notified.to_vec(),
            suspended,
            removed: false,
        }
    }

    #[test]
    fn notices_at_thirty_seven_and_one_day_then_suspension_then_removal() {
        let t = term(&[], false);
        assert_eq!(due(&t, day("2027-02-28"), 30), None);
        assert_eq!(due(&t, day("2027-03-02"), 30), Some(Step::Notice(30)));
        let t = term(&sent_with(&[], 30), false);
        assert_eq!(due(&t, day("2027-03-10"), 30), None);
        assert_eq!(due(&t, day("2027-03-25"), 30), Some(Step::Notice(7)));
        let t = term(&sent_with(&t.notified, 7), false);
        assert_eq!(t.notified, vec![30, 7]);
        assert_eq!(due(&t, day("2027-03-31"), 30), Some(Step::Notice(1)));
        let t = term(&sent_with(&t.notified, 1), false);
        // The last day is served; the day after, the name is suspended.
        assert_eq!(due(&t, day("2027-03-31"), 30), None);
        assert_eq!(due(&t, day("2027-04-01"), 30), Some(Step::Suspend));
        let t = term(&t.notified, true);
        assert_eq!(due(&t, day("2027-04-30"), 30), None);
        assert_eq!(due(&t, day("2027-05-01"), 30), Some(Step::Remove));
        let mut gone = t.clone();
        gone.removed = true;
        assert_eq!(due(&gone, day("2028-01-01"), 30), None);
    }

    #[test]
    fn a_late_term_gets_the_nearest_notice_only() {
        let t = term(&[], false);
        assert_eq!(due(&t, day("2027-03-27"), 30), Some(Step::Notice(7)));
        assert_eq!(sent_with(&[], 7), vec![30, 7]);
        assert_eq!(sent_with(&[], 1), vec![30, 7, 1]);
    }

    #[test]
    fn end_dates_from_tomorrow_to_five_years() {
        let today = day("2026-12-05");
        assert!(check_end(day("2026-12-05"), today).is_err());
        assert!(check_end(day("2026-12-06"), today).is_ok());
        assert!(check_end(day("2031-12-31"), today).is_err());
        let (subject, body) = notice_text(
            "acara.example.go.id",
            day("2027-03-31"),
            Step::Notice(7),
            30,
        );
        assert!(
            subject.contains("7 hari") && body.contains("31-03-2027"),
            "{subject} {body}"
        );
    }
}
