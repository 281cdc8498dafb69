//! The monthly service report over HTTP: JSON, or CSV with `Accept: text/csv`.

use axum::extract::{Query, State};
use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AuthUser;
use super::problem::{Problem, ProblemDetails};
use crate::domain::report::Timing;
use crate::service::reports::{self, MonthlyReport};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/reports/service", get(service))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    month: String,
}

/// Working-time figures of a step or of the whole service.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimingBody {
    /// Decisions (a step) or requests (the whole service).
    pub count: usize,
    /// Median working minutes.
    pub median_minutes: Option<i64>,
    /// 90th percentile of working minutes (nearest rank).
    pub p90_minutes: Option<i64>,
    /// Share within the time standard, 0..1.
    pub within_standard: Option<f64>,
}

impl From<Timing> for TimingBody {
    fn from(t: Timing) -> Self {
        Self {
            count: t.count,
            median_minutes: t.median_minutes,
            p90_minutes: t.p90_minutes,
            within_standard: t.within_standard,
        }
    }
}

/// One step's line of the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepLineBody {
    /// The step's id.
    pub step: String,
    /// Its title.
    pub title: String,
    /// Its time standard, e.g. `1 working day`.
    pub standard: String,
    /// Its figures.
    #[serde(flatten)]
    pub timing: TimingBody,
}

/// The audit trail's head at the month's end.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditHeadBody {
    /// Sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// Ed25519 signature over the checkpoint text (docs/audit.md), hex.
    pub signature: Option<String>,
    /// The public key, hex.
    pub public_key: Option<String>,
}

/// The monthly service report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportBody {
    /// `YYYY-MM`.
    pub month: String,
    /// Requests finished in the month, by final state.
    pub finished: BTreeMap<String, usize>,
    /// Per step, in workflow order.
    pub steps: Vec<StepLineBody>,
    /// Completed requests, submission to completion.
    pub total: TimingBody,
    /// Completed requests against the whole service's standard.
    pub service: ServiceLineBody,
    /// Requests submitted in the month by how their letter came: `paper`, `srikandi` (the
    /// national letter system), `email`, `web`; `unrecorded` where the front office did not say.
    pub letters: BTreeMap<String, usize>,
    /// Returns by reason code.
    pub returns: BTreeMap<String, usize>,
    /// Rejections by reason code.
    pub rejections: BTreeMap<String, usize>,
    /// The calendar's time zone, in which the month is counted.
    pub time_zone: String,
    /// The workflow.
    pub workflow: String,
    /// The last audit event before the month's end.
    pub audit_head: Option<AuditHeadBody>,
    /// The month's oversight (docs/oversight.md): the checker's findings, the yearly
    /// confirmations, names given for a time.
    pub oversight: OversightBody,
    /// The month's complaints, one line per category in the standards' order.
    pub complaints: Vec<ComplaintLineBody>,
}

/// The complaints of one category in a month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintLineBody {
    /// `light`, `normative`, `non_supervisory` or `supervisory`.
    pub category: String,
    /// The category as the standards word it.
    pub title: String,
    /// Its standard, e.g. `5 working days`.
    pub standard: String,
    /// Received in the month.
    pub received: usize,
    /// Answered in the month: working minutes from receipt to the answer, share answered by
    /// the due time.
    pub answered: TimingBody,
    /// Closed in the month.
    pub closed: usize,
    /// Waiting for an answer at the month's end.
    pub open_at_end: usize,
    /// Of those, past their due time.
    pub overdue_at_end: usize,
}

/// The whole service's standard and the requests completed within it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceLineBody {
    /// The standard, e.g. `2 working days`; empty when the workflow states none (the steps'
    /// standards one after another).
    pub standard: String,
    /// Requests completed in the month.
    pub completed: usize,
    /// Of those, completed by the whole service's due time.
    pub within: usize,
    /// Their share, 0..1; null without completed requests.
    pub within_share: Option<f64>,
}

/// The month's oversight.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OversightBody {
    /// Findings first found in the month, by kind.
    pub findings_opened: BTreeMap<String, usize>,
    /// Findings resolved in the month.
    pub findings_resolved: usize,
    /// Median hours from first found to resolved (of those resolved in the month).
    pub resolve_median_hours: Option<i64>,
    /// 90th percentile of those hours.
    pub resolve_p90_hours: Option<i64>,
    /// Findings open at the month's end.
    pub findings_open_at_end: usize,
    /// Names confirmed (yearly confirmation).
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

impl From<MonthlyReport> for ReportBody {
    fn from(m: MonthlyReport) -> Self {
        let r = m.report;
        Self {
            month: r.month,
            finished: r.finished,
            steps: r
                .steps
                .into_iter()
                .map(|s| StepLineBody {
                    step: s.step,
                    title: s.title,
                    standard: s.standard,
                    timing: s.timing.into(),
                })
                .collect(),
            total: r.total.into(),
            service: ServiceLineBody {
                standard: r.service.standard,
                completed: r.service.completed,
                within: r.service.within,
                within_share: r.service.within_share,
            },
            returns: r.returns,
            rejections: r.rejections,
            letters: m.letters,
            time_zone: m.time_zone,
            workflow: m.workflow,
            complaints: m
                .complaints
                .into_iter()
                .map(|c| ComplaintLineBody {
                    category: c.category,
                    title: c.title,
                    standard: c.standard,
                    received: c.received,
                    answered: c.answered.into(),
                    closed: c.closed,
                    open_at_end: c.open_at_end,
                    overdue_at_end: c.overdue_at_end,
                })
                .collect(),
            oversight: OversightBody {
                findings_opened: m.oversight.findings_opened,
                findings_resolved: m.oversight.findings_resolved,
                resolve_median_hours: m.oversight.resolve_median_hours,
                resolve_p90_hours: m.oversight.resolve_p90_hours,
                findings_open_at_end: m.oversight.findings_open_at_end,
                confirmations: m.oversight.confirmations,
                confirmation_reminders: m.oversight.confirmation_reminders,
                unconfirmed: m.oversight.unconfirmed,
                unconfirmed_suspended: m.oversight.unconfirmed_suspended,
                end_notices: m.oversight.end_notices,
                ended: m.oversight.ended,
                removed: m.oversight.removed,
            },
            audit_head: m.audit_head.map(|h| AuditHeadBody {
                seq: h.seq,
                hash: h.hash,
                signature: h.signature,
                public_key: h.public_key,
            }),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/reports/service", operation_id = "service_report", tag = "reports",
    params(("month" = String, Query, description = "YYYY-MM, in the calendar's time zone")),
    responses((status = 200, description = "Per step and in total: count, median and p90 working minutes, share within standard; returns and rejections by reason; the audit head at the month's end. CSV with `Accept: text/csv`.",
            content((ReportBody = "application/json"), (String = "text/csv"))),
        (status = 406, description = "`not_acceptable`: `Accept` takes neither JSON nor CSV", body = ProblemDetails),
        (status = 400, description = "`bad_request`: no month", body = ProblemDetails),
        (status = 403, description = "office roles and auditors only", body = ProblemDetails),
        (status = 422, description = "`validation_failed`: month is not YYYY-MM", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn service(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, Problem> {
    let report = state.reports.monthly(&user, &q.month).await?;
    let form = super::negotiate::preferred(&headers, &["application/json", "text/csv"])?;
    if form == "text/csv" {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            reports::to_csv(&report),
        )
            .into_response());
    }
    Ok(Json(ReportBody::from(report)).into_response())
}
