//! The yearly confirmation of each name: the agency that holds it says it is still in use, who
//! answers for it and what it is for. When each confirmation is due, the reminders before,
//! the mark when the day passes, the suspension after the grace period. Pure: days are
//! arguments.
//!
//! Abandoned names are the ones taken over: a name nobody confirms is one nobody looks after.

use chrono::NaiveDate;

use super::expiry::{notice_due, sent_with};

/// Where a name's confirmation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The last day to confirm.
    pub due_on: NaiveDate,
    /// Reminders sent for it (days before).
    pub reminded: Vec<i64>,
    /// Whether the name is marked unconfirmed.
    pub marked: bool,
    /// Whether it was suspended for it.
    pub suspended: bool,
}

/// The next step for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Remind the agency: this many days are left (30, 7 or 1).
    Remind(i64),
    /// The due day passed: mark the name unconfirmed (and tell the agency).
    Mark,
    /// The grace period passed too: suspend it.
    Suspend,
}

/// The first due day of a name the confirmation begins for on `since`, made on `created`: a
/// year after it was made, and never sooner than `notice_days` after `since` (an office that
/// starts with a thousand old names gives their agencies a notice period).
pub fn first_due(
    created: NaiveDate,
    since: NaiveDate,
    every_days: i64,
    notice_days: i64,
) -> NaiveDate {
    (created + chrono::Duration::days(every_days)).max(since + chrono::Duration::days(notice_days))
}

/// The next due day after a confirmation on `confirmed`.
pub fn next_due(confirmed: NaiveDate, every_days: i64) -> NaiveDate {
    confirmed + chrono::Duration::days(every_days)
}

/// What is due on `today`.
pub fn due(standing: &Standing, today: NaiveDate, grace_days: i64) -> Option<Step> {
    if standing.suspended {
        return None;
    }
    let late = (today - standing.due_on).num_days();
    if late > 0 {
        if !standing.marked {
            return Some(Step::Mark);
        }
        return (late > grace_days).then_some(Step::Suspend);
    }
    notice_due(standing.due_on, today, &standing.reminded).map(Step::Remind)
}

/// The reminders recorded once the `days` one is sent.
pub fn reminded_with(reminded: &[i64], days: i64) -> Vec<i64> {
    sent_with(reminded, days)
}

/// What the confirmation says, checked: the person responsible and the purpose.
pub fn check_statement(
    contact_name: &str,
    contact_email: &str,
    contact_phone: &str,
    purpose: &str,
) -> Result<(), (&'static str, &'static str)> {
    if contact_name.trim().is_empty() || contact_name.chars().count() > 200 {
        return Err((
            "contact.name",
            "the person responsible: 1 to 200 characters",
        ));
    }
    if !super::signin::plausible_email(contact_email.trim()) {
        return Err((
            "contact.email",
            "an email address of the person responsible",
        ));
    }
    if purpose.trim().is_empty() || purpose.chars().count() > 2000 {
        return Err(("purpose", "what the name is for: 1 to 2,000 characters"));
    }
    if super::policy::control_character(contact_name).is_some() {
        return Err(("contact.name", "control characters are not accepted"));
    }
    if contact_phone.chars().count() > 40
        || super::policy::control_character(contact_phone).is_some()
    {
        return Err(("contact.phone", "a telephone number: at most 40 characters"));
    }
    if super::policy::control_character_in_lines(purpose).is_some() {
        return Err(("purpose", "control characters are not accepted"));
    }
    Ok(())
}

