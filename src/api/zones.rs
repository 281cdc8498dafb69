//! `/api/v1/zones` (zone state, records, export), `/api/v1/subdomains` (the register, each
//! name with its findings, checks on demand, suspensions) and `/api/v1/findings`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::AppState;
use super::auth::AuthUser;
use super::body::JsonBody;
use super::problem::{Problem, ProblemDetails};
use super::requests::RecordBody;
use super::time::Timestamp;
use crate::service::requests::Contact;
use crate::service::subdomains::Suspension;
use crate::service::zones::{RecordEntry, RegisterEntry, ZoneDnssec, ZoneState};

/// The routes of these resources.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/zones", get(list))
        .route("/api/v1/zones/{zone}", get(one))
        .route("/api/v1/zones/{zone}/records", get(records))
        .route("/api/v1/zones/{zone}/export", get(export))
        .route("/api/v1/subdomains", get(subdomains))
        .route("/api/v1/subdomains/{name}", get(subdomain))
        .route("/api/v1/subdomains/{name}/check", post(check))
        .route("/api/v1/subdomains/{name}/confirm", post(confirm))
        .route("/api/v1/confirmations", get(confirmations))
        .route(
            "/api/v1/subdomains/{name}/end_date",
            axum::routing::put(set_end_date).delete(clear_end_date),
        )
        .route("/api/v1/findings/{id}/suspend", post(suspend_for_finding))
        .route("/api/v1/subdomains/{name}/suspend", post(suspend))
        .route("/api/v1/subdomains/{name}/unsuspend", post(unsuspend))
}

/// The zone's last change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LastChangeBody {
    /// The serial it produced.
    pub serial: u32,
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
    /// The request that caused it.
    pub request: Option<i64>,
}

/// A secondary of the zone as last seen.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecondaryBody {
    /// The zone's apex, absolute.
    pub zone: String,
    /// Where NOTIFY goes.
    pub secondary: String,
    /// The serial its SOA answered at the last poll.
    pub served_serial: Option<u32>,
    /// Whether that is the zone's current serial.
    pub in_sync: bool,
    /// Changes it does not have yet (null: unknown).
    pub lag_changes: Option<u64>,
    /// Seconds since the first change it does not have.
    pub lag_seconds: Option<i64>,
    /// When it was last polled.
    pub polled_at: Option<Timestamp>,
    /// Why the last poll failed.
    pub poll_error: Option<String>,
    /// When the last NOTIFY was sent.
    pub last_notify_at: Option<Timestamp>,
    /// The serial announced.
    pub last_notify_serial: Option<u32>,
    /// `acknowledged`, or what went wrong.
    pub last_notify_result: Option<String>,
    /// When it last pulled a transfer.
    pub last_transfer_at: Option<Timestamp>,
    /// `axfr`, `ixfr` or `up_to_date`.
    pub last_transfer_kind: Option<String>,
    /// The serial transferred.
    pub last_transfer_serial: Option<u32>,
}

/// A zone's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneBody {
    /// The apex, without the trailing dot.
    pub zone: String,
    /// The SOA serial served now.
    pub serial: u32,
    /// Records served.
    pub records: usize,
    /// Names served.
    pub names: usize,
    /// The last change.
    pub last_change: Option<LastChangeBody>,
    /// The secondaries.
    pub secondaries: Vec<SecondaryBody>,
    /// DNSSEC: whether the zone is signed, its keys with their stages, and the DS records to
    /// give the registry.
    pub dnssec: ZoneDnssec,
}

