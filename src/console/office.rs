//! What the office reads in the console: certificates with their expiry, zones with their
//! secondaries, the monthly service report (its chart drawn on the server as SVG, and CSV), and
//! the audit trail with its verification; one name of the register with the oversight
//! checker's findings. Who may read what is the services' to decide.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::admin::CsrfForm;
use super::pages::{Frame, failure, failure_back, forged};
use super::{Signed, render, same_token};
use crate::api::AppState;
use crate::service::audit::AuditQuery;

struct CertificateLine {
    name: String,
    state: String,
    not_after: String,
    days_left: Option<i64>,
    expiring: bool,
    issuer: String,
    error: String,
}

#[derive(Template)]
#[template(path = "certificates.html", config = "src/console/askama.toml")]
struct CertificatesPage {
    frame: Frame,
    lines: Vec<CertificateLine>,
}

/// Days under which a certificate's expiry is marked.
const EXPIRY_WARNING_DAYS: i64 = 21;

/// `GET /certificates`.
pub(super) async fn certificates(signed: Signed, State(state): State<AppState>) -> Response {
    let t = signed.lang.text();
    let rows = match state.certificates.list().await {
        Ok(r) => r,
        Err(e) => return failure(signed.lang, e),
    };
    let now = Utc::now();
    let lines = rows
        .into_iter()
        .map(|c| {
            let days_left = c
                .not_after
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (t.with_timezone(&Utc) - now).num_days());
            CertificateLine {
                state: t.certificate_of(c.status.as_str()).to_owned(),
                not_after: c.not_after.clone().unwrap_or_default(),
                days_left,
                expiring: days_left.is_some_and(|d| d < EXPIRY_WARNING_DAYS),
                issuer: c.issuer.clone().unwrap_or_default(),
                error: c.last_error.clone().unwrap_or_default(),
                name: c.name,
            }
        })
        .collect();
    render(
        StatusCode::OK,
        &CertificatesPage {
            frame: Frame::of(&signed),
            lines,
        },
    )
}

struct SecondaryLine {
    address: String,
    serial: String,
    in_sync: bool,
    lag: String,
}

struct ZoneLine {
    zone: String,
    serial: u32,
    records: usize,
    names: usize,
    secondaries: Vec<SecondaryLine>,
}

#[derive(Template)]
#[template(path = "zones.html", config = "src/console/askama.toml")]
struct ZonesPage {
    frame: Frame,
    zones: Vec<ZoneLine>,
}

/// `GET /zones`.
pub(super) async fn zones(signed: Signed, State(state): State<AppState>) -> Response {
    let zones = match state.zones.list().await {
        Ok(z) => z,
        Err(e) => return failure(signed.lang, e),
    };
    let zones = zones
        .into_iter()
        .map(|z| ZoneLine {
            zone: z.zone.trim_end_matches('.').to_owned(),
            serial: z.serial,
            records: z.records,
            names: z.names,
            secondaries: z
                .secondaries
                .iter()
                .map(|s| SecondaryLine {
                    address: s.state.secondary.clone(),
                    serial: s
                        .state
                        .served_serial
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into()),
                    in_sync: s.in_sync,
                    lag: match (s.lag_changes, s.lag_seconds) {
                        (Some(c), Some(secs)) => format!("{c} / {secs} s"),
                        (Some(c), None) => c.to_string(),
                        _ => String::new(),
                    },
                })
                .collect(),
        })
        .collect();
    render(
        StatusCode::OK,
        &ZonesPage {
            frame: Frame::of(&signed),
            zones,
        },
    )
}

/// One bar of the report's chart.
struct Bar {
    title: String,
    standard: String,
    count: usize,
    median: String,
    p90: String,
    /// Percent within the standard, 0 to 100, when there were decisions.
    within: Option<u32>,
    /// The bar's width in the chart's units (0 to 400).
    width: u32,
    /// Its top in the chart.
    y: usize,
}

#[derive(Template)]
#[template(path = "report.html", config = "src/console/askama.toml")]
struct ReportPage {
    frame: Frame,
    month: String,
    bars: Vec<Bar>,
    chart_height: usize,
    total: Bar,
    returns: Vec<(String, usize)>,
    rejections: Vec<(String, usize)>,
    finished: Vec<(String, usize)>,
    audit_head: String,
    /// Complaints: a bar (title, standard, answered with their times) and the counts
    /// received, closed, open and overdue at the month's end.
    complaints: Vec<(Bar, usize, usize, usize, usize)>,
    /// Requests submitted in the month by how their letter came.
    letters: Vec<(String, usize)>,
}

#[derive(Deserialize, Default)]
pub(super) struct MonthQuery {
    month: Option<String>,
}

