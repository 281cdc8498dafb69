//! Who may do what, in one place: the roles, the roles a user holds on a given day (acting
//! officials, Plt/Plh, hold a role only for a period), the combinations that may not be
//! granted, and one function for each thing an actor may do or see.
//!
//! Every adapter asks here; none compares role names itself. The matrix these functions
//! implement is product.md's "Who uses it" table, stated role by role in the tests below.

use std::fmt;

use chrono::NaiveDate;

use super::workflow::{RoleName, Step, Workflow, WorkflowError};

/// A role. The four fixed roles exist whatever the workflow; every other role is named by a
/// step of the active workflow (`head_of_office`, `technical`, …) and approves at that step.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An agency's officer: submits, revises and withdraws its agency's requests.
    Applicant,
    /// The office's front desk: registers requests on behalf of any agency.
    FrontOffice,
    /// Oversight: reads everything, changes nothing.
    Auditor,
    /// Operations: zones, agencies, users, tokens, suspensions; never approves.
    Admin,
    /// A machine: an office's portal or tool writing records through the Cloudflare-compatible
    /// API, for one agency (with an agency) or for all; nothing else.
    Integration,
    /// A role that acts at a workflow step.
    Step(RoleName),
}

/// Why a role or a set of roles is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// Not a role name at all.
    #[error("`{0}` is not a role name: use lower-case letters, digits and underscores")]
    InvalidRole(String),
    /// A well-formed name that the workflow does not know.
    #[error("unknown role `{role}` for workflow {workflow} (roles: {known})")]
    UnknownRole {
        /// The role given.
        role: String,
        /// The workflow's name.
        workflow: String,
        /// The roles it knows, comma-separated.
        known: String,
    },
    /// Two roles that one person may not hold together.
    #[error("`{0}` and `{1}` may not be held together: {2}")]
    Incompatible(String, String, &'static str),
    /// An applicant without an agency.
    #[error("an applicant belongs to an agency: give --agency CODE")]
    ApplicantWithoutAgency,
    /// A grant's period that cannot be read or ends before it starts.
    #[error("`{0}`: {1}")]
    Period(String, &'static str),
}

impl Role {
    /// The role with this name (`admin`, `head_of_office`, …).
    pub fn parse(name: &str) -> Result<Self, AccessError> {
        Ok(match name {
            "applicant" => Self::Applicant,
            "front_office" => Self::FrontOffice,
            "auditor" => Self::Auditor,
            "admin" => Self::Admin,
            "integration" => Self::Integration,
            other => Self::Step(
                RoleName::parse(other).map_err(|_| AccessError::InvalidRole(other.to_owned()))?,
            ),
        })
    }

    /// The role of a workflow, refusing a name the workflow does not know.
    pub fn known(name: &str, workflow: &Workflow) -> Result<Self, AccessError> {
        let role = Self::parse(name)?;
        if let Self::Step(r) = &role
            && !workflow.steps.iter().any(|s| &s.role == r)
        {
            let known: Vec<String> = workflow.roles().iter().map(|r| r.to_string()).collect();
            return Err(AccessError::UnknownRole {
                role: name.to_owned(),
                workflow: workflow.name.clone(),
                known: known.join(", "),
            });
        }
        Ok(role)
    }

    /// The name used in the API, the store and the command line.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Applicant => "applicant",
            Self::FrontOffice => "front_office",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
            Self::Integration => "integration",
            Self::Step(r) => r.as_str(),
        }
    }

    /// A role of the office's own staff (front desk, approvers, operations): they work on every
    /// agency's requests.
    pub fn is_office(&self) -> bool {
        matches!(self, Self::FrontOffice | Self::Admin | Self::Step(_))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<WorkflowError> for AccessError {
    fn from(e: WorkflowError) -> Self {
        Self::InvalidRole(e.to_string())
    }
}

/// A role granted to a user, optionally only from one day to another (inclusive), in the
/// office's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// First day, if limited.
    pub from: Option<NaiveDate>,
    /// Last day, if limited.
    pub until: Option<NaiveDate>,
}