impl ZoneBody {
    fn of(z: ZoneState) -> Result<Self, Problem> {
        let at = |t: Option<String>| Timestamp::stored_opt(t.as_deref(), "secondary time");
        Ok(Self {
            zone: z.zone,
            serial: z.serial,
            records: z.records,
            names: z.names,
            last_change: z
                .last_change
                .map(|c| {
                    Ok::<_, Problem>(LastChangeBody {
                        serial: c.serial,
                        at: Timestamp::stored(&c.at, "zone change time")?,
                        reason: c.reason,
                        request: c.request_id,
                    })
                })
                .transpose()?,
            secondaries: z
                .secondaries
                .into_iter()
                .map(|s| {
                    Ok(SecondaryBody {
                        zone: s.state.zone,
                        secondary: s.state.secondary,
                        served_serial: s.state.served_serial,
                        in_sync: s.in_sync,
                        lag_changes: s.lag_changes,
                        lag_seconds: s.lag_seconds,
                        polled_at: at(s.state.polled_at)?,
                        poll_error: s.state.poll_error,
                        last_notify_at: at(s.state.last_notify_at)?,
                        last_notify_serial: s.state.last_notify_serial,
                        last_notify_result: s.state.last_notify_result,
                        last_transfer_at: at(s.state.last_transfer_at)?,
                        last_transfer_kind: s.state.last_transfer_kind,
                        last_transfer_serial: s.state.last_transfer_serial,
                    })
                })
                .collect::<Result<_, Problem>>()?,
            dnssec: z.dnssec,
        })
    }
}

/// Every zone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneList {
    /// The zones.
    pub items: Vec<ZoneBody>,
}

/// A record with its provenance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneRecordBody {
    /// Owner name, absolute.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL.
    pub ttl: u32,
    /// Data in master-file form.
    pub value: String,
    /// Owning agency's code.
    pub agency: Option<String>,
    /// The request that created it.
    pub request: Option<i64>,
}

impl From<RecordEntry> for ZoneRecordBody {
    fn from(r: RecordEntry) -> Self {
        Self {
            name: r.name,
            rtype: r.rtype,
            ttl: r.ttl,
            value: r.value,
            agency: r.agency,
            request: r.request,
        }
    }
}

/// A zone's records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneRecordList {
    /// The records, by owner name.
    pub items: Vec<ZoneRecordBody>,
}

/// A certificate as the register shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisterCertificate {
    /// Its state.
    pub status: String,
    /// The current chain's serial.
    pub serial: Option<String>,
    /// Its expiry.
    pub not_after: Option<Timestamp>,
}

/// A suspension as the register shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisterSuspension {
    /// Why.
    pub reason: String,
    /// Since when.
    pub since: Timestamp,
}

/// One name of the register (daftar subdomain).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisterBody {
    /// The name, without the trailing dot.
    pub name: String,
    /// Its zone.
    pub zone: String,
    /// The owning agency's code.
    pub agency: Option<String>,
    /// Its records.
    pub records: Vec<RecordBody>,
    /// The request that last made or changed it.
    pub request: Option<i64>,
    /// What it is for.
    pub purpose: Option<String>,
    /// The contact person: only for the owning agency and the office.
    pub contact: Option<Contact>,
    /// The name's certificate, or null when it has none.
    pub certificate: Option<RegisterCertificate>,
    /// Whether the request asked for a certificate.
    pub certificate_requested: Option<bool>,
    /// `active` or `suspended`.
    pub state: String,
    /// The suspension, while suspended.
    pub suspension: Option<RegisterSuspension>,
    /// When its first record was written.
    pub created_at: Option<Timestamp>,
    /// The kinds of its open findings (the oversight checker's): for the owning agency and the
    /// office; empty for others.
    pub open_findings: Vec<String>,
    /// How its request letter arrived and what it states, when the front office recorded it:
    /// only for the owning agency and the office.
    pub letter: Option<super::requests::LetterBody>,
}

impl RegisterBody {
    fn of(e: RegisterEntry) -> Result<Self, Problem> {
        let contact = e
            .request
            .as_ref()
            .filter(|_| e.contact_visible)
            .and_then(|r| serde_json::from_value(r.data.contact.clone()).ok());
        Ok(Self {
            name: e.name,
            zone: e.zone,
            agency: e.agency,
            records: e
                .records
                .into_iter()
                .map(|(rtype, ttl, value)| RecordBody { rtype, value, ttl })
                .collect(),
            request: e.request.as_ref().map(|r| r.id),
            // Like the contact: the agency's and the office's to see.
            letter: e
                .request
                .as_ref()
                .filter(|_| e.contact_visible)
                .and_then(|r| r.data.letter.as_ref())
                .map(super::requests::LetterBody::of),
            purpose: e.request.as_ref().map(|r| r.data.purpose.clone()),
            contact,
            certificate: e
                .certificate
                .map(|c| {
                    Ok::<_, Problem>(RegisterCertificate {
                        status: c.status.as_str().into(),
                        not_after: Timestamp::stored_opt(
                            c.not_after.as_deref(),
                            "certificate time",
                        )?,
                        serial: c.serial,
                    })
                })
                .transpose()?,
            certificate_requested: e.request.as_ref().map(|r| r.data.certificate),
            state: if e.suspension.is_some() {
                "suspended"
            } else {
                "active"
            }
            .into(),
            suspension: e
                .suspension
                .map(|s| {
                    Ok::<_, Problem>(RegisterSuspension {
                        since: Timestamp::stored(&s.suspended_at, "suspension time")?,
                        reason: s.reason,
                    })
                })
                .transpose()?,
            created_at: Timestamp::stored_opt(e.created_at.as_deref(), "record time")?,
            open_findings: if e.contact_visible {
                e.findings
            } else {
                Vec::new()
            },
        })
    }
}

