//! Complaints (pengaduan) as the offices' service standards define them: four categories with
//! their time standards in working days, the steps a complaint goes through (received,
//! assigned, answered, closed), what a complaint must say, and the proof of work that lets the
//! public submit one without an account and without a captcha.
//!
//! The standards: "Pengaduan ringan, selambat-lambatnya 5 hari kerja; pengaduan bersifat
//! normatif, 5 hari kerja; pengaduan tidak berkadar pengawasan, 14 hari kerja; pengaduan
//! berkadar pengawasan dan memerlukan pemeriksaan, 60 hari kerja." The standard is met when the
//! answer reaches the complainant ("pengguna layanan menerima jawaban pengaduan"): the due time
//! is the answer's, counted from receipt in the office's calendar.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::calendar::{Calendar, TimeStandard};
use super::policy::FieldError;

/// A complaint's category, which sets its time standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Pengaduan ringan: 5 working days.
    Light,
    /// Pengaduan bersifat normatif: 5 working days.
    Normative,
    /// Pengaduan tidak berkadar pengawasan: 14 working days.
    NonSupervisory,
    /// Pengaduan berkadar pengawasan dan memerlukan pemeriksaan: 60 working days.
    Supervisory,
}

impl Category {
    /// Every category, in the standards' order.
    pub const ALL: [Self; 4] = [
        Self::Light,
        Self::Normative,
        Self::NonSupervisory,
        Self::Supervisory,
    ];

    /// The category named `light`, `normative`, `non_supervisory` or `supervisory`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Its name in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Normative => "normative",
            Self::NonSupervisory => "non_supervisory",
            Self::Supervisory => "supervisory",
        }
    }

    /// Working days to answer it.
    pub fn working_days(self) -> u32 {
        match self {
            Self::Light | Self::Normative => 5,
            Self::NonSupervisory => 14,
            Self::Supervisory => 60,
        }
    }

    /// Its title, as the standards word it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Light => "Pengaduan ringan",
            Self::Normative => "Pengaduan bersifat normatif",
            Self::NonSupervisory => "Pengaduan tidak berkadar pengawasan",
            Self::Supervisory => "Pengaduan berkadar pengawasan dan memerlukan pemeriksaan",
        }
    }
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Received by the office, not yet given to anyone.
    Received,
    /// Given to a member of the office's staff to handle.
    Assigned,
    /// Answered: the answer went to the complainant.
    Answered,
    /// Closed after the answer.
    Closed,
}

impl Status {
    /// The status named `received`, `assigned`, `answered` or `closed`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Received, Self::Assigned, Self::Answered, Self::Closed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Its name in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Assigned => "assigned",
            Self::Answered => "answered",
            Self::Closed => "closed",
        }
    }

    /// Still waiting for its answer.
    pub fn awaits_answer(self) -> bool {
        matches!(self, Self::Received | Self::Assigned)
    }
}

/// What the office does with a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Give it to someone (again), perhaps in another category.
    Assign,
    /// Answer the complainant.
    Answer,
    /// Close it once answered.
    Close,
}

/// Why a step cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComplaintError {
    /// The complaint's status does not allow it.
    #[error("complaint {id} is {status}: it cannot be {action}")]
    InvalidState {
        /// The complaint.
        id: i64,
        /// Its status.
        status: &'static str,
        /// What was asked, as a participle.
        action: &'static str,
    },
}

/// The status after `action`, or why it cannot be taken.
pub fn next(id: i64, status: Status, action: Action) -> Result<Status, ComplaintError> {
    let refused = |action| ComplaintError::InvalidState {
        id,
        status: status.as_str(),
        action,
    };
    match (action, status) {
        (Action::Assign, Status::Received | Status::Assigned) => Ok(Status::Assigned),
        (Action::Assign, _) => Err(refused("assigned")),
        (Action::Answer, Status::Received | Status::Assigned) => Ok(Status::Answered),
        (Action::Answer, _) => Err(refused("answered")),
        (Action::Close, Status::Answered) => Ok(Status::Closed),
        (Action::Close, _) => Err(refused("closed (it is closed once answered)")),
    }
}

