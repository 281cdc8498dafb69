//! The monthly service report: per step and in total, how many, the median and 90th-percentile
//! working time, the share within the time standard, and returns and rejections by reason.
//!
//! Working time is the office's time: a step's clock runs from the moment the request reaches
//! it (submission, the previous approval, or a resubmission after a return) to the decision at
//! that step, counted in the calendar's working minutes; time spent returned to the applicant
//! does not count. A request is within the standard in total when every decision it got was
//! within its step's standard.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::calendar::{Calendar, TimeStandard};
use super::workflow::Workflow;

/// One history entry of a finished request, as the report reads it.
#[derive(Debug, Clone)]
pub struct ReportEvent {
    /// `submitted`, `approved`, `returned`, `rejected`, `resubmitted`, `withdrawn`, ….
    pub action: String,
    /// The step's id, for decisions.
    pub step: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Reason code, for returns and rejections.
    pub reason: Option<String>,
}

/// A request that finished in the month.
#[derive(Debug, Clone)]
pub struct FinishedRequest {
    /// `completed`, `rejected` or `withdrawn`.
    pub status: String,
    /// Its history in order.
    pub events: Vec<ReportEvent>,
}

/// Count, median, 90th percentile (working minutes) and share within standard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    /// Decisions (steps) or requests (total).
    pub count: usize,
    /// Median working minutes.
    pub median_minutes: Option<i64>,
    /// 90th percentile of working minutes (nearest rank).
    pub p90_minutes: Option<i64>,
    /// Share of them within the standard, 0..1.
    pub within_standard: Option<f64>,
}

/// One step's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepLine {
    /// The step's id.
    pub step: String,
    /// Its title.
    pub title: String,
    /// Its standard, e.g. `1 working day`.
    pub standard: String,
    /// Its figures.
    #[serde(flatten)]
    pub timing: Timing,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceReport {
    /// `YYYY-MM`.
    pub month: String,
    /// Requests finished in the month, by final state.
    pub finished: BTreeMap<String, usize>,
    /// Per step, in workflow order.
    pub steps: Vec<StepLine>,
    /// Completed requests, submission to completion.
    pub total: Timing,
    /// Completed requests against the whole service's standard.
    pub service: ServiceLine,
    /// Returns by reason code.
    pub returns: BTreeMap<String, usize>,
    /// Rejections by reason code.
    pub rejections: BTreeMap<String, usize>,
}

/// The whole service's standard and the requests completed within it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceLine {
    /// The standard, e.g. `2 working days`; empty when the workflow states none (the steps'
    /// standards one after another).
    pub standard: String,
    /// Requests completed in the month.
    pub completed: usize,
    /// Of those, completed by the whole service's due time (the clock stopped while returned).
    pub within: usize,
    /// Their share, 0..1.
    pub within_share: Option<f64>,
}

/// A finding of the oversight checker as the report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingSpan {
    /// Its kind.
    pub kind: String,
    /// When first found.
    pub first_seen: DateTime<Utc>,
    /// When resolved, if it was.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The oversight of a month: findings, yearly confirmations, names given for a time.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct OversightFigures {
    /// Findings first found in the month, by kind.
    pub findings_opened: BTreeMap<String, usize>,
    /// Findings resolved in the month.
    pub findings_resolved: usize,
    /// Median hours from first found to resolved, of those resolved in the month.
    pub resolve_median_hours: Option<i64>,
    /// 90th percentile of those hours (nearest rank).
    pub resolve_p90_hours: Option<i64>,
    /// Findings open at the month's end.
    pub findings_open_at_end: usize,
    /// Names confirmed in the month (yearly confirmation).
    pub confirmations: usize,
    /// Reminders to confirm sent.
    pub confirmation_reminders: usize,
    /// Names marked unconfirmed.
    pub unconfirmed: usize,
    /// Names suspended for the lack of a confirmation.
    pub unconfirmed_suspended: usize,
    /// Notices of a term's end sent.
    pub end_notices: usize,
    /// Names suspended at the end of their term.
    pub ended: usize,
    /// Names removed after the grace period.
    pub removed: usize,
}

