//! Complaints (pengaduan): received from applicants (with their account) or the public (with a
//! proof of work, a limit per address and a daily cap), due in the working days their category
//! allows, given to a member of the office's staff, answered, closed; overdue ones marked once.
//! Each step is audited (without the complainant's identity, which the office keeps
//! confidential) and emailed through the outbox.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::ServiceError;
use super::rate::Limit;
use crate::config::ComplaintSettings;
use crate::domain::access::{self, Actor, Role};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::calendar::Calendar;
use crate::domain::complaint::{self, Action, Category, Notice, Status, Submission};
use crate::domain::policy::FieldError;
use crate::store::{
    ComplaintChange, ComplaintFilter, ComplaintRow, NewComplaint, OutboxMessage, Store,
};

/// The most addresses the limit per address remembers.
const MAX_ADDRESSES: usize = 10_000;
/// The most complaints one list answers.
pub const MAX_PAGE: i64 = 200;

/// A complaint as the API and the console show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintView {
    /// The stored complaint.
    pub row: ComplaintRow,
    /// Its category.
    pub category: Category,
    /// Its status.
    pub status: Status,
    /// Past its due time without an answer (or answered after it).
    pub overdue: bool,
    /// Whether the caller may handle it (give it, answer, close).
    pub may_handle: bool,
}

/// A challenge for the proof of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The challenge text.
    pub challenge: String,
    /// Leading zero bits SHA-256(`challenge:nonce`) must have.
    pub bits: u32,
    /// Until when it is accepted.
    pub expires_at: DateTime<Utc>,
}

/// A proof of work: the challenge and the nonce that solves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The challenge, as given.
    pub challenge: String,
    /// The nonce found.
    pub nonce: String,
}

/// Which complaints a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplaintQuery {
    /// `open` (received or assigned), or one status; none: all.
    pub status: Option<String>,
    /// Only those given to the caller.
    pub mine: bool,
    /// Below this number (paging, newest first).
    pub before: Option<i64>,
    /// At most this many (1 to [`MAX_PAGE`]).
    pub limit: Option<i64>,
}

/// Complaints.
pub struct Complaints {
    store: Store,
    calendar: Arc<Calendar>,
    settings: ComplaintSettings,
    key: Vec<u8>,
    per_address: Limit<IpAddr>,
    /// By user id: bounded by the users the store holds.
    per_account: Limit<i64>,
    notifications: bool,
}

impl Complaints {
    /// The service; due times are counted in `calendar`. Without a configured key, a random
    /// one is made.
    pub fn new(
        store: Store,
        calendar: Arc<Calendar>,
        settings: ComplaintSettings,
    ) -> Result<Self, ServiceError> {
        let key = match &settings.proof_key {
            Some(k) => k.expose().as_bytes().to_vec(),
            None => {
                let mut k = vec![0u8; 32];
                getrandom::fill(&mut k)
                    .map_err(|e| ServiceError::internal("a key for the challenges", e))?;
                k
            }
        };
        let per_address = Limit::per(
            settings.per_address_per_hour,
            Duration::from_secs(3600),
            MAX_ADDRESSES,
        );
        let per_account = Limit::per(
            settings.per_account_per_hour,
            Duration::from_secs(3600),
            usize::MAX,
        );
        Ok(Self {
            store,
            calendar,
            settings,
            key,
            per_address,
            per_account,
            notifications: false,
        })
    }

    /// Email complainants and the office (when an SMTP server is configured).
    pub fn with_notifications(mut self, on: bool) -> Self {
        self.notifications = on;
        self
    }