/// The register.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisterList {
    /// Every name below a zone's apex that has records.
    pub items: Vec<RegisterBody>,
}

/// A suspension.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuspensionBody {
    /// The name, without the trailing dot.
    pub name: String,
    /// Why.
    pub reason: String,
    /// When.
    pub suspended_at: Timestamp,
    /// When it was lifted.
    pub lifted_at: Option<Timestamp>,
}

impl SuspensionBody {
    fn of(s: Suspension) -> Result<Self, Problem> {
        Ok(Self {
            name: s.owner.trim_end_matches('.').to_owned(),
            suspended_at: Timestamp::stored(&s.suspended_at, "suspension time")?,
            lifted_at: Timestamp::stored_opt(s.lifted_at.as_deref(), "suspension time")?,
            reason: s.reason,
        })
    }
}

#[utoipa::path(get, path = "/api/v1/zones", operation_id = "list_zones", tag = "zones",
    responses((status = 200, description = "Every zone: serial, records, names, last change, secondaries", body = ZoneList)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    _user: AuthUser,
    State(state): State<AppState>,
) -> Result<Json<ZoneList>, Problem> {
    let items = state.zones.list().await?;
    Ok(Json(ZoneList {
        items: items
            .into_iter()
            .map(ZoneBody::of)
            .collect::<Result<_, _>>()?,
    }))
}