/// When the answer to a complaint received at `received` is due.
pub fn due_at(calendar: &Calendar, received: DateTime<Utc>, category: Category) -> DateTime<Utc> {
    calendar.deadline(received, TimeStandard::WorkingDays(category.working_days()))
}

/// Whether a complaint due at `due` is overdue at `now`: not answered by then.
pub fn overdue(due: DateTime<Utc>, answered: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match answered {
        Some(a) => a > due,
        None => now > due,
    }
}

/// The longest subject.
pub const MAX_SUBJECT: usize = 200;
/// The longest complaint or answer.
pub const MAX_TEXT: usize = 5_000;

/// What a complaint says, as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission {
    /// `light`, `normative`, `non_supervisory` or `supervisory`.
    pub category: String,
    /// A line saying what it is about.
    pub subject: String,
    /// The complaint itself.
    pub body: String,
    /// A subdomain or a request number it concerns, when it concerns one.
    pub about: Option<String>,
    /// Who complains.
    pub name: String,
    /// Where the answer goes.
    pub email: String,
    /// A telephone number.
    pub phone: Option<String>,
}

fn field(field: &str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        code,
        message: message.into(),
    }
}

/// Every problem of a submission; its category when there is none.
pub fn check(s: &Submission) -> Result<Category, Vec<FieldError>> {
    let mut errors = Vec::new();
    let category = Category::parse(&s.category);
    if category.is_none() {
        errors.push(field(
            "category",
            "unknown_category",
            "one of light, normative, non_supervisory, supervisory",
        ));
    }
    let line = |name: &str, value: &str, max: usize, errors: &mut Vec<FieldError>| {
        let n = value.trim().chars().count();
        if n == 0 || n > max {
            errors.push(field(name, "invalid", format!("1 to {max} characters")));
        } else if super::policy::control_character(value).is_some() {
            errors.push(field(
                name,
                "control_character",
                "control characters are not accepted",
            ));
        }
    };
    line("subject", &s.subject, MAX_SUBJECT, &mut errors);
    line("name", &s.name, 200, &mut errors);
    check_text("body", &s.body, &mut errors);
    if !super::signin::plausible_email(s.email.trim()) || s.email.chars().count() > 254 {
        errors.push(field("email", "invalid", "an email address for the answer"));
    }
    if let Some(phone) = &s.phone
        && (phone.chars().count() > 40 || super::policy::control_character(phone).is_some())
    {
        errors.push(field(
            "phone",
            "invalid",
            "a telephone number: at most 40 characters",
        ));
    }
    if let Some(about) = &s.about
        && (about.chars().count() > 253
            || about.trim().is_empty()
            || super::policy::control_character(about).is_some())
    {
        errors.push(field(
            "about",
            "invalid",
            "a subdomain or a request number: at most 253 characters",
        ));
    }
    match category {
        Some(c) if errors.is_empty() => Ok(c),
        _ => Err(errors),
    }
}

/// Checks a long text (a complaint, an answer): 1 to [`MAX_TEXT`] characters, lines of text.
pub fn check_text(name: &str, text: &str, errors: &mut Vec<FieldError>) {
    let n = text.trim().chars().count();
    if n == 0 || n > MAX_TEXT {
        errors.push(field(
            name,
            "invalid",
            format!("1 to {MAX_TEXT} characters"),
        ));
    } else if super::policy::control_character_in_lines(text).is_some() {
        errors.push(field(
            name,
            "control_character",
            "control characters are not accepted",
        ));
    }
}

// The proof of work. A visitor asks for a challenge (`EXPIRY.RANDOM.MAC`: when it expires,
// 16 random bytes, and a MAC over both under the office's key), then finds a nonce such that
// SHA-256(`CHALLENGE:NONCE`) begins with `bits` zero bits, and sends both with the complaint.
// Checking takes one hash and one MAC; the store refuses a challenge spent before.