impl Grant {
    /// A grant without a period.
    pub fn permanent(role: Role) -> Self {
        Self {
            role,
            from: None,
            until: None,
        }
    }

    /// A grant as written on the command line and in the console: `ROLE`, or
    /// `ROLE@FROM..UNTIL` (inclusive dates, YYYY-MM-DD; either may be left out), with a role
    /// the workflow knows.
    pub fn parse(text: &str, workflow: &Workflow) -> Result<Self, AccessError> {
        let text = text.trim();
        let (role, period) = match text.split_once('@') {
            Some((r, p)) => (r, Some(p)),
            None => (text, None),
        };
        let (from, until) = match period {
            None => (None, None),
            Some(p) => {
                let (a, b) = p.split_once("..").ok_or_else(|| {
                    AccessError::Period(text.to_owned(), "write ROLE@YYYY-MM-DD..YYYY-MM-DD")
                })?;
                let date = |d: &str| -> Result<Option<NaiveDate>, AccessError> {
                    if d.is_empty() {
                        return Ok(None);
                    }
                    d.parse().map(Some).map_err(|_| {
                        AccessError::Period(text.to_owned(), "a date is written YYYY-MM-DD")
                    })
                };
                (date(a)?, date(b)?)
            }
        };
        if let (Some(f), Some(u)) = (from, until)
            && u < f
        {
            return Err(AccessError::Period(
                text.to_owned(),
                "the period ends before it starts",
            ));
        }
        Ok(Self {
            role: Role::known(role, workflow)?,
            from,
            until,
        })
    }

    /// As [`Grant::parse`] reads it.
    pub fn text(&self) -> String {
        match (self.from, self.until) {
            (None, None) => self.role.to_string(),
            (f, u) => format!(
                "{}@{}..{}",
                self.role,
                f.map(|d| d.to_string()).unwrap_or_default(),
                u.map(|d| d.to_string()).unwrap_or_default()
            ),
        }
    }

    /// Whether the grant is in effect on `day`.
    pub fn in_effect(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|f| f <= day) && self.until.is_none_or(|u| day <= u)
    }
}

/// Whether `grants` hold the role named `role` on `day`.
pub fn holds_on(grants: &[Grant], role: &str, day: NaiveDate) -> bool {
    grants
        .iter()
        .any(|g| g.role.as_str() == role && g.in_effect(day))
}

/// Refuse roles that one person may not hold together, whatever their periods: an admin never
/// approves (product.md), and an applicant acts for one agency only, so an office role in the
/// same account would let one person both ask and grant.
pub fn check_grants(grants: &[Grant], agency_id: Option<i64>) -> Result<(), AccessError> {
    let roles: Vec<&Role> = grants.iter().map(|g| &g.role).collect();
    for a in &roles {
        for b in &roles {
            if **a == Role::Admin
                && let Role::Step(_) = b
            {
                return Err(AccessError::Incompatible(
                    a.to_string(),
                    b.to_string(),
                    "an admin never approves requests; give the approving role to another account",
                ));
            }
            if **a == Role::Integration && **b != Role::Integration {
                return Err(AccessError::Incompatible(
                    a.to_string(),
                    b.to_string(),
                    "an integration token is a machine's; people's roles need another account",
                ));
            }
            if **a == Role::Applicant && **b != Role::Applicant {
                return Err(AccessError::Incompatible(
                    a.to_string(),
                    b.to_string(),
                    "an applicant acts only for its agency; office work needs another account",
                ));
            }
        }
    }
    if roles.contains(&&Role::Applicant) && agency_id.is_none() {
        return Err(AccessError::ApplicantWithoutAgency);
    }
    Ok(())
}

/// Who acts: a user with the roles in effect at the time of acting, or ranah itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user's id (0 for ranah itself and the command line).
    pub user_id: i64,
    /// The user's name (`system` for ranah itself, `cli` for the command line).
    pub name: String,
    /// The agency an applicant belongs to.
    pub agency_id: Option<i64>,
    /// The roles in effect now.
    pub roles: Vec<Role>,
    /// The address the call came from, for the audit trail.
    pub client: Option<String>,
}

