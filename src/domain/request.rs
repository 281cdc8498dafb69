//! The life of a subdomain request: `decide` what a command by an actor at a time means, as
//! events, and `apply` events to the request. Pure: the caller loads the request, passes the
//! actor (with the roles they hold at that moment) and the time, stores the events and the new
//! state in one transaction, guarded by the request's `version`.

use chrono::{DateTime, Utc};

pub use super::access::Actor;
use super::access::{self, Role};
use super::calendar::Calendar;
use super::workflow::{Effect, Workflow};

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new subdomain.
    Create,
    /// Replace the record set of an existing subdomain.
    Change,
    /// Remove a subdomain.
    Delete,
}

impl Kind {
    /// The kind of this API name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Create, Self::Change, Self::Delete]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Change => "change",
            Self::Delete => "delete",
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// At a step, waiting for its role.
    InReview,
    /// Sent back to the applicant; returns to the same step when resubmitted.
    Returned,
    /// Every step approved.
    Completed,
    /// Rejected at a step (final).
    Rejected,
    /// Withdrawn by the applicant or automatically (final).
    Withdrawn,
}

impl Status {
    /// Completed, rejected and withdrawn requests are final.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Rejected | Self::Withdrawn)
    }

    /// The status with this API name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::InReview,
            Self::Returned,
            Self::Completed,
            Self::Rejected,
            Self::Withdrawn,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InReview => "in_review",
            Self::Returned => "returned",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// A request as the workflow sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What it asks for.
    pub kind: Kind,
    /// The agency it is for.
    pub agency_id: i64,
    /// The user who submitted it (an applicant, or the front office on the agency's behalf).
    pub submitted_by: i64,
    /// Whether the front office registered it.
    pub registered_by_front_office: bool,
    /// Where it stands.
    pub status: Status,
    /// Index of the current step (or the step it was returned from); `None` when finished.
    pub step: Option<usize>,
    /// When the current step's clock started.
    pub step_started_at: DateTime<Utc>,
    /// When it was returned, while returned.
    pub returned_at: Option<DateTime<Utc>>,
    /// Whether the request letter is attached.
    pub letter_attached: bool,
    /// Incremented by every event: the store's guard against concurrent changes.
    pub version: u32,
}

/// An action on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Approve the current step.
    Approve {
        /// Optional note.
        note: Option<String>,
    },
    /// Send back to the applicant.
    Return {
        /// Required note.
        note: String,
        /// Required reason code.
        reason: String,
    },
    /// Refuse (final).
    Reject {
        /// Required note.
        note: String,
        /// Required reason code.
        reason: String,
    },
    /// Send a returned request back to its step.
    Resubmit,
    /// Withdraw an open request.
    Withdraw,
    /// Withdraw a request left returned too long (the system acts).
    AutoWithdraw,
}