/// A step's email, in Bahasa Indonesia: subject and body.
pub fn notice_text(name: &str, due_on: NaiveDate, step: Step, grace_days: i64) -> (String, String) {
    let date = due_on.format("%d-%m-%Y");
    let how = "Konfirmasi melalui konsol ranah (menu Konfirmasi tahunan) atau API \
               (POST /api/v1/subdomains/NAMA/confirm). Bila subdomain tidak digunakan lagi, \
               ajukan penghapusan dari layar yang sama.";
    match step {
        Step::Remind(days) => (
            format!("[ranah] Konfirmasi tahunan subdomain {name}: {days} hari lagi"),
            format!(
                "Yth. Bapak/Ibu,\n\nSubdomain {name} perlu dikonfirmasi paling lambat tanggal \
                 {date}: bahwa subdomain masih digunakan, siapa penanggung jawabnya, dan untuk \
                 apa. {how}\n\nPesan ini dikirim otomatis oleh ranah.\n"
            ),
        ),
        Step::Mark => (
            format!("[ranah] Subdomain {name} belum dikonfirmasi"),
            format!(
                "Yth. Bapak/Ibu,\n\nKonfirmasi tahunan subdomain {name} jatuh tempo tanggal \
                 {date} dan belum diterima. Subdomain ditandai belum dikonfirmasi dan akan \
                 ditangguhkan {grace_days} hari setelah tanggal tersebut. {how}\n\n\
                 Pesan ini dikirim otomatis oleh ranah.\n"
            ),
        ),
        Step::Suspend => (
            format!("[ranah] Subdomain {name} ditangguhkan: tidak dikonfirmasi"),
            format!(
                "Yth. Bapak/Ibu,\n\nSubdomain {name} tidak dikonfirmasi sampai {grace_days} hari \
                 setelah jatuh tempo ({date}) dan kini ditangguhkan. Konfirmasi memulihkannya. \
                 {how}\n\nPesan ini dikirim otomatis oleh ranah.\n"
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

    #[test]
    fn the_first_due_day_gives_old_names_a_notice_period() {
        assert_eq!(
            first_due(day("2026-01-10"), day("2026-12-05"), 365, 30),
            day("2027-01-10")
        );
        assert_eq!(
            first_due(day("2020-01-10"), day("2026-12-05"), 365, 30),
            day("2027-01-04")
        );
        assert_eq!(next_due(day("2027-01-02"), 365), day("2028-01-02"));
    }

    #[test]
    fn reminders_then_mark_then_suspension() {
        let mut s = Standing {
            due_on: day("2027-01-31"),
            reminded: Vec::new(),
            marked: false,
            suspended: false,
        };
        assert_eq!(due(&s, day("2026-12-31"), 30), None);
        assert_eq!(due(&s, day("2027-01-02"), 30), Some(Step::Remind(30)));
        s.reminded = reminded_with(&s.reminded, 30);
        assert_eq!(due(&s, day("2027-01-25"), 30), Some(Step::Remind(7)));
        s.reminded = reminded_with(&s.reminded, 7);
        assert_eq!(due(&s, day("2027-01-31"), 30), Some(Step::Remind(1)));
        s.reminded = reminded_with(&s.reminded, 1);
        assert_eq!(due(&s, day("2027-01-31"), 30), None);
        assert_eq!(due(&s, day("2027-02-01"), 30), Some(Step::Mark));
        s.marked = true;
        assert_eq!(due(&s, day("2027-03-02"), 30), None);
        assert_eq!(due(&s, day("2027-03-03"), 30), Some(Step::Suspend));
        s.suspended = true;
        assert_eq!(due(&s, day("2027-12-31"), 30), None);
    }

    #[test]
    fn a_statement_names_a_person_an_address_and_a_purpose() {
        assert!(check_statement("Budi", "budi@example.go.id", "0812", "Sistem informasi").is_ok());
        assert_eq!(
            check_statement("", "budi@example.go.id", "", "x")
                .unwrap_err()
                .0,
            "contact.name"
        );
        assert_eq!(
            check_statement("Budi", "budi", "", "x").unwrap_err().0,
            "contact.email"
        );
        assert_eq!(
            check_statement("Budi", "budi@example.go.id", "", " ")
                .unwrap_err()
                .0,
            "purpose"
        );
    }
}