impl Actor {
    /// A user with the grants in effect on `today`.
    pub fn user(
        user_id: i64,
        name: impl Into<String>,
        agency_id: Option<i64>,
        grants: &[Grant],
        today: NaiveDate,
    ) -> Self {
        let mut roles: Vec<Role> = grants
            .iter()
            .filter(|g| g.in_effect(today))
            .map(|g| g.role.clone())
            .collect();
        // By name, as the trail has always named the first of them.
        roles.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        roles.dedup();
        Self {
            user_id,
            name: name.into(),
            agency_id,
            roles,
            client: None,
        }
    }

    /// ranah itself (the sweeper, the certificate worker).
    pub fn system() -> Self {
        Self {
            user_id: 0,
            name: "system".into(),
            agency_id: None,
            roles: Vec::new(),
            client: Some("system".into()),
        }
    }

    /// The command line, run by the operator on the server.
    pub fn cli() -> Self {
        Self {
            user_id: 0,
            name: "cli".into(),
            agency_id: None,
            roles: Vec::new(),
            client: Some("cli".into()),
        }
    }

    /// Whether the actor holds `role` now.
    pub fn has(&self, role: &Role) -> bool {
        self.roles.contains(role)
    }

    /// Whether the actor holds any office role now.
    fn is_office(&self) -> bool {
        self.roles.iter().any(Role::is_office)
    }

    /// Whether the actor is, now, an applicant of `agency`.
    fn applicant_of(&self, agency: Option<i64>) -> bool {
        agency.is_some() && self.agency_id == agency && self.has(&Role::Applicant)
    }
}

/// Which requests (and register entries with their contact details) an actor may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every agency's: the office and auditors.
    All,
    /// One agency's: an applicant.
    Agency(i64),
    /// None: a user with no role in effect (an acting period not begun or ended).
    Nothing,
}

impl Scope {
    /// Whether something of `agency` is in the scope.
    pub fn covers(self, agency: Option<i64>) -> bool {
        match self {
            Self::All => true,
            Self::Agency(a) => agency == Some(a),
            Self::Nothing => false,
        }
    }
}

/// Whether the actor may use the API at all: any role in effect. A user whose only role has
/// ended (or not begun) is refused everything, public reads included.
pub fn may_use_api(actor: &Actor) -> bool {
    !actor.roles.is_empty()
}

/// The requests an actor may list and read, with every field (contacts included).
pub fn request_scope(actor: &Actor) -> Scope {
    if actor.is_office() || actor.has(&Role::Auditor) {
        return Scope::All;
    }
    match actor.agency_id {
        Some(a) if actor.has(&Role::Applicant) => Scope::Agency(a),
        _ => Scope::Nothing,
    }
}

/// Whether the actor may see the contact details of a name owned by `agency` (the register
/// shows names to every role, contacts only to the owning agency and the office).
pub fn may_see_contacts(actor: &Actor, agency: Option<i64>) -> bool {
    request_scope(actor).covers(agency)
}

/// Whether the actor may filter a list by agency (the office and auditors; an applicant sees
/// its own agency only, so the filter is not theirs to give).
pub fn may_filter_by_agency(actor: &Actor) -> bool {
    request_scope(actor) == Scope::All
}

/// An agency a caller names, in a body (`agency`) or a list's filter (`?agency=`), as the
/// store found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// None named.
    Nothing,
    /// A code no agency has.
    Unknown,
    /// That agency.
    Agency(i64),
}

