//! The yearly confirmation of each name: the agency that holds it confirms that it is still in
//! use, who answers for it and what it is for; reminders before the due day, the mark when it
//! passes, the suspension after the grace period (lifted by the confirmation); each step
//! audited. A name no longer in use is retired with a delete request, from the same screen.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hickory_proto::rr::{LowerName, Name, RecordType};

use super::ServiceError;
use super::requests::Contact;
use super::subdomains::Subdomains;
use crate::config::ConfirmationSettings;
use crate::domain::access::{self, Actor};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::confirmation::{self, Standing, Step};
use crate::domain::policy::{self, FieldError};
use crate::publish::Publisher;
use crate::store::{ConfirmationRow, OutboxMessage, Store};

/// A name's confirmation as the API and the console show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationView {
    /// The name, without the final dot.
    pub name: String,
    /// The holding agency's code.
    pub agency: Option<String>,
    /// The last day to confirm.
    pub due_on: String,
    /// `awaiting` (never confirmed, the first due day ahead), `confirmed` (the due day is
    /// ahead), `due` (within 30 days: reminders are going out), `unconfirmed` (the due day
    /// passed), `suspended` (for the lack of it).
    pub state: &'static str,
    /// When last confirmed.
    pub confirmed_at: Option<String>,
    /// The person responsible, as last said.
    pub contact: Option<serde_json::Value>,
    /// What the name is for, as last said.
    pub purpose: Option<String>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Names whose confirmation began.
    pub tracked: usize,
    /// Reminders sent.
    pub reminders: usize,
    /// Names marked unconfirmed.
    pub marked: usize,
    /// Names suspended.
    pub suspended: usize,
}

/// The yearly confirmation.
pub struct Confirmations {
    store: Store,
    publisher: Arc<Publisher>,
    subdomains: Arc<Subdomains>,
    settings: ConfirmationSettings,
    time_zone: chrono_tz::Tz,
    notifications: bool,
}

