//! Workflow definitions: the steps of the office's written standard, who acts at each, its
//! time standard and its effect, and the whole service's standard. Presets `kaltara` (default),
//! `tarakan`, `purbalingga` and `jember` ship in `deploy/workflows/`; an office may give its
//! own file in the same format (docs/workflows.md).

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

use chrono::{DateTime, Utc};

use super::calendar::{Calendar, TimeStandard};

/// Roles that exist whatever the workflow: they can never be a step's role.
pub const FIXED_ROLES: [&str; 5] = [
    "applicant",
    "front_office",
    "auditor",
    "admin",
    "integration",
];

/// Kinds of the files an agency uploads: a document a step makes never takes their names.
pub const RESERVED_DOCUMENTS: [&str; 2] = ["letter", "recommendation"];

/// The role of a step the requesting agency takes itself (signing the handover minutes): only a
/// user of that agency with the applicant role acts at it.
pub const APPLICANT_STEP: &str = "applicant";

/// A role's name (`head_of_office`, `technical`, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

impl RoleName {
    /// A role name: lower-case letters, digits and underscores, starting with a letter.
    pub fn parse(s: &str) -> Result<Self, WorkflowError> {
        let ok = s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(WorkflowError::Invalid(format!(
                "role `{s}`: use lower-case letters, digits and underscores"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What approving a step does besides moving on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Write the request's records into the zone.
    Provision,
    /// Send the response (email and letter) to the applicant.
    Notify,
}

/// One step of the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Stable id, used in the API (`disposition`).
    pub id: String,
    /// Title staff read, in Bahasa Indonesia.
    pub title: String,
    /// The role that acts.
    pub role: RoleName,
    /// How long the step may take.
    pub standard: TimeStandard,
    /// Effect on approval.
    pub effect: Option<Effect>,
    /// The document its approval makes (a template's name: `handover_minutes`, …); a step
    /// that notifies makes the response letter unless it names another.
    pub document: Option<String>,
}

impl Step {
    /// The document its approval makes, if any.
    pub fn makes(&self) -> Option<&str> {
        match (&self.document, self.effect) {
            (Some(d), _) => Some(d),
            (None, Some(Effect::Notify)) => Some("response_letter"),
            _ => None,
        }
    }

    /// Whether the requesting agency acts at this step itself (its role is `applicant`).
    pub fn by_applicant(&self) -> bool {
        self.role.as_str() == APPLICANT_STEP
    }
}

/// A validated workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Reason codes for return and reject.
    pub reason_codes: Vec<String>,
    /// Working days after which a returned request is withdrawn automatically.
    pub auto_withdraw_after_days: u32,
    /// The whole service's time standard, as the office's standard states it; `None`: the
    /// steps' standards one after another.
    pub service_standard: Option<TimeStandard>,
}

/// Errors in a workflow definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// Not valid TOML, or unknown keys.
    #[error("invalid workflow file: {0}")]
    Parse(String),
    /// Valid TOML, invalid workflow.
    #[error("invalid workflow: {0}")]
    Invalid(String),
    /// No preset of that name.
    #[error("no workflow preset `{0}` (presets: kaltara, tarakan, purbalingga, jember)")]
    UnknownPreset(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: String,
    reason_codes: Vec<String>,
    auto_withdraw_after_days: u32,
    #[serde(default)]
    service_standard: Option<String>,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    title: String,
    role: String,
    standard: String,
    effect: Option<Effect>,
    #[serde(default)]
    document: Option<String>,
}

/// `"3 working hours"`, `"1 working day"`.
pub fn parse_standard(s: &str) -> Result<TimeStandard, WorkflowError> {
    let bad = || {
        WorkflowError::Invalid(format!(
            "time standard `{s}`: write \"N working hours\" or \"N working days\""
        ))
    };
    let mut words = s.split_whitespace();
    let n: u32 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    if n == 0 || words.next() != Some("working") {
        return Err(bad());
    }
    let standard = match words.next() {
        Some("hour" | "hours") => TimeStandard::WorkingHours(n),
        Some("day" | "days") => TimeStandard::WorkingDays(n),
        _ => return Err(bad()),
    };
    if words.next().is_some() {
        return Err(bad());
    }
    Ok(standard)
}

impl Workflow {
    /// A built-in preset.
    pub fn preset(name: &str) -> Result<Self, WorkflowError> {
        let text = match name {
            "kaltara" => include_str!("../../deploy/workflows/kaltara.toml"),
            "tarakan" => include_str!("../../deploy/workflows/tarakan.toml"),
            "purbalingga" => include_str!("../../deploy/workflows/purbalingga.toml"),
            "jember" => include_str!("../../deploy/workflows/jember.toml"),
            other => return Err(WorkflowError::UnknownPreset(other.to_owned())),
        };
        Self::from_toml(text)
    }

    /// Parse and validate a definition.
    pub fn from_toml(text: &str) -> Result<Self, WorkflowError> {
        let raw: RawWorkflow = toml::from_str(text)
            .map_err(|e| WorkflowError::Parse(e.to_string().trim().to_owned()))?;
        let invalid = |m: String| WorkflowError::Invalid(m);
        if raw.steps.is_empty() {
            return Err(invalid("a workflow needs at least one step".into()));
        }
        let mut ids = BTreeSet::new();
        let mut steps = Vec::with_capacity(raw.steps.len());
        for s in raw.steps {
            if s.id.is_empty() || !s.id.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(invalid(format!(
                    "step id `{}`: use lower-case letters and underscores",
                    s.id
                )));
            }
            if !ids.insert(s.id.clone()) {
                return Err(invalid(format!("step id `{}` appears twice", s.id)));
            }
            if s.title.trim().is_empty() {
                return Err(invalid(format!("step `{}` has no title", s.id)));
            }
            if let Some(d) = &s.document
                && (RoleName::parse(d).is_err() || RESERVED_DOCUMENTS.contains(&d.as_str()))
            {
                return Err(invalid(format!(
                    "step `{}`: document `{d}`: a template's name (lower-case letters, digits, _; \
                     not `letter` or `recommendation`, the agency's own files)",
                    s.id
                )));
            }
            let role = RoleName::parse(&s.role)?;
            if FIXED_ROLES.contains(&role.as_str()) && role.as_str() != APPLICANT_STEP {
                return Err(invalid(format!(
                    "step `{}`: `{role}` cannot act at a step (front_office, auditor, admin and \
                     integration never approve; `applicant` is the requesting agency's own step)",
                    s.id
                )));
            }
            if role.as_str() == APPLICANT_STEP && s.effect == Some(Effect::Provision) {
                return Err(invalid(format!(
                    "step `{}`: the applicant's own step cannot provision (the office writes the \
                     zone)",
                    s.id
                )));
            }
            steps.push(Step {
                id: s.id,
                title: s.title,
                role,
                standard: parse_standard(&s.standard)?,
                effect: s.effect,
                document: s.document,
            });
        }
        let provisions = steps
            .iter()
            .filter(|s| s.effect == Some(Effect::Provision))
            .count();
        if provisions != 1 {
            return Err(invalid(format!(
                "exactly one step must have effect = \"provision\" (found {provisions})"
            )));
        }
        if raw.reason_codes.is_empty() {
            return Err(invalid("reason_codes must not be empty".into()));
        }
        let unique: BTreeSet<&String> = raw.reason_codes.iter().collect();
        if unique.len() != raw.reason_codes.len() {
            return Err(invalid("reason_codes has a duplicate".into()));
        }
        if raw.auto_withdraw_after_days == 0 {
            return Err(invalid(
                "auto_withdraw_after_days must be at least 1".into(),
            ));
        }
        let service_standard = raw
            .service_standard
            .as_deref()
            .map(parse_standard)
            .transpose()?;
        Ok(Self {
            name: raw.name,
            steps,
            reason_codes: raw.reason_codes,
            auto_withdraw_after_days: raw.auto_withdraw_after_days,
            service_standard,
        })
    }

    /// When the whole service is due for a request submitted at `start`: its own standard, or
    /// the steps' standards one after another.
    pub fn service_deadline(&self, calendar: &Calendar, start: DateTime<Utc>) -> DateTime<Utc> {
        match self.service_standard {
            Some(standard) => calendar.deadline(start, standard),
            None => self
                .steps
                .iter()
                .fold(start, |t, s| calendar.deadline(t, s.standard)),
        }
    }

    /// When the whole service is due for a request whose history is `events` (action and
    /// time, in order): from its submission, the clock stopped while it was returned to the
    /// applicant (as the monthly report counts the office's time). `None` before a submission.
    pub fn service_due(
        &self,
        calendar: &Calendar,
        events: &[(&str, DateTime<Utc>)],
    ) -> Option<DateTime<Utc>> {
        let mut due = None;
        let mut returned = None;
        for (action, at) in events {
            match *action {
                "submitted" if due.is_none() => due = Some(self.service_deadline(calendar, *at)),
                "returned" => returned = Some(*at),
                "resubmitted" => {
                    if let (Some(d), Some(r)) = (due, returned.take()) {
                        let paused = calendar.working_minutes_between(r, *at);
                        due = Some(
                            calendar
                                .add_working_minutes(d, u32::try_from(paused).unwrap_or(u32::MAX)),
                        );
                    }
                }
                _ => {}
            }
        }
        due
    }

    /// The step with this id, and its position.
    pub fn step(&self, id: &str) -> Option<(usize, &Step)> {
        self.steps.iter().enumerate().find(|(_, s)| s.id == id)
    }

    /// The position of the step that provisions (a valid workflow has exactly one).
    pub fn provisioning_step(&self) -> usize {
        self.steps
            .iter()
            .position(|s| s.effect == Some(Effect::Provision))
            .unwrap_or(0)
    }

    /// Where a request opened on someone's behalf (an integration's write, its approving
    /// done elsewhere) enters: the step `id`, which must come no later than the step that
    /// provisions (a request entering after it would never be written); without an id, the
    /// step that provisions.
    pub fn entry_step(&self, id: Option<&str>) -> Result<usize, WorkflowError> {
        let provisions = self.provisioning_step();
        let Some(id) = id else {
            return Ok(provisions);
        };
        match self.step(id) {
            Some((i, _)) if i <= provisions => Ok(i),
            Some(_) => Err(WorkflowError::Invalid(format!(
                "step `{id}` comes after `{}`, the step that provisions: a request entering \
                 there would never be written into the zone",
                self.steps[provisions].id
            ))),
            None => Err(WorkflowError::Invalid(format!(
                "the workflow `{}` has no step `{id}` (its steps: {})",
                self.name,
                self.steps
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Every role of this workflow: the fixed ones and those its steps name.
    pub fn roles(&self) -> BTreeSet<RoleName> {
        FIXED_ROLES
            .iter()
            .filter_map(|r| RoleName::parse(r).ok())
            .chain(self.steps.iter().map(|s| s.role.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_product_tables() {
        let k = Workflow::preset("kaltara").unwrap();
        let rows: Vec<(&str, &str, TimeStandard, Option<Effect>)> = k
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.role.as_str(), s.standard, s.effect))
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    "disposition",
                    "head_of_office",
                    TimeStandard::WorkingHours(3),
                    None
                ),
                (
                    "assignment",
                    "head_of_division",
                    TimeStandard::WorkingDays(1),
                    None
                ),
                (
                    "technical_review",
                    "technical",
                    TimeStandard::WorkingDays(7),
                    Some(Effect::Provision)
                ),
                (
                    "response",
                    "head_of_office",
                    TimeStandard::WorkingDays(1),
                    Some(Effect::Notify)
                ),
            ]
        );
        assert_eq!(k.steps[0].title, "Disposisi Kepala Dinas");
        let t = Workflow::preset("tarakan").unwrap();
        let ids: Vec<&str> = t.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "disposition",
                "division_disposition",
                "assignment",
                "creation",
                "register",
                "division_report",
                "response"
            ]
        );
        assert_eq!(
            t.step("creation").unwrap().1.effect,
            Some(Effect::Provision)
        );
        assert_eq!(t.step("creation").unwrap().1.role.as_str(), "staff");
        assert!(
            t.roles()
                .contains(&RoleName::parse("sub_coordinator").unwrap())
        );
        assert!(t.roles().contains(&RoleName::parse("auditor").unwrap()));
        assert_eq!(
            k.reason_codes,
            [
                "incomplete_documents",
                "name_policy",
                "no_recommendation",
                "technical",
                "other"
            ]
        );
        assert_eq!(k.auto_withdraw_after_days, 14);
        assert!(matches!(
            Workflow::preset("x"),
            Err(WorkflowError::UnknownPreset(_))
        ));
    }

    #[test]
    fn requests_of_integrations_enter_at_or_before_provisioning() {
        let k = Workflow::preset("kaltara").unwrap();
        assert_eq!(k.provisioning_step(), 2);
        assert_eq!(k.entry_step(None), Ok(2));
        assert_eq!(k.entry_step(Some("disposition")), Ok(0));
        assert_eq!(k.entry_step(Some("assignment")), Ok(1));
        assert_eq!(k.entry_step(Some("technical_review")), Ok(2));
        let after = k.entry_step(Some("response")).unwrap_err().to_string();
        assert!(after.contains("never be written"), "{after}");
        let unknown = k.entry_step(Some("nowhere")).unwrap_err().to_string();
        assert!(unknown.contains("disposition, assignment"), "{unknown}");
        let t = Workflow::preset("tarakan").unwrap();
        assert_eq!(t.entry_step(None), Ok(3));
        assert!(t.entry_step(Some("register")).is_err());
    }

    #[test]
    fn standards_parse() {
        assert_eq!(
            parse_standard("3 working hours"),
            Ok(TimeStandard::WorkingHours(3))
        );
        assert_eq!(
            parse_standard("1 working day"),
            Ok(TimeStandard::WorkingDays(1))
        );
        for bad in [
            "",
            "3 hours",
            "0 working days",
            "x working days",
            "2 working weeks",
            "1 working day extra",
        ] {
            assert!(parse_standard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_definitions_are_refused() {
        let base = include_str!("../../deploy/workflows/kaltara.toml");
        for (from, to, why) in [
            ("role = \"technical\"", "role = \"admin\"", "admin"),
            ("effect = \"provision\"", "", "provision"),
            ("id = \"assignment\"", "id = \"disposition\"", "twice"),
            (
                "standard = \"7 working days\"",
                "standard = \"7 days\"",
                "working",
            ),
            (
                "auto_withdraw_after_days = 14",
                "auto_withdraw_after_days = 14\ncolour = 1",
                "colour",
            ),
            (
                "role = \"technical\"",
                "role = \"Tim Teknis\"",
                "lower-case",
            ),
            (
                "role = \"technical\"",
                "role = \"applicant\"",
                "cannot provision",
            ),
            (
                "role = \"technical\"",
                "role = \"front_office\"",
                "never approve",
            ),
            (
                "effect = \"notify\"",
                "effect = \"notify\"\ndocument = \"letter\"",
                "the agency's own files",
            ),
            (
                "auto_withdraw_after_days = 14",
                "auto_withdraw_after_days = 14\nservice_standard = \"2 days\"",
                "working",
            ),
        ] {
            let text = base.replacen(from, to, 1);
            let err = Workflow::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn purbalingga_and_jember_as_their_standards_word_them() {
        let p = Workflow::preset("purbalingga").unwrap();
        assert_eq!(p.service_standard, Some(TimeStandard::WorkingDays(2)));
        assert_eq!(
            p.steps[0].title,
            "Permintaan dikaji oleh Bidang Informatika"
        );
        assert_eq!(p.steps[p.provisioning_step()].id, "activation");
        let j = Workflow::preset("jember").unwrap();
        assert_eq!(j.service_standard, Some(TimeStandard::WorkingDays(7)));
        let applicant: Vec<&str> = j
            .steps
            .iter()
            .filter(|s| s.by_applicant())
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(applicant, ["applicant_signature"]);
        assert_eq!(
            j.step("applicant_signature").unwrap().1.title,
            "Berita Acara ditandatangani oleh Instansi Pemohon"
        );
        // The steps' standards add up to the whole service's.
        for w in [&p, &j] {
            let mut stated = w.clone();
            stated.service_standard = None;
            let cal = Calendar::default_wita([]);
            let monday = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 23, 2, 0, 0).unwrap();
            assert_eq!(
                stated.service_deadline(&cal, monday),
                w.service_deadline(&cal, monday),
                "{}",
                w.name
            );
        }
        // The applicant's own step is no role of the office.
        assert!(
            j.roles()
                .contains(&RoleName::parse("server_admin").unwrap())
        );
    }

    #[test]
    fn the_whole_service_is_due_in_working_days_the_clock_stopped_while_returned() {
        use chrono::TimeZone as _;
        let j = Workflow::preset("jember").unwrap();
        // Monday 23 November 2026, 10:00 WITA; a holiday on Wednesday the 25th.
        let submitted = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let plain = Calendar::default_wita([]);
        let holiday =
            Calendar::default_wita([chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()]);
        // Seven working days: Wednesday 2 December; with the holiday, Thursday 3 December.
        assert_eq!(
            j.service_due(&plain, &[("submitted", submitted)]),
            Some(Utc.with_ymd_and_hms(2026, 12, 2, 2, 0, 0).unwrap())
        );
        assert_eq!(
            j.service_due(&holiday, &[("submitted", submitted)]),
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap())
        );
        // Returned on Tuesday at 10:00, resubmitted on Thursday at 10:00: two working days
        // on the applicant's side, added.
        let events = [
            ("submitted", submitted),
            ("approved", submitted + chrono::Duration::hours(2)),
            (
                "returned",
                Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap(),
            ),
            (
                "resubmitted",
                Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap(),
            ),
        ];
        assert_eq!(
            j.service_due(&plain, &events),
            Some(Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).unwrap())
        );
        assert_eq!(j.service_due(&plain, &[]), None);
        // Without a stated standard, the steps one after another (kaltara: 3 hours, 1 day,
        // 7 days, 1 day).
        let k = Workflow::preset("kaltara").unwrap();
        assert_eq!(k.service_standard, None);
        let due = k.service_due(&plain, &[("submitted", submitted)]).unwrap();
        assert_eq!(
            plain.working_minutes_between(submitted, due),
            3 * 60 + 9 * 8 * 60 + 30,
            "three hours and nine working days, a whole Friday among them"
        );
    }
}