/// For which agency the actor submits: an applicant for its own (naming it is allowed, naming
/// any other, or a code that is no agency, is refused: an applicant never learns which codes
/// exist); the front office for the agency it names (required). `Err` says why not.
pub fn submission_agency(actor: &Actor, named: Named) -> Result<i64, Refusal> {
    if actor.has(&Role::FrontOffice) {
        return match named {
            Named::Agency(a) => Ok(a),
            Named::Nothing => Err(Refusal::AgencyRequired),
            Named::Unknown => Err(Refusal::UnknownAgency),
        };
    }
    if actor.has(&Role::Applicant) {
        let own = actor.agency_id.ok_or(Refusal::NoAgency)?;
        return match named {
            Named::Nothing => Ok(own),
            Named::Agency(a) if a == own => Ok(own),
            Named::Agency(_) | Named::Unknown => Err(Refusal::NotYourAgency),
        };
    }
    Err(Refusal::Forbidden(
        "only applicants and the front office submit requests",
    ))
}

/// Which agency's requests a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgencyFilter {
    /// Every agency's.
    All,
    /// One agency's.
    Agency(i64),
    /// None (an agency that does not exist, or a caller with no scope).
    Nothing,
}

/// The agency filter of a list: the office and auditors filter by any agency; an applicant
/// sees its own agency's requests, may name it, and is refused for naming another (or a code
/// that is no agency).
pub fn agency_filter(actor: &Actor, named: Named) -> Result<AgencyFilter, Refusal> {
    match (request_scope(actor), named) {
        (Scope::Nothing, _) => Ok(AgencyFilter::Nothing),
        (Scope::Agency(own), Named::Nothing) => Ok(AgencyFilter::Agency(own)),
        (Scope::Agency(own), Named::Agency(a)) if a == own => Ok(AgencyFilter::Agency(own)),
        (Scope::Agency(_), _) => Err(Refusal::NotYourAgency),
        (Scope::All, Named::Nothing) => Ok(AgencyFilter::All),
        (Scope::All, Named::Agency(a)) => Ok(AgencyFilter::Agency(a)),
        (Scope::All, Named::Unknown) => Ok(AgencyFilter::Nothing),
    }
}

/// Why a submission or a filter is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The front office must name the agency.
    AgencyRequired,
    /// The front office named a code that is no agency.
    UnknownAgency,
    /// An applicant named an agency other than its own.
    NotYourAgency,
    /// An applicant with no agency (an account made before agencies were required).
    NoAgency,
    /// Not the actor's to do.
    Forbidden(&'static str),
}

/// Whether the actor may act at a step whose role is `step_role`: they hold it now, and are not
/// an admin (an admin never approves, even with a role granted before that was refused).
pub fn may_act_on_step(actor: &Actor, step_role: &RoleName) -> bool {
    !actor.has(&Role::Admin) && actor.has(&Role::Step(step_role.clone()))
}

/// Whether the actor may act at `step` on a request of `agency`: at the office's steps, who
/// holds the step's role (never an admin); at the applicant's own step (signing the handover
/// minutes), only an applicant of that agency: not the front office, not anyone of the office.
pub fn may_act_at(actor: &Actor, step: &Step, agency: i64) -> bool {
    if step.by_applicant() {
        !actor.has(&Role::Admin) && actor.applicant_of(Some(agency))
    } else {
        may_act_on_step(actor, &step.role)
    }
}

/// Whether the actor's inbox holds requests at `step`: whoever may act at it for some request
/// (an applicant sees its own agency's).
pub fn acts_at(actor: &Actor, step: &Step) -> bool {
    if step.by_applicant() {
        !actor.has(&Role::Admin) && actor.has(&Role::Applicant) && actor.agency_id.is_some()
    } else {
        may_act_on_step(actor, &step.role)
    }
}

/// Whether the actor may resubmit or withdraw a request of `agency`: its applicants, or the
/// front office when it registered the request.
pub fn may_act_for_agency(actor: &Actor, agency: i64, registered_by_front_office: bool) -> bool {
    actor.applicant_of(Some(agency))
        || (actor.has(&Role::FrontOffice) && registered_by_front_office)
}

/// Whether the actor may attach files to a request of `agency`: its applicants and the front
/// office (which scans letters that arrive on paper).
pub fn may_attach(actor: &Actor, agency: i64) -> bool {
    actor.applicant_of(Some(agency)) || actor.has(&Role::FrontOffice)
}

