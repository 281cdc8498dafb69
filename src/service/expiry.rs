//! Names given for a time: the end date set (by an admin) and taken away, and the ending carried out as `domain::expiry` says: notices to the agency
//! 30, 7 and 1 days before, the suspension the day after the last, the removal after the grace
//! period; each step audited.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hickory_proto::rr::{LowerName, Name};

use super::ServiceError;
use super::subdomains::Subdomains;
use crate::domain::access::{self, Actor};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::expiry::{self, Step, Term};
use crate::domain::policy::{self, FieldError};
use crate::publish::Publisher;
use crate::store::{OutboxMessage, Store, TermRow};

/// The terms of names and their ending.
pub struct Expiry {
    store: Store,
    publisher: Arc<Publisher>,
    subdomains: Arc<Subdomains>,
    time_zone: chrono_tz::Tz,
    grace_days: i64,
    notifications: bool,
}

/// What one pass over the terms did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Notices sent.
    pub notices: usize,
    /// Names suspended.
    pub suspended: usize,
    /// Names removed.
    pub removed: usize,
}

impl Expiry {
    /// The service; days are the calendar's (`time_zone`).
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        subdomains: Arc<Subdomains>,
        time_zone: chrono_tz::Tz,
        grace_days: u32,
    ) -> Self {
        Self {
            store,
            publisher,
            subdomains,
            time_zone,
            grace_days: i64::from(grace_days),
            notifications: false,
        }
    }

    /// Email the notices (when an SMTP server is configured).
    pub fn with_notifications(mut self, on: bool) -> Self {
        self.notifications = on;
        self
    }

    fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.time_zone).date_naive()
    }

    /// The zone's apex and the name, absolute, of a subdomain given as text.
    fn locate(&self, name: &str) -> Result<(String, String), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("subdomain {name}"));
        let normal = policy::normal_name(name).map_err(|_| not_found())?;
        let owner = Name::from_ascii(format!("{normal}.")).map_err(|_| not_found())?;
        let zone = self
            .publisher
            .zones()
            .find(&LowerName::new(&owner))
            .ok_or_else(not_found)?;
        let apex = Name::from(zone.view().origin().clone());
        if apex == owner {
            return Err(not_found());
        }
        Ok((apex.to_ascii(), owner.to_ascii()))
    }

    /// Who may set or take away a name's end date: an admin (an end removes the name without
    /// a delete request: the office decides it); the agencies that hold the name.
    async fn may_set(
        &self,
        caller: &Actor,
        zone: &str,
        owner: &str,
        name: &str,
    ) -> Result<Vec<Option<i64>>, ServiceError> {
        if !access::may_manage_zones(caller) {
            return Err(ServiceError::Forbidden(
                "only an admin gives a name an end date".into(),
            ));
        }
        let holders = self.store.owners_of(zone, owner).await?;
        if holders.is_empty() {
            return Err(ServiceError::NotFound(format!("subdomain {name}")));
        }
        Ok(holders)
    }

    /// Set a name's last day (`YYYY-MM-DD`, served until that day ends).
    pub async fn set_end(
        &self,
        caller: &Actor,
        name: &str,
        ends_on: &str,
        now: DateTime<Utc>,
    ) -> Result<TermRow, ServiceError> {
        let (zone, owner) = self.locate(name)?;
        let holders = self.may_set(caller, &zone, &owner, name).await?;
        let invalid = |message: String| {
            ServiceError::Validation(vec![FieldError {
                field: "end_date".into(),
                code: "invalid",
                message,
            }])
        };
        let day = NaiveDate::parse_from_str(ends_on.trim(), "%Y-%m-%d")
            .map_err(|_| invalid("a date written YYYY-MM-DD".into()))?;
        expiry::check_end(day, self.today(now)).map_err(|m| invalid(m.into()))?;
        if self.store.active_suspension(&zone, &owner).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "{} is suspended: lift the suspension before giving it a new end date",
                owner.trim_end_matches('.')
            )));
        }
        let ends_on = day.format("%Y-%m-%d").to_string();
        let shown = owner.trim_end_matches('.').to_owned();
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "subdomain.end_date",
            format!("subdomain/{shown}"),
            serde_json::json!({"name": shown, "end_date": ends_on}),
        );
        let agency = holders.iter().flatten().next().copied();
        self.store
            .set_term(&zone, &owner, &ends_on, agency, caller.user_id, &audit, now)
            .await?;
        self.store
            .term(&owner)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("subdomain {name}")))
    }

    /// Take a name's end date away (before it was removed).
    pub async fn clear_end(
        &self,
        caller: &Actor,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let (zone, owner) = self.locate(name)?;
        self.may_set(caller, &zone, &owner, name).await?;
        let shown = owner.trim_end_matches('.').to_owned();
        if let Some(held) = self.store.term(&owner).await?.and_then(|t| t.suspension_id)
            && self
                .store
                .active_suspension(&zone, &owner)
                .await?
                .is_some_and(|s| s.id == held)
        {
            return Err(ServiceError::Conflict(format!(
                "{shown} is suspended at the end of its term: lift the suspension first"
            )));
        }
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "subdomain.end_date",
            format!("subdomain/{shown}"),
            serde_json::json!({"name": shown, "end_date": null}),
        );
        if self.store.clear_term(&owner, &audit, now).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("end date of {shown}")))
        }
    }

    /// A name's term, if it has one that is not over.
    pub async fn term_of(&self, name: &str) -> Result<Option<TermRow>, ServiceError> {
        let (_, owner) = self.locate(name)?;
        Ok(self
            .store
            .term(&owner)
            .await?
            .filter(|t| t.removed_at.is_none()))
    }

    /// One pass over the terms at `now`: every step due is taken. A name whose step fails is
    /// logged and left for the next pass; the others go on.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Pass, ServiceError> {
        let today = self.today(now);
        let mut pass = Pass::default();
        for term in self.store.live_terms().await? {
            if let Err(e) = self.step(&term, today, now, &mut pass).await {
                tracing::warn!(name = %term.owner, error = %e, "cannot carry out the end of a term");
            }
        }
        Ok(pass)
    }

    /// The step due for one term, if any.
    async fn step(
        &self,
        term: &TermRow,
        today: NaiveDate,
        now: DateTime<Utc>,
        pass: &mut Pass,
    ) -> Result<(), ServiceError> {
        let Ok(ends_on) = NaiveDate::parse_from_str(&term.ends_on, "%Y-%m-%d") else {
            tracing::warn!(name = %term.owner, ends_on = %term.ends_on, "a term's end date cannot be read");
            return Ok(());
        };
        let shown = term.owner.trim_end_matches('.').to_owned();
        let system = Attribution::system();
        let dropped = |why: &str| {
            AuditEntry::by(
                &system,
                "subdomain.end_date",
                format!("subdomain/{shown}"),
                serde_json::json!({"name": shown, "end_date": null, "why": why}),
            )
        };
        // The term was set for the name as its agency held it: a name deleted (and perhaps
        // made again, by another agency) ends nothing. Held out of the zone by the term's own
        // suspension, its records still count.
        let holders = self.store.owners_of(&term.zone, &term.owner).await?;
        if holders.is_empty() {
            self.store
                .drop_term(term, &dropped("the name has no records"), now)
                .await?;
            return Ok(());
        }
        if term.agency_id.is_some() && !holders.iter().all(|a| *a == term.agency_id) {
            self.store
                .drop_term(term, &dropped("the name changed hands"), now)
                .await?;
            return Ok(());
        }
        let state = Term {
            ends_on,
            notified: term.notified.clone(),
            suspended: term.suspension_id.is_some(),
            removed: term.removed_at.is_some(),
        };
        let Some(step) = expiry::due(&state, today, self.grace_days) else {
            return Ok(());
        };
        let messages = self.messages(term, ends_on, step).await?;
        match step {
            Step::Notice(days) => {
                let audit = AuditEntry::by(
                    &system,
                    "subdomain.end_notice",
                    format!("subdomain/{shown}"),
                    serde_json::json!({"name": shown, "end_date": term.ends_on, "days": days}),
                );
                let notified = expiry::sent_with(&term.notified, days);
                if self
                    .store
                    .term_notified(term, &notified, &messages, &audit, now)
                    .await?
                {
                    pass.notices += 1;
                }
            }
            Step::Suspend => {
                let reason = format!("masa berlaku berakhir pada {}", term.ends_on);
                match self
                    .subdomains
                    .suspend_by(Some(term.set_by), system.clone(), &shown, &reason, now)
                    .await
                {
                    Ok(s) => {
                        let audit = AuditEntry::by(
                            &system,
                            "subdomain.end_suspend",
                            format!("subdomain/{shown}"),
                            serde_json::json!({"name": shown, "end_date": term.ends_on, "suspension": s.id}),
                        );
                        if self
                            .store
                            .term_suspended(term, s.id, &messages, &audit, now)
                            .await?
                        {
                            pass.suspended += 1;
                        } else {
                            // The term was set again meanwhile: the suspension is undone.
                            self.subdomains
                                .lift_by(None, system.clone(), &shown, now)
                                .await?;
                        }
                    }
                    // Suspended already (an admin's, or the yearly confirmation's): that
                    // suspension is not the term's to hold; the next pass looks again.
                    Err(ServiceError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Step::Remove => {
                let Some(suspension) = term.suspension_id else {
                    return Ok(());
                };
                let active = self
                    .store
                    .active_suspension(&term.zone, &term.owner)
                    .await?
                    .is_some_and(|s| s.id == suspension);
                if !active {
                    // Lifted by an admin in the grace period: the name stays; the term ends.
                    self.store
                        .drop_term(term, &dropped("the suspension was lifted"), now)
                        .await?;
                    return Ok(());
                }
                let audit = AuditEntry::by(
                    &system,
                    "subdomain.remove",
                    format!("subdomain/{shown}"),
                    serde_json::json!({"name": shown, "end_date": term.ends_on, "grace_days": self.grace_days}),
                );
                // Its certificate goes with it, as with a delete request.
                let certificate = self.store.certificate(&shown).await?;
                let withdrawal = certificate.as_ref().and_then(|c| {
                    let to = crate::domain::certificate::next(
                        Some(c.status),
                        crate::domain::certificate::Transition::Withdraw,
                        c.chain_pem.is_some(),
                    )
                    .ok()?;
                    Some((c.guard(), to))
                });
                let withdraw_audit = AuditEntry::by(
                    &system,
                    "certificate.withdraw",
                    format!("certificate/{shown}"),
                    serde_json::json!({"reason": "name removed at the end of its term"}),
                );
                if self
                    .store
                    .remove_ended(
                        term,
                        suspension,
                        withdrawal.map(|(guard, to)| (shown.as_str(), guard, to, &withdraw_audit)),
                        &messages,
                        &audit,
                        now,
                    )
                    .await?
                {
                    tracing::warn!(name = %shown, "subdomain removed at the end of its term");
                    pass.removed += 1;
                }
            }
        }
        Ok(())
    }

    /// The emails of a step, to the users of the agency that holds the name.
    async fn messages(
        &self,
        term: &TermRow,
        ends_on: NaiveDate,
        step: Step,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
        if !self.notifications {
            return Ok(Vec::new());
        }
        let shown = term.owner.trim_end_matches('.');
        super::subdomains::mail_holders(
            &self.store,
            &term.zone,
            &term.owner,
            expiry::notice_text(shown, ends_on, step, self.grace_days),
        )
        .await
    }
}
