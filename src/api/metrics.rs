//! `GET /metrics`: Prometheus text format. Counters are kept as things happen; the gauges of
//! state (zones, secondaries, requests, outbox, audit trail) are set from the current state
//! on each read.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::telemetry::metrics::RequestLabels;

/// Prometheus metrics in the text format; state gauges are set from the current state first.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format: zones, secondaries, NOTIFY, transfers, TSIG failures", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let zones = state.requests.publisher().zones();
    for origin in zones.origins() {
        if let Some(zone) = zones.get(&origin) {
            let view = zone.view();
            let labels = crate::telemetry::metrics::ZoneLabels {
                zone: crate::telemetry::metrics::zone_label(&origin.to_string()),
            };
            state
                .metrics
                .zone_serial
                .get_or_create(&labels)
                .set(i64::from(view.serial()));
            state
                .metrics
                .zone_records
                .get_or_create(&labels)
                .set(i64::try_from(view.record_count()).unwrap_or(i64::MAX));
        }
    }
    state.secondaries.refresh_gauges().await;
    let store = &state.readiness.store;
    if let Ok((pending, _)) = store.outbox_backlog().await {
        state.metrics.outbox_backlog.set(pending);
    }
    if let Ok(events) = store.audit_count().await {
        state.metrics.audit_events.set(events);
    }
    if let Err(e) = set_certificate_gauges(&state).await {
        tracing::warn!(error = %e, "cannot count the certificates for the metrics");
    }
    if let Err(e) = set_request_gauges(&state).await {
        tracing::warn!(error = %e, "cannot count the requests for the metrics");
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Requests by state and step (counted in the store), and how many open ones are overdue (only
/// the open requests are read: their due times come from the workflow and the calendar).
async fn set_request_gauges(state: &AppState) -> Result<(), crate::store::StoreError> {
    let store = &state.readiness.store;
    let wf = state.requests.workflow();
    let step_id = |i: Option<i64>| {
        i.and_then(|i| usize::try_from(i).ok())
            .and_then(|i| wf.steps.get(i))
            .map(|s| s.id.clone())
            .unwrap_or_default()
    };
    // Every known state and step appears, at 0 when empty, so that dashboards see them.
    let mut counts = std::collections::HashMap::new();
    for status in [
        "in_review",
        "returned",
        "completed",
        "rejected",
        "withdrawn",
    ] {
        let steps: Vec<String> = if status == "in_review" || status == "returned" {
            wf.steps.iter().map(|s| s.id.clone()).collect()
        } else {
            vec![String::new()]
        };
        for step in steps {
            counts.insert(
                RequestLabels {
                    status: status.into(),
                    step,
                },
                0,
            );
        }
    }
    for (status, step, n) in store.request_counts().await? {
        counts.insert(
            RequestLabels {
                status,
                step: step_id(step),
            },
            n,
        );
    }
    for (labels, n) in counts {
        state.metrics.requests.get_or_create(&labels).set(n);
    }
    let now = chrono::Utc::now();
    let overdue = store
        .list_requests(Some("in_review"), None)
        .await?
        .iter()
        .filter(|r| crate::domain::request::is_overdue(&r.state, wf, &state.calendar, now))
        .count();
    state
        .metrics
        .requests_overdue
        .set(i64::try_from(overdue).unwrap_or(i64::MAX));
    Ok(())
}

/// Certificates by state, and days to expiry of each current chain (one read of the table).
async fn set_certificate_gauges(state: &AppState) -> Result<(), crate::store::StoreError> {
    use crate::domain::certificate::CertStatus;
    use crate::telemetry::metrics::{CertNameLabels, CertStatusLabels};
    let certificates = state.readiness.store.certificates().await?;
    for status in CertStatus::ALL {
        let n = certificates.iter().filter(|c| c.status == status).count();
        state
            .metrics
            .certificates
            .get_or_create(&CertStatusLabels {
                status: status.as_str().into(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    let now = chrono::Utc::now();
    state.metrics.certificate_expiry_days.clear();
    for c in certificates {
        if matches!(c.status, CertStatus::Revoking | CertStatus::Revoked) {
            continue;
        }
        let Some(not_after) = c
            .not_after
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            continue;
        };
        let days = (not_after.with_timezone(&chrono::Utc) - now).num_seconds() as f64 / 86_400.0;
        state
            .metrics
            .certificate_expiry_days
            .get_or_create(&CertNameLabels { name: c.name })
            .set(days);
    }
    Ok(())
}