/// Whether the actor may order a certificate for a name owned by `agency`: its applicants, or
/// an admin.
pub fn may_order_certificate(actor: &Actor, agency: Option<i64>) -> bool {
    actor.has(&Role::Admin) || actor.applicant_of(agency)
}

/// Whether the actor may download the managed private key of a name owned by `agency`: only
/// its applicants (not even an admin: the key is the agency's).
pub fn may_download_key(actor: &Actor, agency: Option<i64>) -> bool {
    actor.applicant_of(agency)
}

/// Whether the actor may read the monthly service report: approvers, admins and auditors.
pub fn may_read_reports(actor: &Actor) -> bool {
    actor
        .roles
        .iter()
        .any(|r| matches!(r, Role::Step(_) | Role::Admin | Role::Auditor))
}

/// Whether the actor may look after a name held by `holders` (the agencies of its records):
/// set or take away its end date, confirm it each year. An admin, or an applicant of the one
/// agency that holds it.
pub fn may_look_after_name(actor: &Actor, holders: &[Option<i64>]) -> bool {
    let holds = actor.has(&Role::Applicant)
        && actor.agency_id.is_some()
        && !holders.is_empty()
        && holders.iter().all(|a| *a == actor.agency_id);
    may_manage_zones(actor) || holds
}

/// Whether the actor may have a name checked on demand (the oversight checker): the office's
/// staff.
pub fn may_run_checks(actor: &Actor) -> bool {
    actor.roles.iter().any(Role::is_office)
}

/// Whether the actor may submit a complaint with its account (the public submits one with a
/// proof of work): anyone but a machine.
pub fn may_complain(actor: &Actor) -> bool {
    !actor.roles.is_empty() && actor.roles.iter().any(|r| !matches!(r, Role::Integration))
}

/// Whether the actor may handle complaints: give them to someone, answer and close them. The
/// office's staff (the standards' "pejabat pengelola pengaduan" is one of them).
pub fn may_handle_complaints(actor: &Actor) -> bool {
    actor.roles.iter().any(Role::is_office)
}

/// Whether the actor may answer a complaint given to `assigned` (a user's id): the one it was
/// given to, or an admin; while it is given to nobody, anyone who handles complaints.
pub fn may_answer_complaint(actor: &Actor, assigned: Option<i64>) -> bool {
    may_handle_complaints(actor)
        && (assigned.is_none_or(|u| u == actor.user_id) || actor.has(&Role::Admin))
}

/// Whether the actor may read every complaint: those who handle them, and auditors. Anyone
/// else reads only the complaints they submitted.
pub fn may_read_complaints(actor: &Actor) -> bool {
    may_handle_complaints(actor) || actor.has(&Role::Auditor)
}

/// Whether the actor may read and verify the audit trail: auditors and admins.
pub fn may_read_audit(actor: &Actor) -> bool {
    actor.has(&Role::Auditor) || actor.has(&Role::Admin)
}

/// Whether the actor may administer people: users, their roles and passwords, tokens.
pub fn may_administer_people(actor: &Actor) -> bool {
    actor.has(&Role::Admin)
}

/// For whom an integration writes through the Cloudflare-compatible API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Every agency's names (a token of the office's own portal).
    All,
    /// One agency's names, and new names that become the agency's.
    Agency(i64),
}

/// The binding of an integration, when the actor is one now.
pub fn integration_binding(actor: &Actor) -> Option<Binding> {
    actor
        .has(&Role::Integration)
        .then_some(match actor.agency_id {
            Some(agency) => Binding::Agency(agency),
            None => Binding::All,
        })
}