/// What happened (past tense): stored append-only as the request's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step was approved; `effect` is what the approval must do (in the same transaction for
    /// `Provision`); `next` is the next step, `None` when this completes the request.
    Approved {
        /// The step approved.
        step: usize,
        /// By whom.
        by: i64,
        /// Note.
        note: Option<String>,
        /// The step's effect.
        effect: Option<Effect>,
        /// The next step.
        next: Option<usize>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Sent back to the applicant.
    Returned {
        /// The step that returned it.
        step: usize,
        /// By whom.
        by: i64,
        /// Note.
        note: String,
        /// Reason code.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Refused.
    Rejected {
        /// The step that rejected it.
        step: usize,
        /// By whom.
        by: i64,
        /// Note.
        note: String,
        /// Reason code.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Back to the step that returned it; its clock restarts.
    Resubmitted {
        /// The step.
        step: usize,
        /// By whom.
        by: i64,
        /// When.
        at: DateTime<Utc>,
    },
    /// Withdrawn.
    Withdrawn {
        /// By whom; `None` when automatic.
        by: Option<i64>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a command is refused. Each maps to one HTTP problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The actor does not hold the current step's role (403 `not_your_step`).
    #[error("step `{step}` is acted on by the role `{role}`")]
    NotYourStep {
        /// The step's id.
        step: String,
        /// Its role.
        role: String,
    },
    /// The request's state does not allow the command (409 `invalid_state`).
    #[error("the request is {0} and cannot be acted on that way")]
    InvalidState(&'static str),
    /// The request has moved on past the actor's step while they acted: another holder of
    /// the role approved it first (409 `invalid_state`, as the contract gives the loser of two
    /// simultaneous approvals).
    #[error("the request has already moved on to step `{step}`; reload it")]
    MovedOn {
        /// The step it is at now, or its state when it is no longer in review.
        step: String,
    },
    /// Approving what one submitted or registered (403 `own_request`).
    #[error("nobody approves a request they submitted or registered")]
    OwnRequest,
    /// The first approval needs the request letter (409 `letter_required`).
    #[error("the request letter must be attached before the first approval")]
    LetterRequired,
    /// Return and reject need a note (422 `validation_failed`).
    #[error("a note is required")]
    NoteRequired,
    /// Unknown reason code (422 `validation_failed`).
    #[error("unknown reason code `{0}`")]
    UnknownReason(String),
    /// Only the request's agency (or the front office that registered it) may do this (403
    /// `forbidden`).
    #[error("only the requesting agency may do this")]
    NotTheApplicant,
    /// The returned request is not yet due for automatic withdrawal.
    #[error("the request is not yet due for automatic withdrawal")]
    NotDue,
    /// At the applicant's own step (signing the handover minutes) there is nothing to return
    /// or reject: the agency approves, or withdraws the request (409 `invalid_state`).
    #[error("step `{0}` is the requesting agency's own: approve it, or withdraw the request")]
    ApplicantStep(String),
}

/// A new request at the first step.
pub fn submit(
    kind: Kind,
    agency_id: i64,
    by: &Actor,
    letter_attached: bool,
    now: DateTime<Utc>,
) -> Request {
    submit_at(kind, agency_id, by, letter_attached, 0, now)
}

/// A new request entering the workflow at `step` ([`Workflow::entry_step`]): one an
/// integration opens, whose earlier steps were done elsewhere. The letter is asked for only by
/// the first step's approval, so a request entering later goes on without one.
pub fn submit_at(
    kind: Kind,
    agency_id: i64,
    by: &Actor,
    letter_attached: bool,
    step: usize,
    now: DateTime<Utc>,
) -> Request {
    Request {
        kind,
        agency_id,
        submitted_by: by.user_id,
        registered_by_front_office: by.has(&Role::FrontOffice) && by.agency_id != Some(agency_id),
        status: Status::InReview,
        step: Some(step),
        step_started_at: now,
        returned_at: None,
        letter_attached,
        version: 0,
    }
}

fn may_act_for_agency(req: &Request, actor: &Actor) -> bool {
    access::may_act_for_agency(actor, req.agency_id, req.registered_by_front_office)
}

/// Decide what `cmd` by `actor` at `now` means for `req`.
pub fn decide(
    req: &Request,
    cmd: &Command,
    actor: &Actor,
    workflow: &Workflow,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    if req.status.is_final() {
        return Err(DomainError::InvalidState(req.status.as_str()));
    }
    match cmd {
        Command::Approve { .. } | Command::Return { .. } | Command::Reject { .. } => {
            let (index, step) = match (req.status, req.step) {
                (Status::InReview, Some(i)) => match workflow.steps.get(i) {
                    Some(s) => (i, s),
                    None => return Err(DomainError::InvalidState(req.status.as_str())),
                },
                _ => return Err(DomainError::InvalidState(req.status.as_str())),
            };
            if !access::may_act_at(actor, step, req.agency_id) {
                // An approver whose own step the request has already passed meets a state
                // that moved on (a second click, or the loser of two simultaneous
                // approvals): a conflict with the state, not a lack of permission.
                let passed = workflow.steps[..index]
                    .iter()
                    .any(|s| access::may_act_at(actor, s, req.agency_id));
                if passed {
                    return Err(DomainError::MovedOn {
                        step: step.id.clone(),
                    });
                }
                return Err(DomainError::NotYourStep {
                    step: step.id.clone(),
                    role: step.role.to_string(),
                });
            }
            match cmd {
                Command::Approve { note } => {
                    // Separation of duties holds at every step of the office; at the agency's
                    // own step the agency signs what it asked for.
                    if actor.user_id == req.submitted_by && !step.by_applicant() {
                        return Err(DomainError::OwnRequest);
                    }
                    if index == 0 && !req.letter_attached {
                        return Err(DomainError::LetterRequired);
                    }
                    let next = (index + 1 < workflow.steps.len()).then_some(index + 1);
                    Ok(vec![Event::Approved {
                        step: index,
                        by: actor.user_id,
                        note: note.clone().filter(|n| !n.trim().is_empty()),
                        effect: step.effect,
                        next,
                        at: now,
                    }])
                }
                Command::Return { note, reason } | Command::Reject { note, reason } => {
                    if step.by_applicant() {
                        return Err(DomainError::ApplicantStep(step.id.clone()));
                    }
                    if note.trim().is_empty() {
                        return Err(DomainError::NoteRequired);
                    }
                    if !workflow.reason_codes.iter().any(|r| r == reason) {
                        return Err(DomainError::UnknownReason(reason.clone()));
                    }
                    let (note, reason) = (note.trim().to_owned(), reason.clone());
                    Ok(vec![if matches!(cmd, Command::Return { .. }) {
                        Event::Returned {
                            step: index,
                            by: actor.user_id,
                            note,
                            reason,
                            at: now,
                        }
                    } else {
                        Event::Rejected {
                            step: index,
                            by: actor.user_id,
                            note,
                            reason,
                            at: now,
                        }
                    }])
                }
                _ => Err(DomainError::InvalidState(req.status.as_str())),
            }
        }
        Command::Resubmit => {
            if req.status != Status::Returned {
                return Err(DomainError::InvalidState(req.status.as_str()));
            }
            if !may_act_for_agency(req, actor) {
                return Err(DomainError::NotTheApplicant);
            }
            let step = req
                .step
                .ok_or(DomainError::InvalidState(req.status.as_str()))?;
            Ok(vec![Event::Resubmitted {
                step,
                by: actor.user_id,
                at: now,
            }])
        }
        Command::Withdraw => {
            if !may_act_for_agency(req, actor) {
                return Err(DomainError::NotTheApplicant);
            }
            Ok(vec![Event::Withdrawn {
                by: Some(actor.user_id),
                at: now,
            }])
        }
        Command::AutoWithdraw => {
            let returned_at = match (req.status, req.returned_at) {
                (Status::Returned, Some(t)) => t,
                _ => return Err(DomainError::InvalidState(req.status.as_str())),
            };
            let due = calendar.add_working_days(returned_at, workflow.auto_withdraw_after_days);
            if now < due {
                return Err(DomainError::NotDue);
            }
            Ok(vec![Event::Withdrawn { by: None, at: now }])
        }
    }
}

/// Apply an event (one that `decide` returned for this request).
pub fn apply(req: &mut Request, event: &Event) {
    match event {
        Event::Approved { next, at, .. } => match next {
            Some(n) => {
                req.step = Some(*n);
                req.step_started_at = *at;
            }
            None => {
                req.status = Status::Completed;
                req.step = None;
            }
        },
        Event::Returned { at, .. } => {
            req.status = Status::Returned;
            req.returned_at = Some(*at);
        }
        Event::Rejected { .. } => {
            req.status = Status::Rejected;
            req.step = None;
        }
        Event::Resubmitted { at, .. } => {
            req.status = Status::InReview;
            req.step_started_at = *at;
            req.returned_at = None;
        }
        Event::Withdrawn { .. } => {
            req.status = Status::Withdrawn;
            req.step = None;
            req.returned_at = None;
        }
    }
    req.version += 1;
}

/// When the current step's time standard runs out (`None` unless in review).
pub fn due_at(req: &Request, workflow: &Workflow, calendar: &Calendar) -> Option<DateTime<Utc>> {
    if req.status != Status::InReview {
        return None;
    }
    let step = workflow.steps.get(req.step?)?;
    Some(calendar.deadline(req.step_started_at, step.standard))
}

/// Whether the current step is past its time standard at `now`.
pub fn is_overdue(
    req: &Request,
    workflow: &Workflow,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> bool {
    due_at(req, workflow, calendar).is_some_and(|due| now > due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn actor(id: i64, roles: &[&str], agency: Option<i64>) -> Actor {
        let grants: Vec<access::Grant> = roles
            .iter()
            .map(|r| access::Grant::permanent(Role::parse(r).unwrap()))
            .collect();
        Actor::user(id, format!("user{id}"), agency, &grants, now().date_naive())
    }

    fn now() -> DateTime<Utc> {
        // Monday 2026-11-23 10:00 WITA.
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
    }

    fn setup() -> (Workflow, Calendar, Request) {
        let wf = Workflow::preset("kaltara").unwrap();
        let cal = Calendar::default_wita([]);
        let applicant = actor(1, &["applicant"], Some(10));
        (wf, cal, submit(Kind::Create, 10, &applicant, true, now()))
    }

    fn run(
        req: &mut Request,
        cmd: Command,
        who: &Actor,
        wf: &Workflow,
        cal: &Calendar,
    ) -> Result<Vec<Event>, DomainError> {
        let events = decide(req, &cmd, who, wf, cal, now())?;
        for e in &events {
            apply(req, e);
        }
        Ok(events)
    }

    fn approve() -> Command {
        Command::Approve { note: None }
    }

    #[test]
    fn the_kaltara_chain_end_to_end() {
        let (wf, cal, mut req) = setup();
        let head = actor(2, &["head_of_office"], None);
        let division = actor(3, &["head_of_division"], None);
        let tech = actor(4, &["technical"], None);
        let mut effects = Vec::new();
        for who in [&head, &division, &tech, &head] {
            let events = run(&mut req, approve(), who, &wf, &cal).unwrap();
            if let Event::Approved { effect, .. } = &events[0] {
                effects.push(*effect);
            }
        }
        assert_eq!(
            effects,
            vec![None, None, Some(Effect::Provision), Some(Effect::Notify)]
        );
        assert_eq!(req.status, Status::Completed);
        assert_eq!(req.step, None);
        assert_eq!(req.version, 4);
        // Finished is final.
        assert_eq!(
            run(&mut req, approve(), &head, &wf, &cal),
            Err(DomainError::InvalidState("completed"))
        );
    }

    #[test]
    fn a_second_approval_of_a_step_already_passed_is_a_state_conflict() {
        let (wf, cal, mut req) = setup();
        let head = actor(2, &["head_of_office"], None);
        let other_head = actor(3, &["head_of_office"], None);
        let staff = actor(4, &["sub_coordinator"], None);
        run(&mut req, approve(), &head, &wf, &cal).unwrap();
        // The other holder of the role approved the same step a moment later: the request
        // is at the next step now, which is theirs no more.
        assert_eq!(
            run(&mut req, approve(), &other_head, &wf, &cal),
            Err(DomainError::MovedOn {
                step: wf.steps[1].id.clone()
            })
        );
        // Someone whose step lies ahead is still refused for want of the role.
        assert!(matches!(
            run(&mut req, approve(), &staff, &wf, &cal),
            Err(DomainError::NotYourStep { .. })
        ));
    }

    #[test]
    fn table_of_refusals() {
        let (wf, cal, req) = setup();
        let applicant = actor(1, &["applicant"], Some(10));
        let other_agency = actor(9, &["applicant"], Some(11));
        let head = actor(2, &["head_of_office"], None);
        let admin = actor(5, &["admin"], None);
        let auditor = actor(6, &["auditor"], None);
        let tech = actor(4, &["technical"], None);
        let ret = |note: &str, reason: &str| Command::Return {
            note: note.into(),
            reason: reason.into(),
        };
        let cases: Vec<(&str, Command, &Actor, DomainError)> = vec![
            (
                "admin never approves",
                approve(),
                &admin,
                DomainError::NotYourStep {
                    step: "disposition".into(),
                    role: "head_of_office".into(),
                },
            ),
            (
                "auditor changes nothing",
                approve(),
                &auditor,
                DomainError::NotYourStep {
                    step: "disposition".into(),
                    role: "head_of_office".into(),
                },
            ),
            (
                "no skipping: technical cannot act at disposition",
                approve(),
                &tech,
                DomainError::NotYourStep {
                    step: "disposition".into(),
                    role: "head_of_office".into(),
                },
            ),
            (
                "return needs a note",
                ret(" ", "other"),
                &head,
                DomainError::NoteRequired,
            ),
            (
                "return needs a known reason",
                ret("x", "bogus"),
                &head,
                DomainError::UnknownReason("bogus".into()),
            ),
            (
                "resubmit only when returned",
                Command::Resubmit,
                &applicant,
                DomainError::InvalidState("in_review"),
            ),
            (
                "withdraw only by the agency",
                Command::Withdraw,
                &other_agency,
                DomainError::NotTheApplicant,
            ),
            (
                "auto-withdraw only when returned",
                Command::AutoWithdraw,
                &applicant,
                DomainError::InvalidState("in_review"),
            ),
        ];
        for (why, cmd, who, expected) in cases {
            assert_eq!(
                decide(&req, &cmd, who, &wf, &cal, now()),
                Err(expected),
                "{why}"
            );
        }
    }

    #[test]
    fn the_jember_chain_with_the_applicant_signing_its_own_step() {
        let wf = Workflow::preset("jember").unwrap();
        let cal = Calendar::default_wita([]);
        let submitter = actor(1, &["applicant"], Some(10));
        let colleague = actor(7, &["applicant"], Some(10));
        let stranger = actor(8, &["applicant"], Some(11));
        let desk = actor(9, &["front_office"], None);
        let section = actor(2, &["network_section"], None);
        let server = actor(3, &["server_admin"], None);
        let head = actor(4, &["head_of_office"], None);
        let mut req = submit(Kind::Create, 10, &submitter, true, now());
        // The applicant acts at no office step.
        assert!(matches!(
            run(&mut req, approve(), &submitter, &wf, &cal),
            Err(DomainError::NotYourStep { .. })
        ));
        for who in [&section, &server, &server, &head] {
            run(&mut req, approve(), who, &wf, &cal).unwrap();
        }
        assert_eq!(wf.steps[req.step.unwrap()].id, "applicant_signature");
        // The agency's own step: no one of the office signs for it (not the head of office,
        // not the front office), nor another agency; there is nothing to return or reject.
        for who in [&head, &server, &desk, &stranger] {
            assert!(
                matches!(
                    run(&mut req, approve(), who, &wf, &cal),
                    Err(DomainError::NotYourStep { .. } | DomainError::MovedOn { .. })
                ),
                "{}",
                who.name
            );
        }
        let refuse = Command::Return {
            note: "belum".into(),
            reason: "other".into(),
        };
        assert_eq!(
            run(&mut req, refuse, &colleague, &wf, &cal),
            Err(DomainError::ApplicantStep("applicant_signature".into()))
        );
        // The one who submitted signs what the agency asked for.
        run(&mut req, approve(), &submitter, &wf, &cal).unwrap();
        assert_eq!(wf.steps[req.step.unwrap()].id, "handover");
        // And still approves no step of the office.
        assert!(run(&mut req, approve(), &submitter, &wf, &cal).is_err());
        run(&mut req, approve(), &server, &wf, &cal).unwrap();
        assert_eq!(req.status, Status::Completed);
    }

    #[test]
    fn nobody_approves_their_own_request() {
        let (wf, cal, _) = setup();
        // A head of office who also submitted (as front office, on an agency's behalf).
        let both = actor(2, &["head_of_office", "front_office"], None);
        let req = submit(Kind::Create, 10, &both, true, now());
        assert!(req.registered_by_front_office);
        assert_eq!(
            decide(&req, &approve(), &both, &wf, &cal, now()),
            Err(DomainError::OwnRequest)
        );
    }

    #[test]
    fn the_letter_is_required_before_the_first_approval() {
        let (wf, cal, _) = setup();
        let applicant = actor(1, &["applicant"], Some(10));
        let req = submit(Kind::Create, 10, &applicant, false, now());
        let head = actor(2, &["head_of_office"], None);
        assert_eq!(
            decide(&req, &approve(), &head, &wf, &cal, now()),
            Err(DomainError::LetterRequired)
        );
    }

    #[test]
    fn a_request_entering_later_needs_no_letter_and_only_that_steps_role() {
        let (wf, cal, _) = setup();
        let portal = actor(5, &["integration"], Some(10));
        let step = wf.entry_step(Some("technical_review")).unwrap();
        let mut req = submit_at(Kind::Create, 10, &portal, false, step, now());
        assert_eq!(req.step, Some(2));
        let head = actor(2, &["head_of_office"], None);
        let division = actor(3, &["head_of_division"], None);
        assert!(matches!(
            decide(&req, &approve(), &division, &wf, &cal, now()),
            Err(DomainError::MovedOn { .. })
        ));
        assert!(matches!(
            decide(&req, &approve(), &head, &wf, &cal, now()),
            Err(DomainError::MovedOn { .. })
        ));
        let tech = actor(4, &["technical"], None);
        let events = run(&mut req, approve(), &tech, &wf, &cal).unwrap();
        assert!(matches!(
            events[0],
            Event::Approved {
                step: 2,
                effect: Some(Effect::Provision),
                next: Some(3),
                ..
            }
        ));
        run(&mut req, approve(), &head, &wf, &cal).unwrap();
        assert_eq!(req.status, Status::Completed);
        // Entering at the first step, the letter is asked for as always.
        let first = submit_at(Kind::Create, 10, &portal, false, 0, now());
        assert_eq!(
            decide(&first, &approve(), &head, &wf, &cal, now()),
            Err(DomainError::LetterRequired)
        );
    }

    #[test]
    fn return_then_resubmit_goes_back_to_the_same_step_with_a_new_clock() {
        let (wf, cal, mut req) = setup();
        let applicant = actor(1, &["applicant"], Some(10));
        let head = actor(2, &["head_of_office"], None);
        let division = actor(3, &["head_of_division"], None);
        run(&mut req, approve(), &head, &wf, &cal).unwrap();
        let events = run(
            &mut req,
            Command::Return {
                note: "Lengkapi surat rekomendasi".into(),
                reason: "no_recommendation".into(),
            },
            &division,
            &wf,
            &cal,
        )
        .unwrap();
        assert!(matches!(events[0], Event::Returned { step: 1, .. }));
        assert_eq!(req.status, Status::Returned);
        assert_eq!(due_at(&req, &wf, &cal), None);
        // The step cannot act while returned.
        assert_eq!(
            decide(&req, &approve(), &division, &wf, &cal, now()),
            Err(DomainError::InvalidState("returned"))
        );
        let later = now() + chrono::Duration::days(2);
        let events = decide(&req, &Command::Resubmit, &applicant, &wf, &cal, later).unwrap();
        apply(&mut req, &events[0]);
        assert_eq!((req.status, req.step), (Status::InReview, Some(1)));
        assert_eq!(req.step_started_at, later);
        // One working day from Wednesday 10:00 WITA.
        assert_eq!(
            due_at(&req, &wf, &cal),
            Some(cal.deadline(later, crate::domain::calendar::TimeStandard::WorkingDays(1)))
        );
    }

    #[test]
    fn reject_is_final() {
        let (wf, cal, mut req) = setup();
        let head = actor(2, &["head_of_office"], None);
        run(
            &mut req,
            Command::Reject {
                note: "Nama tidak sesuai".into(),
                reason: "name_policy".into(),
            },
            &head,
            &wf,
            &cal,
        )
        .unwrap();
        assert_eq!(req.status, Status::Rejected);
        let applicant = actor(1, &["applicant"], Some(10));
        assert_eq!(
            run(&mut req, Command::Withdraw, &applicant, &wf, &cal),
            Err(DomainError::InvalidState("rejected"))
        );
    }

    #[test]
    fn automatic_withdrawal_after_the_configured_working_days() {
        let (wf, cal, mut req) = setup();
        let head = actor(2, &["head_of_office"], None);
        run(
            &mut req,
            Command::Return {
                note: "x".into(),
                reason: "other".into(),
            },
            &head,
            &wf,
            &cal,
        )
        .unwrap();
        let system = actor(0, &[], None);
        let early = now() + chrono::Duration::days(10);
        assert_eq!(
            decide(&req, &Command::AutoWithdraw, &system, &wf, &cal, early),
            Err(DomainError::NotDue)
        );
        let due = cal.add_working_days(now(), 14);
        let events = decide(&req, &Command::AutoWithdraw, &system, &wf, &cal, due).unwrap();
        assert_eq!(events, vec![Event::Withdrawn { by: None, at: due }]);
    }

    #[test]
    fn overdue_follows_the_time_standard() {
        let (wf, cal, req) = setup();
        // disposition: 3 working hours from Monday 10:00 → 13:00 WITA (05:00 UTC).
        let due = due_at(&req, &wf, &cal).unwrap();
        assert_eq!(due, Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap());
        assert!(!is_overdue(&req, &wf, &cal, due));
        assert!(is_overdue(
            &req,
            &wf,
            &cal,
            due + chrono::Duration::minutes(1)
        ));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn people() -> Vec<Actor> {
            vec![
                actor(1, &["applicant"], Some(10)),
                actor(2, &["head_of_office"], None),
                actor(3, &["head_of_division"], None),
                actor(4, &["technical"], None),
                actor(5, &["admin"], None),
                actor(6, &["auditor"], None),
                actor(7, &["applicant"], Some(11)),
                actor(8, &["head_of_office", "technical"], None),
            ]
        }

        fn command() -> impl Strategy<Value = Command> {
            prop_oneof![
                4 => Just(Command::Approve { note: None }),
                1 => Just(Command::Return { note: "n".into(), reason: "other".into() }),
                1 => Just(Command::Reject { note: "n".into(), reason: "technical".into() }),
                2 => Just(Command::Resubmit),
                1 => Just(Command::Withdraw),
            ]
        }

        proptest! {
            #[test]
            fn invariants_hold_for_any_sequence(steps in proptest::collection::vec((command(), 0usize..8), 1..60)) {
                let wf = Workflow::preset("kaltara").unwrap();
                let cal = Calendar::default_wita([]);
                let people = people();
                let mut req = submit(Kind::Create, 10, &people[0], true, now());
                for (cmd, who) in steps {
                    let before = req.clone();
                    let actor = &people[who];
                    match decide(&req, &cmd, actor, &wf, &cal, now()) {
                        Ok(events) => {
                            prop_assert!(!before.status.is_final(), "a final request changed");
                            for e in &events {
                                if let Event::Approved { step, by, next, .. } = e {
                                    // Only the step's role approves, never the submitter, and
                                    // the next step is the following one.
                                    prop_assert!(actor.has(&Role::Step(wf.steps[*step].role.clone())));
                                    prop_assert_ne!(*by, before.submitted_by);
                                    prop_assert_eq!(Some(*step), before.step);
                                    prop_assert!(next.is_none() || *next == Some(step + 1));
                                    prop_assert!(!actor.has(&Role::Admin) && !actor.has(&Role::Auditor));
                                }
                                apply(&mut req, e);
                            }
                            prop_assert_eq!(req.version, before.version + events.len() as u32);
                        }
                        Err(_) => prop_assert_eq!(&req, &before),
                    }
                    prop_assert_eq!(req.status == Status::InReview || req.status == Status::Returned, req.step.is_some());
                }
            }
        }
    }
}