    /// A challenge for a public complaint.
    pub fn challenge(&self, now: DateTime<Utc>) -> Result<Challenge, ServiceError> {
        if !self.settings.public {
            return Err(closed_to_the_public());
        }
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| ServiceError::internal("a challenge", e))?;
        let secs = i64::try_from(self.settings.challenge_secs).unwrap_or(600);
        let expires_at = now + chrono::Duration::seconds(secs);
        Ok(Challenge {
            challenge: complaint::challenge(&self.key, random, expires_at),
            bits: self.settings.proof_bits,
            expires_at,
        })
    }

    /// Receive a complaint: from `caller`'s account, or from the public at `client` with a
    /// proof of work.
    pub async fn submit(
        &self,
        caller: Option<&Actor>,
        submission: &Submission,
        proof: Option<&Proof>,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<ComplaintView, ServiceError> {
        if let Some(actor) = caller
            && !access::may_complain(actor)
        {
            return Err(ServiceError::Forbidden(
                "an integration's token does not complain; a person does".into(),
            ));
        }
        let category = complaint::check(submission).map_err(ServiceError::Validation)?;
        let spent = match caller {
            Some(actor) => {
                if !self.per_account.take(actor.user_id, Instant::now()) {
                    return Err(ServiceError::TooManyRequests(format!(
                        "at most {} complaints an hour from one account; retry later",
                        self.settings.per_account_per_hour
                    )));
                }
                None
            }
            None => Some(self.admit_public(proof, client, now).await?),
        };
        let due = complaint::due_at(&self.calendar, now, category);
        let trimmed = |s: &str| s.trim().to_owned();
        let new = NewComplaint {
            category: category.as_str().into(),
            subject: trimmed(&submission.subject),
            body: lines(&submission.body),
            about: submission.about.as_deref().map(trimmed),
            name: trimmed(&submission.name),
            email: trimmed(&submission.email),
            phone: submission
                .phone
                .as_deref()
                .map(trimmed)
                .filter(|p| !p.is_empty()),
            submitted_by: caller.map(|a| a.user_id),
            proof: spent,
            received_at: now,
            due_at: due,
        };
        let office = self.office_emails().await?;
        let who = match caller {
            Some(actor) => Attribution::of(actor),
            None => public(),
        };
        let due_text = self.local(due);
        let notifications = self.notifications;
        let id = self
            .store
            .insert_complaint(&new, |id| {
                let mut messages = Vec::new();
                if notifications {
                    messages.push(email(
                        &new.email,
                        complaint::notice_text(
                            id,
                            &Notice::Received {
                                category,
                                due: &due_text,
                            },
                        ),
                    ));
                    let text = complaint::notice_text(
                        id,
                        &Notice::New {
                            category,
                            subject: &new.subject,
                            due: &due_text,
                        },
                    );
                    messages.extend(office.iter().map(|to| email(to, text.clone())));
                }
                let audit = AuditEntry::by(
                    &who,
                    "complaint.receive",
                    format!("complaint/{id}"),
                    serde_json::json!({
                        "id": id,
                        "category": category.as_str(),
                        "origin": if caller.is_some() { "account" } else { "public" },
                        "due_at": crate::domain::time::stamp(due),
                    }),
                );
                (messages, audit)
            })
            .await?
            .ok_or_else(|| proof_refused("the challenge was used before; ask for a new one"))?;
        let row = self.load(id).await?;
        Ok(self.view(row, caller, now))
    }

    /// The checks a public complaint passes, in order of their cost: the proof (one hash),
    /// the limit per address, the daily cap (one count). The challenge to spend.
    async fn admit_public(
        &self,
        proof: Option<&Proof>,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        if !self.settings.public {
            return Err(closed_to_the_public());
        }
        let proof = proof.ok_or_else(|| {
            proof_refused(
                "a complaint without an account carries a proof of work: ask GET \
                 /api/v1/complaints/challenge, then send proof.challenge and proof.nonce",
            )
        })?;
        complaint::verify_proof(
            &self.key,
            &proof.challenge,
            &proof.nonce,
            self.settings.proof_bits,
            now,
        )
        .map_err(|e| proof_refused(&e.to_string()))?;
        let address = client.map(per_network);
        if let Some(a) = address
            && !self.per_address.take(a, Instant::now())
        {
            return Err(ServiceError::TooManyRequests(format!(
                "at most {} complaints an hour from one address; retry later",
                self.settings.per_address_per_hour
            )));
        }
        let day_ago = now - chrono::Duration::days(1);
        if self.store.public_complaints_since(day_ago).await?
            >= i64::from(self.settings.public_per_day)
        {
            tracing::warn!(
                cap = self.settings.public_per_day,
                "complaints: the public's daily cap is reached"
            );
            return Err(ServiceError::TooManyRequests(
                "the office received as many complaints from the public as it takes in a day; \
                 retry tomorrow or sign in"
                    .into(),
            ));
        }
        Ok(proof.challenge.clone())
    }

    /// The complaints the caller may read: every one for the office and auditors, their own
    /// for anyone else; newest first.
    pub async fn list(
        &self,
        caller: &Actor,
        query: &ComplaintQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<ComplaintView>, ServiceError> {
        let limit = query.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ServiceError::InvalidQuery(format!(
                "limit: from 1 to {MAX_PAGE}"
            )));
        }
        let statuses = match query.status.as_deref() {
            None => Vec::new(),
            Some("open") => vec!["received".into(), "assigned".into()],
            Some(s) => match Status::parse(s) {
                Some(s) => vec![s.as_str().into()],
                None => {
                    return Err(ServiceError::InvalidQuery(
                        "status: open, received, assigned, answered or closed".into(),
                    ));
                }
            },
        };
        let filter = ComplaintFilter {
            statuses,
            submitted_by: (!access::may_read_complaints(caller)).then_some(caller.user_id),
            assigned_to: query.mine.then_some(caller.user_id),
            before: query.before,
            limit,
        };
        Ok(self
            .store
            .complaints(&filter)
            .await?
            .into_iter()
            .map(|row| self.view(row, Some(caller), now))
            .collect())
    }

    /// One complaint, for the office, auditors and the account that submitted it.
    pub async fn get(
        &self,
        caller: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<ComplaintView, ServiceError> {
        let row = self.load(id).await?;
        if !access::may_read_complaints(caller) && row.submitted_by != Some(caller.user_id) {
            return Err(not_found(id));
        }
        Ok(self.view(row, Some(caller), now))
    }

    /// Give a complaint to `assignee` (a user who handles complaints), perhaps in another
    /// category: its due time is counted again from receipt.
    pub async fn assign(
        &self,
        caller: &Actor,
        id: i64,
        assignee: &str,
        category: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ComplaintView, ServiceError> {
        let row = self.handled(caller, id).await?;
        let status = stored_status(&row)?;
        let next = complaint::next(id, status, Action::Assign).map_err(conflict)?;
        let category = match category {
            Some(c) => Category::parse(c).ok_or_else(|| {
                ServiceError::Validation(vec![FieldError {
                    field: "category".into(),
                    code: "unknown_category",
                    message: "one of light, normative, non_supervisory, supervisory".into(),
                }])
            })?,
            None => stored_category(&row)?,
        };
        let (to, to_email) = self.handler_named(assignee, now).await?;
        let received = stored_time(&row.received_at)?;
        let due = complaint::due_at(&self.calendar, received, category);
        let due_text = self.local(due);
        let mut messages = Vec::new();
        if self.notifications
            && let Some(to_email) = to_email
        {
            messages.push(email(
                &to_email,
                complaint::notice_text(
                    id,
                    &Notice::Assigned {
                        subject: &row.subject,
                        due: &due_text,
                    },
                ),
            ));
        }
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "complaint.assign",
            format!("complaint/{id}"),
            serde_json::json!({"id": id, "to": assignee, "category": category.as_str(), "due_at": crate::domain::time::stamp(due)}),
        );
        let change = ComplaintChange::Assign {
            to,
            category: category.as_str().into(),
            due_at: due,
        };
        self.step(&row, next, &change, &messages, &audit, now)
            .await?;
        Ok(self.view(self.load(id).await?, Some(caller), now))
    }

    /// Answer a complaint: the answer goes to the complainant. By the one it was given to (or
    /// an admin; anyone who handles complaints while it is given to nobody).
    pub async fn answer(
        &self,
        caller: &Actor,
        id: i64,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<ComplaintView, ServiceError> {
        let row = self.handled(caller, id).await?;
        if !access::may_answer_complaint(caller, row.assigned_to.as_ref().map(|a| a.0)) {
            return Err(ServiceError::Forbidden(format!(
                "complaint {id} is given to {}: they answer it (or an admin)",
                row.assigned_to
                    .as_ref()
                    .map(|a| a.1.as_str())
                    .unwrap_or("someone")
            )));
        }
        let mut errors = Vec::new();
        complaint::check_text("answer", text, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let next = complaint::next(id, stored_status(&row)?, Action::Answer).map_err(conflict)?;
        let due = stored_time(&row.due_at)?;
        let text = lines(text);
        let text = text.as_str();
        let mut messages = Vec::new();
        if self.notifications {
            messages.push(email(
                &row.complainant_email,
                complaint::notice_text(
                    id,
                    &Notice::Answer {
                        subject: &row.subject,
                        answer: text,
                    },
                ),
            ));
        }
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "complaint.answer",
            format!("complaint/{id}"),
            serde_json::json!({"id": id, "within_standard": now <= due}),
        );
        let change = ComplaintChange::Answer {
            text: text.into(),
            by: caller.user_id,
        };
        self.step(&row, next, &change, &messages, &audit, now)
            .await?;
        Ok(self.view(self.load(id).await?, Some(caller), now))
    }

    /// Close an answered complaint.
    pub async fn close(
        &self,
        caller: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<ComplaintView, ServiceError> {
        let row = self.handled(caller, id).await?;
        let next = complaint::next(id, stored_status(&row)?, Action::Close).map_err(conflict)?;
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "complaint.close",
            format!("complaint/{id}"),
            serde_json::json!({"id": id}),
        );
        self.step(&row, next, &ComplaintChange::Close, &[], &audit, now)
            .await?;
        Ok(self.view(self.load(id).await?, Some(caller), now))
    }

    /// Mark the complaints whose due time passed without an answer, once each: audited, and
    /// the office (and the one it was given to) told. How many were marked.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        let overdue = self.store.complaints_overdue(now).await?;
        if overdue.is_empty() {
            return Ok(0);
        }
        let office = self.office_emails().await?;
        let mut marked = 0;
        for row in overdue {
            let due = self.local(stored_time(&row.due_at)?);
            let mut to = office.clone();
            if let Some((user, _)) = &row.assigned_to
                && let Some(e) = self.store.user_email(*user).await?
            {
                to.push(e);
            }
            to.sort();
            to.dedup();
            let messages: Vec<OutboxMessage> = if self.notifications {
                let text = complaint::notice_text(
                    row.id,
                    &Notice::Overdue {
                        subject: &row.subject,
                        due: &due,
                    },
                );
                to.iter().map(|t| email(t, text.clone())).collect()
            } else {
                Vec::new()
            };
            let audit = AuditEntry::by(
                &Attribution::system(),
                "complaint.overdue",
                format!("complaint/{}", row.id),
                serde_json::json!({"id": row.id, "category": row.category, "due_at": row.due_at}),
            );
            if self
                .store
                .mark_complaint_overdue(row.id, &messages, &audit, now)
                .await?
            {
                marked += 1;
            }
        }
        if marked > 0 {
            tracing::warn!(marked, "complaints: past their due time without an answer");
        }
        Ok(marked)
    }

    async fn load(&self, id: i64) -> Result<ComplaintRow, ServiceError> {
        self.store.complaint(id).await?.ok_or_else(|| not_found(id))
    }

    /// A complaint the caller handles.
    async fn handled(&self, caller: &Actor, id: i64) -> Result<ComplaintRow, ServiceError> {
        if !access::may_handle_complaints(caller) {
            return Err(match access::may_read_complaints(caller) {
                true => ServiceError::Forbidden("complaints are handled by the office".into()),
                false => not_found(id),
            });
        }
        self.load(id).await
    }

    async fn step(
        &self,
        row: &ComplaintRow,
        next: Status,
        change: &ComplaintChange,
        messages: &[OutboxMessage],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        if self
            .store
            .complaint_step(
                row.id,
                (&row.status, next.as_str()),
                change,
                messages,
                audit,
                now,
            )
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::Conflict(format!(
                "complaint {} was changed meanwhile; reload it",
                row.id
            )))
        }
    }

    /// The names of the users a complaint may be given to (for the caller who gives them).
    pub async fn handlers(
        &self,
        caller: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, ServiceError> {
        if !access::may_handle_complaints(caller) {
            return Ok(Vec::new());
        }
        let today = now.with_timezone(&self.calendar.time_zone()).date_naive();
        Ok(self
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| {
                !u.disabled
                    && access::may_handle_complaints(&Actor::user(
                        u.id, &u.name, None, &u.grants, today,
                    ))
            })
            .map(|u| u.name)
            .collect())
    }

    /// The user named `name`, who must handle complaints today: their id and email.
    async fn handler_named(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(i64, Option<String>), ServiceError> {
        let refused = |message: &str| {
            ServiceError::Validation(vec![FieldError {
                field: "assignee".into(),
                code: "not_a_handler",
                message: message.into(),
            }])
        };
        let user = self
            .store
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.name == name.trim())
            .ok_or_else(|| refused("no such user"))?;
        let today = now.with_timezone(&self.calendar.time_zone()).date_naive();
        let actor = Actor::user(user.id, &user.name, None, &user.grants, today);
        if user.disabled || !access::may_handle_complaints(&actor) {
            return Err(refused(
                "complaints are given to the office's staff (a role of the office in effect today)",
            ));
        }
        Ok((user.id, user.email.filter(|e| e.contains('@'))))
    }

    /// Who hears of complaints: the front desk and the admins.
    async fn office_emails(&self) -> Result<Vec<String>, ServiceError> {
        if !self.notifications {
            return Ok(Vec::new());
        }
        let today = Utc::now()
            .with_timezone(&self.calendar.time_zone())
            .date_naive();
        let mut out = Vec::new();
        for role in [Role::FrontOffice, Role::Admin] {
            for (email, grants) in self.store.holders_of(role.as_str()).await? {
                if access::holds_on(&grants, role.as_str(), today) && email.contains('@') {
                    out.push(email);
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// An instant in the office's time zone, as emails and pages show it.
    fn local(&self, t: DateTime<Utc>) -> String {
        // chrono-tz names Indonesia's zones as letters do: WIB, WITA, WIT.
        t.with_timezone(&self.calendar.time_zone())
            .format("%d-%m-%Y %H:%M %Z")
            .to_string()
    }

    fn view(&self, row: ComplaintRow, caller: Option<&Actor>, now: DateTime<Utc>) -> ComplaintView {
        let category = Category::parse(&row.category).unwrap_or(Category::Light);
        let status = Status::parse(&row.status).unwrap_or(Status::Received);
        let due = crate::domain::time::parse(&row.due_at).unwrap_or(now);
        let answered = row
            .answered_at
            .as_deref()
            .and_then(crate::domain::time::parse);
        ComplaintView {
            overdue: complaint::overdue(due, answered, now),
            may_handle: caller.is_some_and(access::may_handle_complaints),
            category,
            status,
            row,
        }
    }
}

/// The public in the audit trail: neither a name nor an address (the complainant's identity
/// is confidential; the limits work on the address without keeping it).
fn public() -> Attribution {
    Attribution {
        name: "public".into(),
        role: None,
        client: "public".into(),
    }
}

/// The network a limit per address counts: an IPv4 address, or an IPv6 /64 (what one
/// subscriber is given).
fn per_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

/// A text of lines as stored: trimmed, its line breaks `\n` (a browser sends a form's
/// `\r\n`).
fn lines(text: &str) -> String {
    text.trim().replace("\r\n", "\n")
}

fn email(to: &str, (subject, body): (String, String)) -> OutboxMessage {
    OutboxMessage::email(to, subject, body)
}

fn not_found(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("complaint {id}"))
}

fn conflict(e: complaint::ComplaintError) -> ServiceError {
    ServiceError::Conflict(e.to_string())
}

fn closed_to_the_public() -> ServiceError {
    ServiceError::Forbidden(
        "this office takes complaints from signed-in users only ([complaints] public = false)"
            .into(),
    )
}

fn proof_refused(message: &str) -> ServiceError {
    ServiceError::Validation(vec![FieldError {
        field: "proof".into(),
        code: "invalid_proof",
        message: message.into(),
    }])
}

fn stored_status(row: &ComplaintRow) -> Result<Status, ServiceError> {
    Status::parse(&row.status)
        .ok_or_else(|| ServiceError::internal("a complaint's status", &row.status))
}

fn stored_category(row: &ComplaintRow) -> Result<Category, ServiceError> {
    Category::parse(&row.category)
        .ok_or_else(|| ServiceError::internal("a complaint's category", &row.category))
}

fn stored_time(text: &str) -> Result<DateTime<Utc>, ServiceError> {
    crate::domain::time::parse(text)
        .ok_or_else(|| ServiceError::internal("a complaint's time", text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_an_ipv6_subscriber_as_one() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(per_network(a), per_network(b));
        assert_ne!(per_network(a), per_network(c));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(
            per_network(mapped),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
    }
}