/// Whether the actor may manage zones: export them, suspend and restore names.
pub fn may_manage_zones(actor: &Actor) -> bool {
    actor.has(&Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> Role {
        Role::parse(name).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const OWN: i64 = 10;
    const OTHER: i64 = 11;

    fn actor(roles: &[&str], agency: Option<i64>) -> Actor {
        let grants: Vec<Grant> = roles.iter().map(|r| Grant::permanent(role(r))).collect();
        Actor::user(1, "x", agency, &grants, day("2026-12-02"))
    }

    /// product.md's matrix, role by role: what each may do and see. Columns: use the API,
    /// scope of requests, contacts of its own agency's name / another's, submit, act at the
    /// `head_of_office` step, attach to its own agency's request, order a certificate for its
    /// own agency's name / another's, download its own agency's key, reports, audit, zones.
    #[test]
    fn the_role_matrix() {
        type Row = (
            &'static [&'static str],
            Option<i64>,
            bool,
            Scope,
            [bool; 2],
            bool,
            bool,
            bool,
            [bool; 2],
            bool,
            bool,
            bool,
            bool,
        );
        let head = RoleName::parse("head_of_office").unwrap();
        #[rustfmt::skip]
        let rows: [Row; 8] = [
            // roles, agency, api, scope, contacts, submit, step, attach, order, key, reports, audit, zones
            (&["applicant"], Some(OWN), true, Scope::Agency(OWN), [true, false], true, false, true, [true, false], true, false, false, false),
            (&["front_office"], None, true, Scope::All, [true, true], true, false, true, [false, false], false, false, false, false),
            (&["head_of_office"], None, true, Scope::All, [true, true], false, true, false, [false, false], false, true, false, false),
            (&["technical"], None, true, Scope::All, [true, true], false, false, false, [false, false], false, true, false, false),
            (&["auditor"], None, true, Scope::All, [true, true], false, false, false, [false, false], false, true, true, false),
            (&["admin"], None, true, Scope::All, [true, true], false, false, false, [true, true], false, true, true, true),
            // An admin holding an approving role granted before that was refused still never approves.
            (&["admin", "head_of_office"], None, true, Scope::All, [true, true], false, false, false, [true, true], false, true, true, true),
            // No role in effect: nothing at all.
            (&[], Some(OWN), false, Scope::Nothing, [false, false], false, false, false, [false, false], false, false, false, false),
        ];
        for (
            roles,
            agency,
            api,
            scope,
            contacts,
            submit,
            step,
            attach,
            order,
            key,
            reports,
            audit,
            zones,
        ) in rows
        {
            let a = actor(roles, agency);
            let what = format!("{roles:?}");
            assert_eq!(may_use_api(&a), api, "api {what}");
            assert_eq!(request_scope(&a), scope, "scope {what}");
            assert_eq!(
                [
                    may_see_contacts(&a, Some(OWN)),
                    may_see_contacts(&a, Some(OTHER))
                ],
                contacts,
                "contacts {what}"
            );
            assert_eq!(
                submission_agency(&a, Named::Agency(OWN)).is_ok(),
                submit,
                "submit {what}"
            );
            assert_eq!(may_act_on_step(&a, &head), step, "step {what}");
            assert_eq!(may_attach(&a, OWN), attach, "attach {what}");
            assert_eq!(
                [
                    may_order_certificate(&a, Some(OWN)),
                    may_order_certificate(&a, Some(OTHER))
                ],
                order,
                "order {what}"
            );
            assert_eq!(may_download_key(&a, Some(OWN)), key, "key {what}");
            assert!(!may_download_key(&a, Some(OTHER)), "another's key {what}");
            assert_eq!(may_read_reports(&a), reports, "reports {what}");
            assert_eq!(may_read_audit(&a), audit, "audit {what}");
            assert_eq!(may_manage_zones(&a), zones, "zones {what}");
            assert!(
                !may_act_for_agency(&a, OTHER, false),
                "another agency's request {what}"
            );
        }
    }

    #[test]
    fn an_applicant_submits_for_its_own_agency_and_the_front_office_names_one() {
        let andi = actor(&["applicant"], Some(OWN));
        assert_eq!(submission_agency(&andi, Named::Nothing), Ok(OWN));
        assert_eq!(submission_agency(&andi, Named::Agency(OWN)), Ok(OWN));
        // Naming another agency, or a code that is none, is refused (never silently ignored).
        assert_eq!(
            submission_agency(&andi, Named::Agency(OTHER)),
            Err(Refusal::NotYourAgency)
        );
        assert_eq!(
            submission_agency(&andi, Named::Unknown),
            Err(Refusal::NotYourAgency)
        );
        let desk = actor(&["front_office"], None);
        assert_eq!(submission_agency(&desk, Named::Agency(OTHER)), Ok(OTHER));
        assert_eq!(
            submission_agency(&desk, Named::Nothing),
            Err(Refusal::AgencyRequired)
        );
        assert_eq!(
            submission_agency(&desk, Named::Unknown),
            Err(Refusal::UnknownAgency)
        );
        let orphan = actor(&["applicant"], None);
        assert_eq!(
            submission_agency(&orphan, Named::Nothing),
            Err(Refusal::NoAgency)
        );
        // The front office resubmits and withdraws only what it registered.
        assert!(may_act_for_agency(&desk, OTHER, true));
        assert!(!may_act_for_agency(&desk, OTHER, false));
        assert!(may_act_for_agency(&andi, OWN, false));
    }

    #[test]
    fn list_filters_by_agency() {
        let andi = actor(&["applicant"], Some(OWN));
        assert_eq!(
            agency_filter(&andi, Named::Nothing),
            Ok(AgencyFilter::Agency(OWN))
        );
        assert_eq!(
            agency_filter(&andi, Named::Agency(OWN)),
            Ok(AgencyFilter::Agency(OWN))
        );
        assert_eq!(
            agency_filter(&andi, Named::Agency(OTHER)),
            Err(Refusal::NotYourAgency)
        );
        assert_eq!(
            agency_filter(&andi, Named::Unknown),
            Err(Refusal::NotYourAgency)
        );
        let desk = actor(&["front_office"], None);
        assert_eq!(agency_filter(&desk, Named::Nothing), Ok(AgencyFilter::All));
        assert_eq!(
            agency_filter(&desk, Named::Agency(OTHER)),
            Ok(AgencyFilter::Agency(OTHER))
        );
        assert_eq!(
            agency_filter(&desk, Named::Unknown),
            Ok(AgencyFilter::Nothing)
        );
        let auditor = actor(&["auditor"], None);
        assert_eq!(
            agency_filter(&auditor, Named::Agency(OWN)),
            Ok(AgencyFilter::Agency(OWN))
        );
    }

    #[test]
    fn acting_periods_before_during_and_after() {
        let plt = [Grant {
            role: role("head_of_office"),
            from: Some(day("2026-12-01")),
            until: Some(day("2026-12-31")),
        }];
        let head = RoleName::parse("head_of_office").unwrap();
        for (today, in_effect) in [
            ("2026-11-30", false),
            ("2026-12-01", true),
            ("2026-12-31", true),
            ("2027-01-01", false),
        ] {
            let a = Actor::user(2, "plt", None, &plt, day(today));
            assert_eq!(may_use_api(&a), in_effect, "{today}");
            assert_eq!(may_act_on_step(&a, &head), in_effect, "{today}");
            let scope = if in_effect {
                Scope::All
            } else {
                Scope::Nothing
            };
            assert_eq!(request_scope(&a), scope, "{today}");
            assert_eq!(may_see_contacts(&a, Some(OWN)), in_effect, "{today}");
        }
        // An applicant whose acting office role ended keeps only the agency's scope.
        let mixed = [
            Grant::permanent(role("applicant")),
            Grant {
                role: role("front_office"),
                from: None,
                until: Some(day("2026-11-30")),
            },
        ];
        let a = Actor::user(3, "x", Some(OWN), &mixed, day("2026-12-02"));
        assert_eq!(request_scope(&a), Scope::Agency(OWN));
    }

    #[test]
    fn refused_combinations() {
        let g = |names: &[&str]| -> Vec<Grant> {
            names.iter().map(|r| Grant::permanent(role(r))).collect()
        };
        for (roles, agency, ok) in [
            (&["admin", "head_of_office"][..], None, false),
            (&["technical", "admin"][..], None, false),
            (&["applicant", "front_office"][..], Some(OWN), false),
            (&["applicant", "head_of_division"][..], Some(OWN), false),
            (&["applicant", "admin"][..], Some(OWN), false),
            (&["applicant", "auditor"][..], Some(OWN), false),
            (&["applicant"][..], None, false),
            (&["applicant"][..], Some(OWN), true),
            (&["admin", "auditor"][..], None, true),
            (&["integration", "admin"][..], None, false),
            (&["integration", "applicant"][..], Some(OWN), false),
            (&["auditor", "integration"][..], None, false),
            (&["integration"][..], Some(OWN), true),
            (&["integration"][..], None, true),
            (&["head_of_office", "head_of_division"][..], None, true),
            (&["front_office", "technical"][..], None, true),
        ] {
            assert_eq!(check_grants(&g(roles), agency).is_ok(), ok, "{roles:?}");
        }
        let e = check_grants(&g(&["admin", "head_of_office"]), None).unwrap_err();
        assert!(e.to_string().contains("never approves"), "{e}");
    }

    #[test]
    fn an_integration_is_bound_to_its_agency_or_to_all_and_sees_no_requests() {
        let grants = [Grant::permanent(role("integration"))];
        let bound = Actor::user(5, "portal", Some(OWN), &grants, day("2026-12-02"));
        let office = Actor::user(6, "portal-all", None, &grants, day("2026-12-02"));
        assert_eq!(integration_binding(&bound), Some(Binding::Agency(OWN)));
        assert_eq!(integration_binding(&office), Some(Binding::All));
        for a in [&bound, &office] {
            assert!(may_use_api(a));
            assert_eq!(request_scope(a), Scope::Nothing);
            assert!(!may_read_audit(a) && !may_manage_zones(a) && !may_read_reports(a));
            assert!(submission_agency(a, Named::Nothing).is_err());
        }
        let applicant = Actor::user(
            7,
            "andi",
            Some(OWN),
            &[Grant::permanent(role("applicant"))],
            day("2026-12-02"),
        );
        assert_eq!(integration_binding(&applicant), None);
        assert_eq!(role("integration").as_str(), "integration");
    }

    #[test]
    fn complaints_are_handled_by_the_office_read_by_auditors_sent_by_people() {
        // (roles, agency, complain, handle, read every one)
        type Row = (&'static [&'static str], Option<i64>, bool, bool, bool);
        let rows: [Row; 6] = [
            (&["applicant"], Some(OWN), true, false, false),
            (&["front_office"], None, true, true, true),
            (&["technical"], None, true, true, true),
            (&["admin"], None, true, true, true),
            (&["auditor"], None, true, false, true),
            (&["integration"], Some(OWN), false, false, false),
        ];
        for (roles, agency, complain, handle, read) in rows {
            let a = actor(roles, agency);
            assert_eq!(may_complain(&a), complain, "{roles:?}");
            assert_eq!(may_handle_complaints(&a), handle, "{roles:?}");
            assert_eq!(may_read_complaints(&a), read, "{roles:?}");
        }
        // An answer is the assignee's (user 1 here), or an admin's.
        let technical = actor(&["technical"], None);
        assert!(may_answer_complaint(&technical, None));
        assert!(may_answer_complaint(&technical, Some(1)));
        assert!(!may_answer_complaint(&technical, Some(2)));
        assert!(may_answer_complaint(&actor(&["admin"], None), Some(2)));
        assert!(!may_answer_complaint(&actor(&["auditor"], None), None));
    }

    #[test]
    fn role_names() {
        assert_eq!(role("admin"), Role::Admin);
        assert_eq!(role("technical").as_str(), "technical");
        assert!(Role::parse("Kepala Dinas").is_err());
        let kaltara = Workflow::preset("kaltara").unwrap();
        assert!(Role::known("technical", &kaltara).is_ok());
        assert!(Role::known("auditor", &kaltara).is_ok());
        let e = Role::known("staff", &kaltara).unwrap_err();
        assert!(e.to_string().contains("unknown role `staff`"), "{e}");
    }
}