/// A complaint as the report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintSpan {
    /// Its category (`light`, …).
    pub category: String,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// When its answer was due.
    pub due_at: DateTime<Utc>,
    /// When answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// When closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// The complaints of one category in a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplaintLine {
    /// `light`, `normative`, `non_supervisory` or `supervisory`.
    pub category: String,
    /// Its title, as the standards word it.
    pub title: String,
    /// Its standard, e.g. `5 working days`.
    pub standard: String,
    /// Received in the month.
    pub received: usize,
    /// Answered in the month: working minutes from receipt to the answer, and the share
    /// answered by the due time.
    pub answered: Timing,
    /// Closed in the month.
    pub closed: usize,
    /// Waiting for an answer at the month's end.
    pub open_at_end: usize,
    /// Of those, past their due time at the month's end.
    pub overdue_at_end: usize,
}

/// The complaint lines of the month `[from, to)`, from `spans` (those that overlap it). What is
/// open and overdue "at the month's end" is taken at `end`: the month's end once it is over,
/// the present instant while it runs (a complaint due next week is not overdue yet).
pub fn complaints(
    calendar: &Calendar,
    spans: &[ComplaintSpan],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<ComplaintLine> {
    let end = end.min(to);
    use super::complaint::Category;
    let within = |t: DateTime<Utc>| t >= from && t < to;
    Category::ALL
        .iter()
        .map(|c| {
            let mine: Vec<&ComplaintSpan> =
                spans.iter().filter(|s| s.category == c.as_str()).collect();
            let answered: Vec<(i64, bool)> = mine
                .iter()
                .filter_map(|s| {
                    let a = s.answered_at.filter(|a| within(*a))?;
                    Some((
                        calendar.working_minutes_between(s.received_at, a),
                        a <= s.due_at,
                    ))
                })
                .collect();
            let open: Vec<&&ComplaintSpan> = mine
                .iter()
                .filter(|s| s.received_at < end && s.answered_at.is_none_or(|a| a >= end))
                .collect();
            ComplaintLine {
                category: c.as_str().into(),
                title: c.title().into(),
                standard: describe(TimeStandard::WorkingDays(c.working_days())),
                received: mine.iter().filter(|s| within(s.received_at)).count(),
                answered: timing(&answered),
                closed: mine
                    .iter()
                    .filter(|s| s.closed_at.is_some_and(within))
                    .count(),
                open_at_end: open.len(),
                overdue_at_end: open.iter().filter(|s| s.due_at < end).count(),
            }
        })
        .collect()
}

/// The audit actions [`oversight`] counts.
pub const OVERSIGHT_ACTIONS: [&str; 7] = [
    "subdomain.confirm",
    "subdomain.confirmation_reminder",
    "subdomain.unconfirmed",
    "subdomain.unconfirmed_suspend",
    "subdomain.end_notice",
    "subdomain.end_suspend",
    "subdomain.remove",
];

/// The oversight figures of the month `[from, to)`: `findings` those that overlap it,
/// `actions` the count of each of [`OVERSIGHT_ACTIONS`] in the audit trail in it.
pub fn oversight(
    findings: &[FindingSpan],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    actions: &BTreeMap<String, usize>,
) -> OversightFigures {
    let mut out = OversightFigures::default();
    let mut hours = Vec::new();
    for f in findings {
        if f.first_seen >= from && f.first_seen < to {
            *out.findings_opened.entry(f.kind.clone()).or_insert(0) += 1;
        }
        match f.resolved_at {
            Some(r) if r >= from && r < to => {
                out.findings_resolved += 1;
                hours.push((r - f.first_seen).num_hours().max(0));
            }
            Some(r) if r >= to && f.first_seen < to => out.findings_open_at_end += 1,
            None if f.first_seen < to => out.findings_open_at_end += 1,
            _ => {}
        }
    }
    let t = timing(&hours.iter().map(|h| (*h, true)).collect::<Vec<_>>());
    out.resolve_median_hours = t.median_minutes;
    out.resolve_p90_hours = t.p90_minutes;
    let n = |a: &str| actions.get(a).copied().unwrap_or(0);
    out.confirmations = n("subdomain.confirm");
    out.confirmation_reminders = n("subdomain.confirmation_reminder");
    out.unconfirmed = n("subdomain.unconfirmed");
    out.unconfirmed_suspended = n("subdomain.unconfirmed_suspend");
    out.end_notices = n("subdomain.end_notice");
    out.ended = n("subdomain.end_suspend");
    out.removed = n("subdomain.remove");
    out
}

fn describe(standard: TimeStandard) -> String {
    match standard {
        TimeStandard::WorkingHours(1) => "1 working hour".into(),
        TimeStandard::WorkingHours(h) => format!("{h} working hours"),
        TimeStandard::WorkingDays(1) => "1 working day".into(),
        TimeStandard::WorkingDays(d) => format!("{d} working days"),
    }
}

fn timing(samples: &[(i64, bool)]) -> Timing {
    let mut minutes: Vec<i64> = samples.iter().map(|s| s.0).collect();
    minutes.sort_unstable();
    let rank = |p: f64| -> Option<i64> {
        if minutes.is_empty() {
            return None;
        }
        // Nearest rank: the smallest value with at least p of the samples at or below it.
        let k = ((p * minutes.len() as f64).ceil() as usize).clamp(1, minutes.len());
        Some(minutes[k - 1])
    };
    Timing {
        count: samples.len(),
        median_minutes: rank(0.5),
        p90_minutes: rank(0.9),
        within_standard: (!samples.is_empty())
            .then(|| samples.iter().filter(|s| s.1).count() as f64 / samples.len() as f64),
    }
}

/// The report of `month` (`YYYY-MM`) over the requests that finished in it.
pub fn monthly(
    workflow: &Workflow,
    calendar: &Calendar,
    month: &str,
    requests: &[FinishedRequest],
) -> ServiceReport {
    let mut per_step: BTreeMap<&str, Vec<(i64, bool)>> = BTreeMap::new();
    let mut total = Vec::new();
    let mut finished = BTreeMap::new();
    let mut returns = BTreeMap::new();
    let mut rejections = BTreeMap::new();
    let (mut completed, mut within_service) = (0, 0);
    for r in requests {
        *finished.entry(r.status.clone()).or_insert(0) += 1;
        let mut clock: Option<DateTime<Utc>> = None;
        let mut office_minutes = 0;
        let mut all_within = true;
        for e in &r.events {
            match e.action.as_str() {
                "submitted" | "resubmitted" => clock = Some(e.at),
                "approved" | "returned" | "rejected" => {
                    let step = e
                        .step
                        .as_deref()
                        .and_then(|id| workflow.steps.iter().find(|s| s.id == id));
                    if let (Some(start), Some(step)) = (clock, step) {
                        let minutes = calendar.working_minutes_between(start, e.at);
                        let within = e.at <= calendar.deadline(start, step.standard);
                        per_step
                            .entry(step.id.as_str())
                            .or_default()
                            .push((minutes, within));
                        office_minutes += minutes;
                        all_within &= within;
                    }
                    let reason = e.reason.clone().unwrap_or_else(|| "other".into());
                    match e.action.as_str() {
                        "returned" => *returns.entry(reason).or_insert(0) += 1,
                        "rejected" => *rejections.entry(reason).or_insert(0) += 1,
                        _ => {}
                    }
                    // The next step's clock starts at an approval; a return stops it.
                    clock = (e.action == "approved").then_some(e.at);
                }
                _ => {}
            }
        }
        if r.status == "completed" {
            total.push((office_minutes, all_within));
            let events: Vec<(&str, DateTime<Utc>)> =
                r.events.iter().map(|e| (e.action.as_str(), e.at)).collect();
            let done = events
                .iter()
                .rev()
                .find(|(action, _)| *action == "approved")
                .map(|(_, at)| *at);
            completed += 1;
            if let (Some(due), Some(done)) = (workflow.service_due(calendar, &events), done)
                && done <= due
            {
                within_service += 1;
            }
        }
    }
    ServiceReport {
        month: month.to_owned(),
        finished,
        steps: workflow
            .steps
            .iter()
            .map(|s| StepLine {
                step: s.id.clone(),
                title: s.title.clone(),
                standard: describe(s.standard),
                timing: timing(per_step.get(s.id.as_str()).map_or(&[][..], Vec::as_slice)),
            })
            .collect(),
        total: timing(&total),
        service: ServiceLine {
            standard: workflow.service_standard.map(describe).unwrap_or_default(),
            completed,
            within: within_service,
            within_share: (completed > 0).then(|| within_service as f64 / completed as f64),
        },
        returns,
        rejections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_months_findings_opened_resolved_and_still_open() {
        let from = at(1, 0, 0);
        let to = from + chrono::Duration::days(30);
        let span =
            |kind: &str, first: DateTime<Utc>, resolved: Option<DateTime<Utc>>| FindingSpan {
                kind: kind.into(),
                first_seen: first,
                resolved_at: resolved,
            };
        let findings = [
            // Opened and resolved in the month, after 10 and 30 hours.
            span(
                "abuse_content",
                from + chrono::Duration::hours(1),
                Some(from + chrono::Duration::hours(11)),
            ),
            span(
                "dangling_cname",
                from + chrono::Duration::hours(2),
                Some(from + chrono::Duration::hours(32)),
            ),
            // Opened before, still open at the end.
            span("unreachable", from - chrono::Duration::days(3), None),
            // Opened in the month, resolved after it: open at its end.
            span(
                "tls_expired",
                to - chrono::Duration::hours(1),
                Some(to + chrono::Duration::hours(1)),
            ),
        ];
        let actions = BTreeMap::from([
            ("subdomain.confirm".to_owned(), 4),
            ("subdomain.remove".to_owned(), 1),
        ]);
        let o = oversight(&findings, from, to, &actions);
        assert_eq!(o.findings_opened.values().sum::<usize>(), 3);
        assert_eq!(o.findings_opened.get("abuse_content"), Some(&1));
        assert_eq!(o.findings_resolved, 2);
        assert_eq!(o.resolve_median_hours, Some(10));
        assert_eq!(o.resolve_p90_hours, Some(30));
        assert_eq!(o.findings_open_at_end, 2);
        assert_eq!((o.confirmations, o.removed, o.ended), (4, 1, 0));
    }

    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        // 2026-11-02 is a Monday; WITA is UTC+8.
        chrono_tz::Asia::Makassar
            .with_ymd_and_hms(2026, 11, day, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ev(action: &str, step: Option<&str>, t: DateTime<Utc>, reason: Option<&str>) -> ReportEvent {
        ReportEvent {
            action: action.into(),
            step: step.map(Into::into),
            at: t,
            reason: reason.map(Into::into),
        }
    }

    #[test]
    fn steps_total_and_reasons() {
        let wf = Workflow::preset("kaltara").unwrap();
        let cal = Calendar::default_wita([]);
        let ids: Vec<&str> = wf.steps.iter().map(|s| s.id.as_str()).collect();
        // Completed: every step one working hour, but a return at the first step waits for the
        // applicant overnight (not counted).
        let mut events = vec![
            ev("submitted", None, at(2, 8, 0), None),
            ev(
                "returned",
                Some(ids[0]),
                at(2, 9, 0),
                Some("no_recommendation"),
            ),
            ev("resubmitted", None, at(3, 10, 0), None),
        ];
        let mut t = at(3, 10, 0);
        for id in &ids {
            t += chrono::Duration::hours(1);
            events.push(ev("approved", Some(id), t, None));
        }
        let completed = FinishedRequest {
            status: "completed".into(),
            events,
        };
        // Rejected at the first step after three working days (over its standard).
        let rejected = FinishedRequest {
            status: "rejected".into(),
            events: vec![
                ev("submitted", None, at(2, 8, 0), None),
                ev("rejected", Some(ids[0]), at(5, 8, 0), Some("name_policy")),
            ],
        };
        let r = monthly(&wf, &cal, "2026-11", &[completed, rejected]);
        assert_eq!(r.finished["completed"], 1);
        assert_eq!(r.finished["rejected"], 1);
        assert_eq!(r.returns["no_recommendation"], 1);
        assert_eq!(r.rejections["name_policy"], 1);
        let first = &r.steps[0];
        assert_eq!(first.standard, "3 working hours");
        // Three decisions at the first step: 60 min, 60 min, 3 days = 3 × 480 min.
        assert_eq!(first.timing.count, 3);
        assert_eq!(first.timing.median_minutes, Some(60));
        assert_eq!(first.timing.p90_minutes, Some(1440));
        assert_eq!(first.timing.within_standard, Some(2.0 / 3.0));
        // Total: only the completed request, office time 60 + 60 × steps.
        assert_eq!(r.total.count, 1);
        assert_eq!(r.total.median_minutes, Some(60 * (ids.len() as i64 + 1)));
        assert_eq!(r.total.within_standard, Some(1.0));
        assert_eq!(r.steps[1].timing.count, 1);
    }

    #[test]
    fn an_empty_month() {
        let wf = Workflow::preset("kaltara").unwrap();
        let r = monthly(&wf, &Calendar::default_wita([]), "2026-10", &[]);
        assert_eq!(r.total.count, 0);
        assert_eq!(r.total.median_minutes, None);
        assert!(r.steps.iter().all(|s| s.timing.count == 0));
    }

    #[test]
    fn the_months_complaints_by_category_with_their_standards() {
        let cal = Calendar::default_wita([]);
        // November 2026 in WITA.
        let from = Utc.with_ymd_and_hms(2026, 10, 31, 16, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap();
        // Monday 2 November, 10:00 WITA.
        let monday = Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap();
        let span = |category: &str, received: DateTime<Utc>, answered: Option<DateTime<Utc>>| {
            let c = crate::domain::complaint::Category::parse(category).unwrap();
            ComplaintSpan {
                category: category.into(),
                received_at: received,
                due_at: crate::domain::complaint::due_at(&cal, received, c),
                answered_at: answered,
                closed_at: answered.map(|a| a + chrono::Duration::hours(1)),
            }
        };
        let spans = [
            // Answered the next working day: one working day, within.
            span("light", monday, Some(monday + chrono::Duration::days(1))),
            // Answered after eight days (six working days): late.
            span("light", monday, Some(monday + chrono::Duration::days(8))),
            // Unanswered: due 9 November, overdue at the month's end.
            span("normative", monday, None),
            // Received last month, answered this month within 14 working days.
            span(
                "non_supervisory",
                monday - chrono::Duration::days(7),
                Some(monday + chrono::Duration::days(3)),
            ),
            // Received on the month's last day: open, not yet due.
            span("supervisory", to - chrono::Duration::hours(2), None),
        ];
        let lines = complaints(&cal, &spans, from, to, to);
        let line = |c: &str| lines.iter().find(|l| l.category == c).unwrap();
        assert_eq!(lines.len(), 4);
        let light = line("light");
        assert_eq!(light.standard, "5 working days");
        assert_eq!((light.received, light.closed, light.open_at_end), (2, 2, 0));
        assert_eq!(light.answered.count, 2);
        assert_eq!(light.answered.median_minutes, Some(8 * 60));
        assert_eq!(light.answered.within_standard, Some(0.5));
        let normative = line("normative");
        assert_eq!((normative.open_at_end, normative.overdue_at_end), (1, 1));
        let non = line("non_supervisory");
        assert_eq!((non.received, non.answered.count), (0, 1));
        assert_eq!(non.answered.within_standard, Some(1.0));
        let sup = line("supervisory");
        assert_eq!(
            (sup.received, sup.open_at_end, sup.overdue_at_end),
            (1, 1, 0)
        );
        assert_eq!(
            sup.title,
            "Pengaduan berkadar pengawasan dan memerlukan pemeriksaan"
        );
    }
}
