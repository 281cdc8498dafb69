//! Emergency suspension of a subdomain (defacement, abuse): an admin takes its records out of
//! the zone at once, with a reason; they stay in the store and come back when it is lifted.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hickory_proto::rr::{LowerName, Name};

use super::requests::ServiceError;
use crate::domain::access::{self, Actor};
use crate::domain::audit::Attribution;
use crate::domain::finding::FindingKind;
use crate::domain::policy::FieldError;
use crate::publish::{ChangeOp, ChangeSet, Publisher};
pub use crate::store::Suspension;
use crate::store::{ChangeMeta, Store};

/// How recent a finding's last sighting must be to suspend its name from it.
const FRESH_HOURS: i64 = 48;

/// Suspensions and their lifting.
pub struct Subdomains {
    store: Store,
    publisher: Arc<Publisher>,
}

fn admin_only(caller: &Actor) -> Result<(), ServiceError> {
    if access::may_manage_zones(caller) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "only an admin suspends or restores a subdomain".into(),
        ))
    }
}

impl Subdomains {
    /// The service over the store and the publisher.
    pub fn new(store: Store, publisher: Arc<Publisher>) -> Self {
        Self { store, publisher }
    }

    /// The zone apex and the absolute name of a subdomain given as text.
    fn locate(&self, name: &str) -> Result<(Name, Name), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("subdomain {name}"));
        let mut owner = Name::from_ascii(name.trim()).map_err(|_| not_found())?;
        owner.set_fqdn(true);
        let owner = owner.to_lowercase();
        let zone = self
            .publisher
            .zones()
            .find(&LowerName::new(&owner))
            .ok_or_else(not_found)?;
        let apex = Name::from(zone.view().origin().clone());
        if apex == owner {
            return Err(not_found());
        }
        Ok((apex, owner))
    }

    /// Suspend a name now: its records leave the zone (DNS answers NXDOMAIN when this
    /// returns) and stay in the store.
    pub async fn suspend(
        &self,
        caller: &Actor,
        name: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Suspension, ServiceError> {
        admin_only(caller)?;
        self.suspend_by(Some(caller.user_id), admin_actor(caller), name, reason, now)
            .await
    }

    /// Suspend a name for `by` (a user's id: who decided; `None`: ranah, under the office's
    /// rules), named in the trail as `actor`: an admin's suspension, ranah's at the end of a
    /// term someone set, or at the end of an unconfirmed name's grace period.
    pub(crate) async fn suspend_by(
        &self,
        by: Option<i64>,
        actor: Attribution,
        name: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Suspension, ServiceError> {
        if reason.trim().is_empty() {
            return Err(ServiceError::Validation(vec![FieldError {
                field: "reason".into(),
                code: "required",
                message: "a suspension needs a reason".into(),
            }]));
        }
        let (apex, owner) = self.locate(name)?;
        let (zone, fqdn) = (apex.to_ascii(), owner.to_ascii());
        if self.store.active_suspension(&zone, &fqdn).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "{fqdn} is suspended already"
            )));
        }
        if self.store.owners_of(&zone, &fqdn).await?.is_empty() {
            return Err(ServiceError::NotFound(format!("subdomain {name}")));
        }
        let id = self
            .store
            .create_suspension(&zone, &fqdn, reason.trim(), by, now)
            .await?;
        let change = ChangeSet {
            zone: apex,
            ops: vec![ChangeOp::RemoveName(owner)],
            meta: ChangeMeta {
                reason: format!("suspended: {}", reason.trim()),
                suspension_id: Some(id),
                actor: Some(actor.clone()),
                ..Default::default()
            },
        };
        if let Err(e) = self.publisher.apply(&change, now).await {
            self.store.discard_suspension(id).await?;
            return Err(e.into());
        }
        tracing::warn!(name = %fqdn, reason = %reason.trim(), by = %actor.name, "subdomain suspended");
        self.store
            .active_suspension(&zone, &fqdn)
            .await?
            .ok_or(ServiceError::NotFound(format!("subdomain {name}")))
    }

    /// Suspend the name of an open, serious finding of the oversight checker in one step,
    /// with the finding as the reason (the zone change's audit entry names it).
    pub async fn suspend_for_finding(
        &self,
        caller: &Actor,
        finding_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Suspension, ServiceError> {
        admin_only(caller)?;
        let finding = self
            .store
            .finding(finding_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("finding {finding_id}")))?;
        let kind = FindingKind::parse(&finding.kind).ok_or_else(|| {
            ServiceError::internal("a stored finding", format!("unknown kind {}", finding.kind))
        })?;
        if finding.resolved_at.is_some() {
            return Err(ServiceError::Conflict(format!(
                "finding {finding_id} is resolved: the check found it clear"
            )));
        }
        // Evidence gone stale (the name left the zone, the check stopped seeing it) is no
        // ground to take a name out today.
        let fresh = crate::domain::time::parse(&finding.last_seen)
            .is_some_and(|seen| now - seen <= chrono::Duration::hours(FRESH_HOURS));
        if !fresh {
            return Err(ServiceError::Conflict(format!(
                "finding {finding_id} was last seen {}: check the name again first",
                finding.last_seen
            )));
        }
        if !kind.serious() {
            return Err(ServiceError::Conflict(format!(
                "finding {finding_id} ({}) is not one that lets the name be taken over: suspend \
                 the name itself if it must go",
                kind.as_str()
            )));
        }
        let reason = format!(
            "temuan #{finding_id} ({}): {}",
            kind.as_str(),
            finding.evidence.chars().take(500).collect::<String>()
        );
        let suspension = self.suspend(caller, &finding.owner, &reason, now).await?;
        self.store
            .finding_suspended(finding_id, suspension.id)
            .await?;
        Ok(suspension)
    }

    /// Lift the suspension of a name: its records come back into the zone.
    pub async fn lift(
        &self,
        caller: &Actor,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Suspension, ServiceError> {
        admin_only(caller)?;
        self.lift_by(Some(caller.user_id), admin_actor(caller), name, now)
            .await
    }

    /// Lift a name's suspension for `by` (a user's id; `None`: ranah, undoing its own), named
    /// in the trail as `actor`: an admin, the agency whose yearly confirmation restores a name
    /// suspended for the lack of it, or ranah.
    pub(crate) async fn lift_by(
        &self,
        by: Option<i64>,
        actor: Attribution,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Suspension, ServiceError> {
        let (apex, owner) = self.locate(name)?;
        let (zone, fqdn) = (apex.to_ascii(), owner.to_ascii());
        let suspension = self
            .store
            .active_suspension(&zone, &fqdn)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("{fqdn} is not suspended")))?;
        let records = self.store.suspended_records(suspension.id).await?;
        let change = ChangeSet {
            zone: apex,
            ops: records.into_iter().map(ChangeOp::Add).collect(),
            meta: ChangeMeta {
                reason: format!("suspension {} lifted", suspension.id),
                actor: Some(actor.clone()),
                ..Default::default()
            },
        };
        self.publisher.apply(&change, now).await?;
        self.store.lift_suspension(suspension.id, by, now).await?;
        tracing::warn!(name = %fqdn, by = %actor.name, "subdomain suspension lifted");
        let all = self.store.suspensions(&zone, &fqdn).await?;
        all.into_iter()
            .find(|s| s.id == suspension.id)
            .ok_or(ServiceError::NotFound(format!("subdomain {name}")))
    }
}

/// The admin acting, for the audit trail.
fn admin_actor(caller: &Actor) -> Attribution {
    Attribution::of(caller).in_role(access::Role::Admin.as_str())
}

/// The same email to the users of every agency that holds `owner` in `zone` (a name's yearly
/// confirmation, its term's notices).
pub(super) async fn mail_holders(
    store: &crate::store::Store,
    zone: &str,
    owner: &str,
    (subject, body): (String, String),
) -> Result<Vec<crate::store::OutboxMessage>, ServiceError> {
    let mut out = Vec::new();
    for agency in store.owners_of(zone, owner).await?.into_iter().flatten() {
        for to in store.agency_emails(agency).await? {
            out.push(crate::store::OutboxMessage::email(
                to,
                subject.clone(),
                body.clone(),
            ));
        }
    }
    Ok(out)
}