/// The longest nonce accepted.
pub const MAX_NONCE: usize = 32;

/// Why a proof of work is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Not a challenge this office made (or made with another key).
    #[error("the challenge was not made here; ask GET /api/v1/complaints/challenge for one")]
    Forged,
    /// Made here, but too long ago.
    #[error("the challenge expired; ask for a new one")]
    Expired,
    /// The nonce is not 1 to 32 letters, digits, `-` or `_`.
    #[error("the nonce: 1 to 32 letters, digits, - or _")]
    BadNonce,
    /// The hash does not begin with enough zero bits.
    #[error("the nonce does not solve the challenge")]
    Unsolved,
}

fn mac(key: &[u8], text: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length; the error cannot happen.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(b"ranah complaint challenge\0");
    m.update(text.as_bytes());
    m
}

/// A challenge that expires at `expires`, from 16 random bytes, under `key`.
pub fn challenge(key: &[u8], random: [u8; 16], expires: DateTime<Utc>) -> String {
    let head = format!("{}.{}", expires.timestamp(), hex::encode(random));
    let tag = mac(key, &head).finalize().into_bytes();
    format!("{head}.{}", hex::encode(&tag[..16]))
}

/// The number of leading zero bits of `hash`.
pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for b in hash {
        if *b == 0 {
            bits += 8;
        } else {
            return bits + b.leading_zeros();
        }
    }
    bits
}

/// Whether `nonce` solves `challenge` (made under `key`) with `bits` zero bits at `now`.
pub fn verify_proof(
    key: &[u8],
    challenge: &str,
    nonce: &str,
    bits: u32,
    now: DateTime<Utc>,
) -> Result<(), ProofError> {
    let (head, tag) = challenge.rsplit_once('.').ok_or(ProofError::Forged)?;
    let tag = hex::decode(tag).map_err(|_| ProofError::Forged)?;
    if tag.len() != 16 || challenge.len() > 80 {
        return Err(ProofError::Forged);
    }
    mac(key, head)
        .verify_truncated_left(&tag)
        .map_err(|_| ProofError::Forged)?;
    let expires: i64 = head
        .split_once('.')
        .and_then(|(e, _)| e.parse().ok())
        .ok_or(ProofError::Forged)?;
    if now.timestamp() > expires {
        return Err(ProofError::Expired);
    }
    if nonce.is_empty()
        || nonce.len() > MAX_NONCE
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ProofError::BadNonce);
    }
    let hash = Sha256::new()
        .chain_update(challenge.as_bytes())
        .chain_update(b":")
        .chain_update(nonce.as_bytes())
        .finalize();
    if leading_zero_bits(&hash) < bits {
        return Err(ProofError::Unsolved);
    }
    Ok(())
}

/// Solve a challenge: the first decimal nonce that does (for clients and tests; a browser
/// runs the same loop in the console's script).
pub fn solve(challenge: &str, bits: u32) -> String {
    let mut n: u64 = 0;
    loop {
        let nonce = n.to_string();
        let hash = Sha256::new()
            .chain_update(challenge.as_bytes())
            .chain_update(b":")
            .chain_update(nonce.as_bytes())
            .finalize();
        if leading_zero_bits(&hash) >= bits {
            return nonce;
        }
        n += 1;
    }
}

/// What a complaint's emails say.
pub enum Notice<'a> {
    /// To the complainant: received, with its number and due time.
    Received {
        /// Its category.
        category: Category,
        /// When the answer is due, in the office's words.
        due: &'a str,
    },
    /// To the office's front desk and admins: a new complaint.
    New {
        /// Its category.
        category: Category,
        /// Its subject.
        subject: &'a str,
        /// When the answer is due.
        due: &'a str,
    },
    /// To the person it was given to.
    Assigned {
        /// Its subject.
        subject: &'a str,
        /// When the answer is due.
        due: &'a str,
    },
    /// To the complainant: the answer.
    Answer {
        /// Its subject.
        subject: &'a str,
        /// The answer.
        answer: &'a str,
    },
    /// To the office: the due time passed without an answer.
    Overdue {
        /// Its subject.
        subject: &'a str,
        /// When the answer was due.
        due: &'a str,
    },
}