/// The height of one bar's row in the chart.
const ROW: usize = 48;

fn minutes(m: Option<i64>) -> String {
    match m {
        None => "-".into(),
        Some(m) if m < 60 => format!("{m} mnt"),
        Some(m) => format!("{}j {}m", m / 60, m % 60),
    }
}

fn bar(title: String, standard: String, timing: &crate::domain::report::Timing, row: usize) -> Bar {
    let within = timing
        .within_standard
        .map(|w| (w.clamp(0.0, 1.0) * 100.0).round() as u32);
    Bar {
        title,
        standard,
        count: timing.count,
        median: minutes(timing.median_minutes),
        p90: minutes(timing.p90_minutes),
        within,
        width: within.unwrap_or(0) * 4,
        y: row * ROW,
    }
}

fn this_month(state: &AppState) -> String {
    Utc::now()
        .with_timezone(&state.signin.time_zone())
        .format("%Y-%m")
        .to_string()
}

/// `GET /report?month=YYYY-MM`: the monthly service report.
pub(super) async fn report(
    signed: Signed,
    State(state): State<AppState>,
    query: Result<Query<MonthQuery>, QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let month = query.month.unwrap_or_else(|| this_month(&state));
    let r = match state.reports.monthly(&signed.current.actor, &month).await {
        Ok(r) => r,
        Err(e) => return failure(signed.lang, e),
    };
    let bars: Vec<Bar> = r
        .report
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| bar(s.title.clone(), s.standard.clone(), &s.timing, i))
        .collect();
    let t = signed.lang.text();
    let total = bar(t.whole_service.into(), String::new(), &r.report.total, 0);
    let complaints = r
        .complaints
        .iter()
        .filter_map(|c| {
            let category = crate::domain::complaint::Category::parse(&c.category)?;
            Some((
                bar(
                    t.complaint_category_of(category).into(),
                    c.standard.clone(),
                    &c.answered,
                    0,
                ),
                c.received,
                c.closed,
                c.open_at_end,
                c.overdue_at_end,
            ))
        })
        .collect();
    let letters = r
        .letters
        .iter()
        .map(|(channel, n)| {
            let words = crate::domain::letter::Channel::parse(channel)
                .map_or(t.channel_unrecorded, |c| t.channel_of(c));
            (words.to_owned(), *n)
        })
        .collect();
    let page = ReportPage {
        letters,
        complaints,
        chart_height: bars.len().max(1) * ROW,
        bars,
        total,
        returns: r.report.returns.clone().into_iter().collect(),
        rejections: r.report.rejections.clone().into_iter().collect(),
        finished: r.report.finished.clone().into_iter().collect(),
        audit_head: r
            .audit_head
            .as_ref()
            .map(|h| format!("#{} {}", h.seq, h.hash))
            .unwrap_or_default(),
        month: r.report.month.clone(),
        frame: Frame::of(&signed),
    };
    render(StatusCode::OK, &page)
}

/// `GET /report.csv?month=YYYY-MM`: the same report as CSV, to save.
pub(super) async fn report_csv(
    signed: Signed,
    State(state): State<AppState>,
    query: Result<Query<MonthQuery>, QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let month = query.month.unwrap_or_else(|| this_month(&state));
    match state.reports.monthly(&signed.current.actor, &month).await {
        // The month was checked by the service: digits and a hyphen.
        Ok(r) => super::download(
            "text/csv; charset=utf-8",
            &format!("laporan-layanan-{}.csv", r.report.month),
            crate::service::reports::to_csv(&r),
        ),
        Err(e) => failure(signed.lang, e),
    }
}

struct EventLine {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "audit.html", config = "src/console/askama.toml")]
struct AuditPage {
    frame: Frame,
    events: Vec<EventLine>,
    next_after: Option<i64>,
    action: String,
    actor: String,
    verified: Option<(bool, u64, String)>,
}

#[derive(Deserialize, Default)]
pub(super) struct AuditPageQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    after: Option<i64>,
    verify: Option<u8>,
}

/// The most characters of an event's summary a row shows.
const SUMMARY_CHARS: usize = 300;