#[utoipa::path(get, path = "/api/v1/zones/{zone}", operation_id = "get_zone", tag = "zones", params(("zone" = String, Path)),
    responses((status = 200, description = "The zone's state", body = ZoneBody),
        (status = 404, description = "`not_found`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn one(
    _user: AuthUser,
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<ZoneBody>, Problem> {
    Ok(Json(ZoneBody::of(state.zones.get(&zone).await?)?))
}

#[utoipa::path(get, path = "/api/v1/zones/{zone}/records", operation_id = "list_records", tag = "zones", params(("zone" = String, Path)),
    responses((status = 200, description = "The records with their owning agency and request", body = ZoneRecordList),
        (status = 404, description = "`not_found`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn records(
    _user: AuthUser,
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<ZoneRecordList>, Problem> {
    let items = state.zones.records(&zone).await?;
    Ok(Json(ZoneRecordList {
        items: items.into_iter().map(ZoneRecordBody::from).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/zones/{zone}/export", operation_id = "export_zone", tag = "zones", params(("zone" = String, Path)),
    responses((status = 200, description = "The zone as an RFC 1035 master file", content_type = "text/dns", body = String),
        (status = 403, description = "admins only", body = ProblemDetails),
        (status = 404, description = "`not_found`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn export(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Response, Problem> {
    let text = state.zones.export(&user, &zone).await?;
    Ok(([(header::CONTENT_TYPE, "text/dns; charset=utf-8")], text).into_response())
}

#[utoipa::path(get, path = "/api/v1/subdomains", operation_id = "list_subdomains", tag = "subdomains",
    responses((status = 200, description = "The register (daftar subdomain); CSV with `Accept: text/csv` (one row per name: name, zone, agency, state, records, request, purpose, contact_name, contact_email, contact_phone, certificate_status, certificate_not_after, suspended_since, suspension_reason, created_at); PDF with `Accept: application/pdf` (the office's letterhead and a table of the names)",
        content((RegisterList = "application/json"), (String = "text/csv"), (String = "application/pdf"))),
        (status = 406, description = "`not_acceptable`: `Accept` takes none of JSON, CSV and PDF", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn subdomains(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, Problem> {
    let form = super::negotiate::preferred(
        &headers,
        &["application/json", "text/csv", "application/pdf"],
    )?;
    let vary = (header::VARY, "accept");
    if form == "application/pdf" {
        let pdf = state.zones.register_pdf(&user, chrono::Utc::now()).await?;
        return Ok(([(header::CONTENT_TYPE, "application/pdf"), vary], pdf).into_response());
    }
    let items = state.zones.register(&user).await?;
    if form == "text/csv" {
        let csv = crate::service::zones::register_csv(&items)?;
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), vary],
            csv,
        )
            .into_response());
    }
    let list = RegisterList {
        items: items
            .into_iter()
            .map(RegisterBody::of)
            .collect::<Result<_, _>>()?,
    };
    Ok(([vary], Json(list)).into_response())
}

/// The body of a suspension.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuspendBody {
    /// Why (required).
    pub(crate) reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/subdomains/{name}/suspend", operation_id = "suspend_subdomain", tag = "subdomains", params(("name" = String, Path)),
    request_body = SuspendBody,
    responses((status = 200, description = "Suspended: the records left the zone", body = SuspensionBody),
        (status = 403, description = "admins only", body = ProblemDetails),
        (status = 404, description = "no such subdomain", body = ProblemDetails),
        (status = 409, description = "suspended already", body = ProblemDetails),
        (status = 422, description = "a reason is required", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn suspend(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SuspendBody>,
) -> Result<Json<SuspensionBody>, Problem> {
    let s = state
        .subdomains
        .suspend(
            &user,
            &name,
            body.reason.as_deref().unwrap_or(""),
            chrono::Utc::now(),
        )
        .await?;
    Ok(Json(SuspensionBody::of(s)?))
}

#[utoipa::path(post, path = "/api/v1/subdomains/{name}/unsuspend", operation_id = "unsuspend_subdomain", tag = "subdomains", params(("name" = String, Path)),
    responses((status = 200, description = "Lifted: the records are back", body = SuspensionBody),
        (status = 403, description = "admins only", body = ProblemDetails),
        (status = 404, description = "no such subdomain", body = ProblemDetails),
        (status = 409, description = "not suspended", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn unsuspend(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SuspensionBody>, Problem> {
    let s = state
        .subdomains
        .lift(&user, &name, chrono::Utc::now())
        .await?;
    Ok(Json(SuspensionBody::of(s)?))
}

/// A finding of the oversight checker.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingBody {
    /// Id (to suspend the name from it).
    pub id: i64,
    /// `dangling_cname`, `dangling_mx`, `unclaimed_service`, `lame_delegation`, `unreachable`,
    /// `tls_mismatch`, `tls_expired`, `certificate_not_served`, `abuse_content` or
    /// `foreign_redirect`.
    pub kind: String,
    /// Whether it lets the name be taken over (or shows it taken): an admin may suspend the
    /// name from it.
    pub serious: bool,
    /// When first found.
    pub first_seen: Timestamp,
    /// When last found.
    pub last_seen: Timestamp,
    /// What was asked and what came back, at the last check that found it.
    pub evidence: String,
    /// When a check found it clear; null while open.
    pub resolved_at: Option<Timestamp>,
    /// Whether an admin suspended the name from it.
    pub suspended: bool,
}

impl FindingBody {
    fn of(f: crate::service::oversight::FindingRow) -> Result<Self, Problem> {
        let kind = crate::domain::finding::FindingKind::parse(&f.kind);
        Ok(Self {
            id: f.id,
            serious: kind.is_some_and(|k| k.serious()),
            first_seen: Timestamp::stored(&f.first_seen, "finding time")?,
            last_seen: Timestamp::stored(&f.last_seen, "finding time")?,
            resolved_at: Timestamp::stored_opt(f.resolved_at.as_deref(), "finding time")?,
            suspended: f.suspension_id.is_some(),
            evidence: f.evidence,
            kind: f.kind,
        })
    }

    fn all(rows: Vec<crate::service::oversight::FindingRow>) -> Result<Vec<Self>, Problem> {
        rows.into_iter().map(Self::of).collect()
    }
}

/// One name of the register with its findings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubdomainBody {
    /// The name as the register shows it.
    #[serde(flatten)]
    pub entry: RegisterBody,
    /// Its findings, open and the latest resolved (at most 50), oldest first: for the owning
    /// agency and the office; empty for others.
    pub findings: Vec<FindingBody>,
    /// The last day it is served, when it was given for a time (`YYYY-MM-DD`); null when not.
    pub end_date: Option<String>,
    /// Its yearly confirmation (null before the confirmation began for it): for the agency
    /// that holds it and the office.
    pub confirmation: Option<ConfirmationBody>,
}

/// A name's findings after a check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckBody {
    /// The name checked.
    pub name: String,
    /// Its findings, open and the latest resolved (at most 50), oldest first.
    pub findings: Vec<FindingBody>,
}

#[utoipa::path(get, path = "/api/v1/subdomains/{name}", operation_id = "get_subdomain", tag = "subdomains", params(("name" = String, Path)),
    responses((status = 200, description = "The name as the register shows it, with its findings", body = SubdomainBody),
        (status = 404, description = "no such subdomain", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn subdomain(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SubdomainBody>, Problem> {
    let entry = state.zones.subdomain(&user, &name).await?;
    // What could be taken over, and how, is for the agency that holds the name and the
    // office, as the emails are.
    let findings = if entry.contact_visible {
        state.oversight.findings(&name).await?
    } else {
        Vec::new()
    };
    let end_date = state.expiry.term_of(&name).await?.map(|t| t.ends_on);
    let confirmation = if entry.contact_visible {
        state
            .confirmations
            .of(&name, chrono::Utc::now())
            .await?
            .map(ConfirmationBody::from)
    } else {
        None
    };
    Ok(Json(SubdomainBody {
        entry: RegisterBody::of(entry)?,
        findings: FindingBody::all(findings)?,
        end_date,
        confirmation,
    }))
}

#[utoipa::path(post, path = "/api/v1/subdomains/{name}/check", operation_id = "check_subdomain", tag = "subdomains", params(("name" = String, Path)),
    responses((status = 200, description = "Checked now (DNS, web, TLS, the page): its findings", body = CheckBody),
        (status = 403, description = "the office's staff only", body = ProblemDetails),
        (status = 404, description = "no such subdomain", body = ProblemDetails),
        (status = 409, description = "the name is suspended: nothing of it is served to check", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn check(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CheckBody>, Problem> {
    let findings = state
        .oversight
        .check_now(&user, &name, chrono::Utc::now())
        .await?;
    Ok(Json(CheckBody {
        name: name.trim().trim_end_matches('.').to_ascii_lowercase(),
        findings: FindingBody::all(findings)?,
    }))
}

#[utoipa::path(post, path = "/api/v1/findings/{id}/suspend", operation_id = "suspend_for_finding", tag = "subdomains", params(("id" = i64, Path)),
    responses((status = 200, description = "The finding's name is suspended, the finding its reason", body = SuspensionBody),
        (status = 403, description = "admins only", body = ProblemDetails),
        (status = 404, description = "no such finding", body = ProblemDetails),
        (status = 409, description = "resolved, not serious, last seen more than 48 hours ago, or the name is suspended already", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn suspend_for_finding(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SuspensionBody>, Problem> {
    // Any text is a path segment: what is no finding's number is no finding.
    let id: i64 = id.parse().map_err(|_| {
        Problem::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("no finding {id}"),
        )
    })?;
    let s = state
        .subdomains
        .suspend_for_finding(&user, id, chrono::Utc::now())
        .await?;
    Ok(Json(SuspensionBody::of(s)?))
}

/// A name's end date.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndDateBody {
    /// The last day the name is served, `YYYY-MM-DD` (the office calendar's day): from
    /// tomorrow, at most five years ahead.
    pub end_date: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/subdomains/{name}/end_date", operation_id = "set_subdomain_end_date", tag = "subdomains", params(("name" = String, Path)),
    request_body = EndDateBody,
    responses((status = 200, description = "Set: the agency is told 30, 7 and 1 days before; the day after, the name is suspended; after the grace period, removed", body = EndDateBody),
        (status = 403, description = "admins only", body = ProblemDetails),
        (status = 404, description = "no such subdomain", body = ProblemDetails),
        (status = 409, description = "the name is suspended", body = ProblemDetails),
        (status = 422, description = "`end_date` is not a date from tomorrow to five years ahead", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn set_end_date(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<EndDateBody>,
) -> Result<Json<EndDateBody>, Problem> {
    let term = state
        .expiry
        .set_end(
            &user,
            &name,
            body.end_date.as_deref().unwrap_or(""),
            chrono::Utc::now(),
        )
        .await?;
    Ok(Json(EndDateBody {
        end_date: Some(term.ends_on),
    }))
}

#[utoipa::path(delete, path = "/api/v1/subdomains/{name}/end_date", operation_id = "clear_subdomain_end_date", tag = "subdomains", params(("name" = String, Path)),
    responses((status = 204, description = "The name is served without an end"),
        (status = 403, description = "admins only", body = ProblemDetails),
        (status = 404, description = "no such subdomain, or it has no end date", body = ProblemDetails),
        (status = 409, description = "the name is suspended at the end of its term: lift the suspension first", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn clear_end_date(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::http::StatusCode, Problem> {
    state
        .expiry
        .clear_end(&user, &name, chrono::Utc::now())
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A name's yearly confirmation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfirmationBody {
    /// The name.
    pub name: String,
    /// The holding agency's code.
    pub agency: Option<String>,
    /// The last day to confirm (`YYYY-MM-DD`).
    pub due_on: String,
    /// `awaiting` (never confirmed, the first due day ahead), `confirmed`, `due` (within 30
    /// days: reminders go out), `unconfirmed` (the due day passed: suspended after the grace
    /// period) or `suspended`.
    pub state: String,
    /// When last confirmed.
    pub confirmed_at: Option<String>,
    /// The person responsible, as last said (`name`, `email`, `phone`).
    pub contact: Option<serde_json::Value>,
    /// What the name is for, as last said.
    pub purpose: Option<String>,
}

impl From<crate::service::confirmation::ConfirmationView> for ConfirmationBody {
    fn from(v: crate::service::confirmation::ConfirmationView) -> Self {
        Self {
            name: v.name,
            agency: v.agency,
            due_on: v.due_on,
            state: v.state.into(),
            confirmed_at: v.confirmed_at,
            contact: v.contact,
            purpose: v.purpose,
        }
    }
}

/// The confirmations the caller may see.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfirmationList {
    /// By name.
    pub items: Vec<ConfirmationBody>,
}

/// What a confirmation says.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The person responsible for the name now.
    pub contact: Contact,
    /// What the name is for.
    pub purpose: String,
}

#[utoipa::path(post, path = "/api/v1/subdomains/{name}/confirm", operation_id = "confirm_subdomain", tag = "subdomains", params(("name" = String, Path)),
    request_body = ConfirmBody,
    responses((status = 200, description = "Confirmed for another year (a name suspended for the lack of it is restored)", body = ConfirmationBody),
        (status = 403, description = "the agency that holds the name (or an admin) only", body = ProblemDetails),
        (status = 404, description = "no such subdomain", body = ProblemDetails),
        (status = 422, description = "a person, an email address and a purpose are required", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn confirm(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<ConfirmBody>,
) -> Result<Json<ConfirmationBody>, Problem> {
    let view = state
        .confirmations
        .confirm(
            &user,
            &name,
            &body.contact,
            &body.purpose,
            chrono::Utc::now(),
        )
        .await?;
    Ok(Json(view.into()))
}

#[utoipa::path(get, path = "/api/v1/confirmations", operation_id = "list_confirmations", tag = "subdomains",
    responses((status = 200, description = "The yearly confirmation of each name the caller looks after (an applicant: its agency's) or oversees (the office, auditors)", body = ConfirmationList)),
    security(("bearer" = [])))]
pub(crate) async fn confirmations(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
) -> Result<Json<ConfirmationList>, Problem> {
    let items = state
        .confirmations
        .list(&user, chrono::Utc::now())
        .await?
        .into_iter()
        .map(ConfirmationBody::from)
        .collect();
    Ok(Json(ConfirmationList { items }))
}