/// The subject and body of complaint `id`'s email.
pub fn notice_text(id: i64, notice: &Notice<'_>) -> (String, String) {
    let footer = "Pesan ini dikirim otomatis oleh ranah.";
    match notice {
        Notice::Received { category, due } => (
            format!("[ranah] Pengaduan nomor {id} diterima"),
            format!(
                "Yth. Bapak/Ibu,\n\nPengaduan Anda telah diterima dengan nomor {id} ({}). \
                 Jawaban akan disampaikan ke alamat email ini selambat-lambatnya {due} \
                 ({} hari kerja). Kerahasiaan identitas pelapor dijamin.\n\n{footer}\n",
                category.title().to_lowercase(),
                category.working_days(),
            ),
        ),
        Notice::New {
            category,
            subject,
            due,
        } => (
            format!("[ranah] Pengaduan baru nomor {id}: {subject}"),
            format!(
                "Yth. Bapak/Ibu,\n\nPengaduan baru nomor {id} ({}) diterima: \"{subject}\". \
                 Jawaban jatuh tempo {due}. Tugaskan penanganannya melalui konsol ranah \
                 (menu Pengaduan).\n\n{footer}\n",
                category.title().to_lowercase()
            ),
        ),
        Notice::Assigned { subject, due } => (
            format!("[ranah] Pengaduan nomor {id} ditugaskan kepada Anda"),
            format!(
                "Yth. Bapak/Ibu,\n\nPengaduan nomor {id} (\"{subject}\") ditugaskan kepada \
                 Anda. Jawaban jatuh tempo {due}.\n\n{footer}\n"
            ),
        ),
        Notice::Answer { subject, answer } => (
            format!("[ranah] Jawaban pengaduan nomor {id}"),
            format!(
                "Yth. Bapak/Ibu,\n\nJawaban atas pengaduan Anda nomor {id} (\"{subject}\"):\n\n\
                 {answer}\n\n{footer}\n"
            ),
        ),
        Notice::Overdue { subject, due } => (
            format!("[ranah] Pengaduan nomor {id} melewati batas waktu"),
            format!(
                "Yth. Bapak/Ibu,\n\nPengaduan nomor {id} (\"{subject}\") belum dijawab dan \
                 telah melewati batas waktu {due}.\n\n{footer}\n"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_standards_time_each_category_in_working_days() {
        let cal = Calendar::default_wita([]);
        // Monday 2 November 2026, 10:00 WITA.
        let received = at("2026-11-02T02:00:00Z");
        // Five working days: Monday 9 November, same time.
        assert_eq!(
            due_at(&cal, received, Category::Light),
            at("2026-11-09T02:00:00Z")
        );
        assert_eq!(
            due_at(&cal, received, Category::Normative),
            at("2026-11-09T02:00:00Z")
        );
        // Fourteen: Friday 20 November.
        assert_eq!(
            due_at(&cal, received, Category::NonSupervisory),
            at("2026-11-20T02:00:00Z")
        );
        // Sixty working days, with a holiday on the way pushing it a day.
        let plain = due_at(&cal, received, Category::Supervisory);
        let with_holiday = due_at(
            &Calendar::default_wita([chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()]),
            received,
            Category::Supervisory,
        );
        assert!(with_holiday > plain);
        assert_eq!(
            cal.working_minutes_between(received, plain),
            60 * 8 * 60 + 12 * 30
        );
    }

    #[test]
    fn a_complaint_goes_received_assigned_answered_closed() {
        use Action::*;
        use Status::*;
        assert_eq!(next(1, Received, Assign), Ok(Assigned));
        assert_eq!(next(1, Assigned, Assign), Ok(Assigned));
        assert_eq!(next(1, Received, Answer), Ok(Answered));
        assert_eq!(next(1, Assigned, Answer), Ok(Answered));
        assert_eq!(next(1, Answered, Close), Ok(Closed));
        for (s, a) in [
            (Answered, Assign),
            (Closed, Assign),
            (Answered, Answer),
            (Closed, Answer),
            (Received, Close),
            (Assigned, Close),
            (Closed, Close),
        ] {
            assert!(next(1, s, a).is_err(), "{s:?} {a:?}");
        }
    }

    #[test]
    fn overdue_is_unanswered_past_due_or_answered_late() {
        let due = at("2026-11-09T02:00:00Z");
        assert!(!overdue(due, None, due));
        assert!(overdue(due, None, due + chrono::Duration::seconds(1)));
        assert!(!overdue(due, Some(due), due + chrono::Duration::days(9)));
        assert!(overdue(due, Some(due + chrono::Duration::minutes(1)), due));
    }

    #[test]
    fn a_submission_is_checked_field_by_field() {
        let good = Submission {
            category: "normative".into(),
            subject: "Situs dinas tidak bisa dibuka".into(),
            body: "Sejak kemarin situs tidak dapat diakses.\nMohon diperiksa.".into(),
            about: Some("dinkes.example.go.id".into()),
            name: "Warga Contoh".into(),
            email: "warga@example.org".into(),
            phone: None,
        };
        assert_eq!(check(&good), Ok(Category::Normative));
        let bad = Submission {
            category: "urgent".into(),
            subject: String::new(),
            body: "x".repeat(MAX_TEXT + 1),
            about: Some(" ".into()),
            name: "a\u{7}b".into(),
            email: "nobody".into(),
            phone: Some("1".repeat(41)),
        };
        let fields: Vec<String> = check(&bad)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "category", "subject", "name", "body", "email", "phone", "about"
            ]
        );
    }

    #[test]
    fn a_proof_of_work_is_checked_against_its_key_time_and_bits() {
        let key = b"office key";
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 1, 0, 0).unwrap();
        let c = challenge(key, [7; 16], now + chrono::Duration::minutes(10));
        let nonce = solve(&c, 12);
        assert_eq!(verify_proof(key, &c, &nonce, 12, now), Ok(()));
        // Another key, another time, another challenge, a nonce that does not solve it.
        assert_eq!(
            verify_proof(b"other", &c, &nonce, 12, now),
            Err(ProofError::Forged)
        );
        assert_eq!(
            verify_proof(key, &c, &nonce, 12, now + chrono::Duration::minutes(11)),
            Err(ProofError::Expired)
        );
        let tampered = c.replacen('.', "0.", 1);
        assert_eq!(
            verify_proof(key, &tampered, &nonce, 12, now),
            Err(ProofError::Forged)
        );
        let unsolved = (0..)
            .map(|n: u32| n.to_string())
            .find(|n| verify_proof(key, &c, n, 12, now).is_err())
            .unwrap();
        assert_eq!(
            verify_proof(key, &c, &unsolved, 12, now),
            Err(ProofError::Unsolved)
        );
        assert_eq!(
            verify_proof(key, &c, "a b", 12, now),
            Err(ProofError::BadNonce)
        );
        assert_eq!(
            verify_proof(key, &c, &"1".repeat(33), 12, now),
            Err(ProofError::BadNonce)
        );
        for junk in ["", ".", "1.2.3", "x.y.zz", &"a".repeat(200)] {
            assert_eq!(
                verify_proof(key, junk, "1", 0, now),
                Err(ProofError::Forged),
                "{junk}"
            );
        }
        assert_eq!(leading_zero_bits(&[0, 0x10, 0xff]), 11);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn the_emails_speak_indonesian_and_name_the_number() {
        let (subject, body) = notice_text(
            12,
            &Notice::Received {
                category: Category::Supervisory,
                due: "26-01-2027 10:00 WITA",
            },
        );
        assert!(subject.contains("12"));
        assert!(body.contains("60 hari kerja"));
        assert!(body.contains("26-01-2027 10:00 WITA"));
    }
}