/// `GET /audit`: the trail, oldest first from `after`, filtered by action and actor; with
/// `verify=1`, the whole chain checked.
pub(super) async fn audit(
    signed: Signed,
    State(state): State<AppState>,
    query: Result<Query<AuditPageQuery>, QueryRejection>,
) -> Response {
    let Query(q) = query.unwrap_or_default();
    let actor = &signed.current.actor;
    let filter = AuditQuery {
        action: Some(q.action.trim().to_owned()).filter(|a| !a.is_empty()),
        actor: Some(q.actor.trim().to_owned()).filter(|a| !a.is_empty()),
        after: q.after,
        limit: Some(100),
        ..AuditQuery::default()
    };
    let (events, next_after) = match state.audit.events(actor, &filter).await {
        Ok(e) => e,
        Err(e) => return failure(signed.lang, e),
    };
    let verified = if q.verify == Some(1) {
        match state.audit.verify(actor).await {
            Ok(v) => Some((v.ok, v.events, v.head.unwrap_or_default())),
            Err(e) => return failure(signed.lang, e),
        }
    } else {
        None
    };
    let events = events
        .into_iter()
        .map(|e| EventLine {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            summary: e.summary.to_string().chars().take(SUMMARY_CHARS).collect(),
        })
        .collect();
    render(
        StatusCode::OK,
        &AuditPage {
            frame: Frame::of(&signed),
            events,
            next_after,
            action: q.action,
            actor: q.actor,
            verified,
        },
    )
}

struct FindingLine {
    id: i64,
    kind: String,
    title: String,
    open: bool,
    serious: bool,
    first_seen: String,
    last_seen: String,
    resolved: String,
    evidence: String,
}

#[derive(Template)]
#[template(path = "subdomain.html", config = "src/console/askama.toml")]
struct SubdomainPage {
    frame: Frame,
    name: String,
    agency: String,
    records: Vec<String>,
    request: Option<i64>,
    suspended: Option<String>,
    findings: Vec<FindingLine>,
    can_check: bool,
    can_suspend: bool,
    saved: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /subdomains/{name}`: one name of the register with the oversight checker's findings
/// (to its agency and the office), a check on demand (the office's staff) and, for an admin,
/// the suspension from a serious finding.
pub(super) async fn subdomain(
    signed: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let actor = &signed.current.actor;
    let entry = match state.zones.subdomain(actor, &name).await {
        Ok(e) => e,
        Err(e) => return failure(signed.lang, e),
    };
    let findings = if entry.contact_visible {
        match state.oversight.findings(&name).await {
            Ok(f) => f,
            Err(e) => return failure(signed.lang, e),
        }
    } else {
        Vec::new()
    };
    let t = signed.lang.text();
    let findings = findings
        .into_iter()
        .rev()
        .map(|f| FindingLine {
            id: f.id,
            title: t.finding_of(&f.kind).to_owned(),
            serious: crate::domain::finding::FindingKind::parse(&f.kind)
                .is_some_and(|k| k.serious()),
            open: f.resolved_at.is_none(),
            resolved: f.resolved_at.unwrap_or_default(),
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            evidence: f.evidence,
            kind: f.kind,
        })
        .collect();
    render(
        StatusCode::OK,
        &SubdomainPage {
            frame: Frame::of(&signed),
            agency: entry.agency.clone().unwrap_or_default(),
            records: entry
                .records
                .iter()
                .map(|(rtype, ttl, value)| format!("{rtype} {ttl} {value}"))
                .collect(),
            request: entry.request.as_ref().map(|r| r.id),
            suspended: entry.suspension.as_ref().map(|s| s.reason.clone()),
            findings,
            can_check: crate::domain::access::may_run_checks(actor),
            can_suspend: crate::domain::access::may_manage_zones(actor),
            saved: query.saved.is_some(),
            name: entry.name,
        },
    )
}

/// `POST /subdomains/{name}/check`: check the name now, then show it again.
pub(super) async fn check(
    signed: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    if !same_token(&form.csrf, &signed.current.csrf) {
        return forged(&signed);
    }
    let back = format!("/subdomains/{}", name.trim().trim_end_matches('.'));
    match state
        .oversight
        .check_now(&signed.current.actor, &name, Utc::now())
        .await
    {
        Ok(_) => Redirect::to(&format!("{back}?saved=1")).into_response(),
        Err(e) => failure_back(signed.lang, e, back),
    }
}

/// `POST /findings/{id}/suspend`: an admin suspends the finding's name, the finding its
/// reason.
pub(super) async fn suspend_for_finding(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    if !same_token(&form.csrf, &signed.current.csrf) {
        return forged(&signed);
    }
    let Ok(id) = id.parse::<i64>() else {
        return failure(
            signed.lang,
            crate::service::ServiceError::NotFound(format!("finding {id}")),
        );
    };
    match state
        .subdomains
        .suspend_for_finding(&signed.current.actor, id, Utc::now())
        .await
    {
        Ok(s) => {
            Redirect::to(&format!("/subdomains/{}", s.owner.trim_end_matches('.'))).into_response()
        }
        Err(e) => failure_back(signed.lang, e, "/register".into()),
    }
}