impl Confirmations {
    /// The service; days are the calendar's (`time_zone`).
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        subdomains: Arc<Subdomains>,
        settings: ConfirmationSettings,
        time_zone: chrono_tz::Tz,
    ) -> Self {
        Self {
            store,
            publisher,
            subdomains,
            settings,
            time_zone,
            notifications: false,
        }
    }

    /// Email the reminders (when an SMTP server is configured).
    pub fn with_notifications(mut self, on: bool) -> Self {
        self.notifications = on;
        self
    }

    fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.time_zone).date_naive()
    }

    fn days(&self, n: u32) -> i64 {
        i64::from(n)
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

    /// The state a row is in on `today`.
    fn state(&self, row: &ConfirmationRow, today: NaiveDate, suspended: bool) -> &'static str {
        let due = NaiveDate::parse_from_str(&row.due_on, "%Y-%m-%d").unwrap_or(today);
        if suspended {
            "suspended"
        } else if row.marked_at.is_some() || today > due {
            "unconfirmed"
        } else if (due - today).num_days() < crate::domain::expiry::NOTICE_DAYS[0] {
            "due"
        } else if row.confirmed_at.is_some() {
            "confirmed"
        } else {
            "awaiting"
        }
    }

    /// Confirm a name: in use, this person answers for it, this is what it is for. By an
    /// applicant of the agency that holds it (or an admin). A name suspended for the lack of
    /// a confirmation is restored.
    pub async fn confirm(
        &self,
        caller: &Actor,
        name: &str,
        contact: &Contact,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfirmationView, ServiceError> {
        let (zone, owner) = self.locate(name)?;
        let holders = self.store.owners_of(&zone, &owner).await?;
        if holders.is_empty() {
            return Err(ServiceError::NotFound(format!("subdomain {name}")));
        }
        if !access::may_look_after_name(caller, &holders) {
            return Err(ServiceError::Forbidden(
                "only the agency that holds the name (or an admin) confirms it".into(),
            ));
        }
        confirmation::check_statement(
            &contact.name,
            &contact.email,
            contact.phone.as_deref().unwrap_or(""),
            purpose,
        )
        .map_err(|(field, message)| {
            ServiceError::Validation(vec![FieldError {
                field: field.into(),
                code: "invalid",
                message: message.into(),
            }])
        })?;
        let shown = owner.trim_end_matches('.').to_owned();
        // Restored first: a confirmation of a name still suspended would leave it out.
        // Only the suspension this confirmation's lack made is lifted: an admin's (abuse, an
        // emergency) or the end of a term stays.
        let row = self.store.confirmation(&owner).await?;
        if let Some(id) = row.as_ref().and_then(|r| r.suspension_id)
            && let Some(active) = self.store.active_suspension(&zone, &owner).await?
            && active.id == id
            && active.suspended_by.is_none()
        {
            self.subdomains
                .lift_by(Some(caller.user_id), Attribution::of(caller), &shown, now)
                .await?;
        }
        let today = self.today(now);
        let next = confirmation::next_due(today, self.days(self.settings.every_days));
        let contact = serde_json::json!({
            "name": contact.name.trim(),
            "email": contact.email.trim(),
            "phone": contact.phone.as_deref().map(str::trim),
        });
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "subdomain.confirm",
            format!("subdomain/{shown}"),
            serde_json::json!({"name": shown, "contact": contact, "purpose": purpose.trim(), "next_due": next.to_string()}),
        );
        self.store
            .confirm_name(
                &zone,
                &owner,
                holders.iter().flatten().next().copied(),
                caller.user_id,
                &contact,
                purpose.trim(),
                (&today.to_string(), &next.to_string()),
                &audit,
                now,
            )
            .await?;
        let row = self
            .store
            .confirmation(&owner)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("subdomain {name}")))?;
        let agency = self.agency_codes(&holders).await?;
        Ok(self.view(&row, agency, today, false))
    }

    async fn agency_codes(&self, holders: &[Option<i64>]) -> Result<Option<String>, ServiceError> {
        let Some(id) = holders.iter().flatten().next() else {
            return Ok(None);
        };
        Ok(self.store.agency_by_id(*id).await?.map(|a| a.code))
    }

    fn view(
        &self,
        row: &ConfirmationRow,
        agency: Option<String>,
        today: NaiveDate,
        suspended: bool,
    ) -> ConfirmationView {
        ConfirmationView {
            name: row.owner.trim_end_matches('.').to_owned(),
            agency,
            due_on: row.due_on.clone(),
            state: self.state(row, today, suspended),
            confirmed_at: row.confirmed_at.clone(),
            contact: row.contact.clone(),
            purpose: row.purpose.clone(),
        }
    }

    /// The names the caller looks after or oversees, with their confirmation: an applicant's
    /// agency's names; every name for the office's roles and auditors.
    pub async fn list(
        &self,
        caller: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConfirmationView>, ServiceError> {
        let today = self.today(now);
        let names = self.names().await?;
        let codes: HashMap<i64, String> = self
            .store
            .agencies()
            .await?
            .into_iter()
            .map(|a| (a.id, a.code))
            .collect();
        let mut out = Vec::new();
        for row in self.store.confirmations().await? {
            let Some(held) = names.get(&row.owner) else {
                continue;
            };
            if !access::may_see_contacts(caller, held.agency) {
                continue;
            }
            let suspended = row.suspension_id.is_some() && held.suspended;
            out.push(self.view(
                &row,
                held.agency.and_then(|a| codes.get(&a).cloned()),
                today,
                suspended,
            ));
        }
        Ok(out)
    }

    /// A name's confirmation, for the register's entry of it.
    pub async fn of(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConfirmationView>, ServiceError> {
        let (zone, owner) = self.locate(name)?;
        let Some(row) = self.store.confirmation(&owner).await? else {
            return Ok(None);
        };
        let suspended = match row.suspension_id {
            Some(id) => self
                .store
                .active_suspension(&zone, &owner)
                .await?
                .is_some_and(|s| s.id == id),
            None => false,
        };
        Ok(Some(self.view(&row, None, self.today(now), suspended)))
    }

    /// Every name of an agency's (below an apex, with records, not ranah's own): its agency,
    /// when it was made, whether it is suspended.
    async fn names(&self) -> Result<BTreeMap<String, Held>, ServiceError> {
        let mut out: BTreeMap<String, Held> = BTreeMap::new();
        for r in self.store.record_rows(None).await? {
            let own = policy::own_record(&r.zone, &r.owner, &RecordType::from(r.rtype).to_string());
            // Service names (`_dmarc`, `_sip._tcp`) and wildcards belong to a host: the host
            // is what its agency confirms.
            let first = r.owner.split('.').next().unwrap_or_default();
            if r.owner == r.zone || own.is_some() || first.starts_with('_') || first == "*" {
                continue;
            }
            let held = out.entry(r.owner.clone()).or_insert_with(|| Held {
                zone: r.zone.clone(),
                agency: None,
                created: r.created_at.clone(),
                suspended: false,
            });
            held.agency = held.agency.or(r.agency_id);
            held.suspended |= r.suspension_id.is_some();
            if r.created_at < held.created {
                held.created = r.created_at.clone();
            }
        }
        // A name no agency holds is confirmed by nobody (the office's own names, names
        // imported and not assigned yet): it is not tracked, never suspended. Nor glue below a
        // delegation: the child is the delegated party's.
        out.retain(|owner, held| held.agency.is_some() && !self.below_a_cut(owner));
        Ok(out)
    }

    /// Whether `owner` lies below a delegation in its zone (glue).
    fn below_a_cut(&self, owner: &str) -> bool {
        let Ok(name) = Name::from_ascii(owner) else {
            return false;
        };
        let lower = LowerName::new(&name);
        let Some(zone) = self.publisher.zones().find(&lower) else {
            return false;
        };
        let key = crate::zone::name_key::key_of(&lower);
        zone.view()
            .delegation_of(&key)
            .is_some_and(|cut| cut != &key[..])
    }

    /// One pass at `now`: names not tracked yet begin (a name that changed hands begins
    /// again); every step due is taken. A name whose step fails is logged and left for the next
    /// pass.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Pass, ServiceError> {
        let today = self.today(now);
        let mut pass = Pass::default();
        let names = self.names().await?;
        let rows = self.store.confirmations().await?;
        let gone: Vec<String> = rows
            .iter()
            .filter(|r| {
                names
                    .get(&r.owner)
                    .is_none_or(|held| r.agency_id.is_some() && held.agency != r.agency_id)
            })
            .map(|r| r.owner.clone())
            .collect();
        if !gone.is_empty() {
            self.store.forget_confirmations(&gone).await?;
        }
        let rows: Vec<ConfirmationRow> = rows
            .into_iter()
            .filter(|r| !gone.contains(&r.owner))
            .collect();
        let tracked: std::collections::HashSet<&str> =
            rows.iter().map(|r| r.owner.as_str()).collect();
        let every = self.days(self.settings.every_days);
        let notice = self.days(self.settings.notice_days);
        let new: Vec<(String, String, i64, String)> = names
            .iter()
            .filter(|(owner, _)| !tracked.contains(owner.as_str()))
            .filter_map(|(owner, held)| {
                let created = crate::domain::time::parse(&held.created)
                    .map(|t| t.with_timezone(&self.time_zone).date_naive())
                    .unwrap_or(today);
                let due = confirmation::first_due(created, today, every, notice);
                Some((
                    held.zone.clone(),
                    owner.clone(),
                    held.agency?,
                    due.to_string(),
                ))
            })
            .collect();
        if !new.is_empty() {
            pass.tracked = self
                .store
                .track_confirmations(&new, &today.to_string())
                .await?;
        }
        for row in &rows {
            if let Err(e) = self.step(row, today, now, &mut pass).await {
                tracing::warn!(name = %row.owner, error = %e, "cannot carry out a name's yearly confirmation");
            }
        }
        Ok(pass)
    }

    /// The step due for one name, if any.
    async fn step(
        &self,
        row: &ConfirmationRow,
        today: NaiveDate,
        now: DateTime<Utc>,
        pass: &mut Pass,
    ) -> Result<(), ServiceError> {
        let Ok(due_on) = NaiveDate::parse_from_str(&row.due_on, "%Y-%m-%d") else {
            return Ok(());
        };
        let shown = row.owner.trim_end_matches('.').to_owned();
        let system = Attribution::system();
        // The suspension this step made, lifted by an admin: the agency gets a new notice
        // period rather than the name going down again at the next pass.
        if let Some(held) = row.suspension_id {
            let active = self
                .store
                .active_suspension(&row.zone, &row.owner)
                .await?
                .is_some_and(|s| s.id == held);
            if !active {
                let due = today + chrono::Duration::days(self.days(self.settings.notice_days));
                let audit = AuditEntry::by(
                    &system,
                    "subdomain.confirmation_restart",
                    format!("subdomain/{shown}"),
                    serde_json::json!({"name": shown, "due_on": due.to_string(), "why": "the suspension was lifted"}),
                );
                self.store
                    .restart_confirmation(row, &due.to_string(), &audit, now)
                    .await?;
                return Ok(());
            }
        }
        let standing = Standing {
            due_on,
            reminded: row.reminded.clone(),
            marked: row.marked_at.is_some(),
            suspended: row.suspension_id.is_some(),
        };
        let Some(step) = confirmation::due(&standing, today, self.days(self.settings.grace_days))
        else {
            return Ok(());
        };
        let messages = self.messages(row, due_on, step).await?;
        let (action, reminded, marked) = match step {
            Step::Remind(days) => (
                "subdomain.confirmation_reminder",
                confirmation::reminded_with(&row.reminded, days),
                false,
            ),
            Step::Mark => ("subdomain.unconfirmed", row.reminded.clone(), true),
            Step::Suspend => ("subdomain.unconfirmed_suspend", row.reminded.clone(), true),
        };
        let mut suspension = None;
        if step == Step::Suspend {
            let reason = format!("tidak dikonfirmasi sejak {}", row.due_on);
            match self
                .subdomains
                .suspend_by(None, system.clone(), &shown, &reason, now)
                .await
            {
                Ok(s) => suspension = Some(s.id),
                // Suspended already (an admin's, or at the end of a term): not this step's to
                // hold; the next pass looks again.
                Err(ServiceError::Conflict(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let audit = AuditEntry::by(
            &system,
            action,
            format!("subdomain/{shown}"),
            serde_json::json!({"name": shown, "due_on": row.due_on, "step": format!("{step:?}")}),
        );
        let done = self
            .store
            .confirmation_step(row, &reminded, marked, suspension, &messages, &audit, now)
            .await?;
        if done {
            match step {
                Step::Remind(_) => pass.reminders += 1,
                Step::Mark => pass.marked += 1,
                Step::Suspend => pass.suspended += 1,
            }
        } else if suspension.is_some() {
            // Confirmed meanwhile (or another pass took the step): the suspension is undone.
            self.subdomains
                .lift_by(None, system.clone(), &shown, now)
                .await?;
        }
        Ok(())
    }

    /// A step's emails, to the users of the agency that holds the name.
    async fn messages(
        &self,
        row: &ConfirmationRow,
        due_on: NaiveDate,
        step: Step,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
        if !self.notifications {
            return Ok(Vec::new());
        }
        let shown = row.owner.trim_end_matches('.');
        super::subdomains::mail_holders(
            &self.store,
            &row.zone,
            &row.owner,
            confirmation::notice_text(shown, due_on, step, self.days(self.settings.grace_days)),
        )
        .await
    }
}

/// A name as the confirmation sees it.
struct Held {
    zone: String,
    agency: Option<i64>,
    created: String,
    suspended: bool,
}
