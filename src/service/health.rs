//! Health, readiness and the state gauges of `/metrics`: what operations staff watch. Counters
//! are kept where things happen; the gauges of state (zones, secondaries, requests, outbox,
//! audit trail, certificates) are set from the current state on each read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ServiceError;
use super::requests::Requests;
use crate::dns::Zones;
use crate::dns::secondaries::Secondaries;
use crate::store::Store;
use crate::telemetry::metrics::{Metrics, RequestLabels};

/// How long `/readyz` waits for the store to answer.
const STORE_PROBE: std::time::Duration = std::time::Duration::from_secs(2);

/// What `/readyz` reports.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// Whether every check passed.
    pub ready: bool,
    /// The store answers.
    pub store: bool,
    /// The DNS listeners are bound.
    pub dns_listening: bool,
    /// The zones are loaded from the store.
    pub zones_loaded: bool,
    /// Each zone served: apex, serial, records.
    pub zones: Vec<(String, u32, usize)>,
}

/// Health and the gauges.
pub struct Health {
    store: Store,
    zones: Arc<Zones>,
    publisher: Arc<crate::publish::Publisher>,
    requests: Arc<Requests>,
    secondaries: Arc<Secondaries>,
    metrics: Arc<Metrics>,
    /// Set once the DNS listeners are bound (and cleared at shutdown).
    pub dns_listening: AtomicBool,
    /// Set once the zones are loaded from the store.
    pub zones_loaded: AtomicBool,
}

impl Health {
    /// The service over what it watches.
    pub fn new(
        store: Store,
        publisher: Arc<crate::publish::Publisher>,
        requests: Arc<Requests>,
        secondaries: Arc<Secondaries>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            zones: publisher.zones().clone(),
            publisher,
            requests,
            secondaries,
            metrics,
            dns_listening: false.into(),
            zones_loaded: false.into(),
        }
    }

    /// The store answers, DNS is listening and the zones are loaded.
    pub async fn readiness(&self) -> Readiness {
        // A database that cannot be reached must not hold the probe for the pool's whole
        // acquire timeout: not ready is the answer after two seconds.
        let store = tokio::time::timeout(STORE_PROBE, self.store.ping())
            .await
            .is_ok_and(|pinged| pinged.is_ok());
        let dns_listening = self.dns_listening.load(Ordering::Acquire);
        let zones_loaded = self.zones_loaded.load(Ordering::Acquire);
        let zones = self
            .zones
            .views()
            .iter()
            .map(|v| (v.origin().to_string(), v.serial(), v.record_count()))
            .collect();
        Readiness {
            ready: store && dns_listening && zones_loaded,
            store,
            dns_listening,
            zones_loaded,
            zones,
        }
    }

    /// Set the state gauges from the current state, then render every metric in the
    /// Prometheus text format.
    pub async fn metrics(&self) -> String {
        for origin in self.zones.origins() {
            if let Some(zone) = self.zones.get(&origin) {
                let view = zone.view();
                let labels = crate::telemetry::metrics::ZoneLabels {
                    zone: crate::telemetry::metrics::zone_label(&origin.to_string()),
                };
                self.metrics
                    .zone_serial
                    .get_or_create(&labels)
                    .set(i64::from(view.serial()));
                self.metrics
                    .zone_records
                    .get_or_create(&labels)
                    .set(i64::try_from(view.record_count()).unwrap_or(i64::MAX));
            }
        }
        // The serials in the store beside the ones served (they differ while this instance
        // has not followed a change made elsewhere yet).
        if let Ok(stored) = self.store.zone_serials().await {
            for (origin, serial) in stored {
                let labels = crate::telemetry::metrics::ZoneLabels {
                    zone: crate::telemetry::metrics::zone_label(&origin.to_string()),
                };
                self.metrics
                    .store_serial
                    .get_or_create(&labels)
                    .set(i64::from(serial));
            }
        }
        let commits = self.publisher.commit_counts();
        // The publisher counts; the counters show its figures.
        self.metrics
            .zone_commits
            .inner()
            .store(commits.commits, std::sync::atomic::Ordering::Relaxed);
        self.metrics
            .zone_committed_changes
            .inner()
            .store(commits.changes, std::sync::atomic::Ordering::Relaxed);
        let cache = self.zones.cache_budget();
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics
            .dns_answer_cache_bytes
            .set(as_i64(cache.used()));
        self.metrics
            .dns_answer_cache_limit_bytes
            .set(as_i64(cache.limit()));
        if let Err(e) = self.set_dnssec_gauges().await {
            tracing::warn!(error = %e, "cannot read the DNSSEC keys for the metrics");
        }
        self.secondaries.refresh_gauges().await;
        if let Ok((pending, _)) = self.store.outbox_backlog().await {
            self.metrics.outbox_backlog.set(pending);
        }
        if let Ok(events) = self.store.audit_count().await {
            self.metrics.audit_events.set(events);
        }
        if let Err(e) = self.set_certificate_gauges().await {
            tracing::warn!(error = %e, "cannot count the certificates for the metrics");
        }
        if let Ok(counts) = self.store.open_finding_counts().await {
            // Every kind shows, at 0 when none is open.
            for kind in crate::domain::finding::FindingKind::ALL {
                let n = counts
                    .iter()
                    .find(|(k, _)| k == kind.as_str())
                    .map_or(0, |(_, n)| *n);
                self.metrics
                    .findings_open
                    .get_or_create(&crate::telemetry::metrics::KindLabels {
                        kind: kind.as_str().into(),
                    })
                    .set(n);
            }
        }
        if let Ok(counts) = self.store.open_complaints(chrono::Utc::now()).await {
            // Every category shows, at 0 when none waits.
            for c in crate::domain::complaint::Category::ALL {
                let (open, overdue) = counts
                    .iter()
                    .find(|(k, _, _)| k == c.as_str())
                    .map_or((0, 0), |(_, o, d)| (*o, *d));
                let labels = crate::telemetry::metrics::CategoryLabels {
                    category: c.as_str().into(),
                };
                self.metrics
                    .complaints_open
                    .get_or_create(&labels)
                    .set(open);
                self.metrics
                    .complaints_overdue
                    .get_or_create(&labels)
                    .set(overdue);
            }
        }
        if let Err(e) = self.set_request_gauges().await {
            tracing::warn!(error = %e, "cannot count the requests for the metrics");
        }
        self.metrics.render()
    }

    /// Requests by state and step (counted in the store), and how many open ones are overdue (only
    /// the open requests are read: their due times come from the workflow and the calendar).
    async fn set_request_gauges(&self) -> Result<(), ServiceError> {
        let store = &self.store;
        let wf = self.requests.workflow();
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
            self.metrics.requests.get_or_create(&labels).set(n);
        }
        let overdue = self.requests.overdue_count(chrono::Utc::now()).await?;
        self.metrics
            .requests_overdue
            .set(i64::try_from(overdue).unwrap_or(i64::MAX));
        let late = self
            .requests
            .service_overdue_count(chrono::Utc::now())
            .await?;
        self.metrics
            .requests_service_overdue
            .set(i64::try_from(late).unwrap_or(i64::MAX));
        Ok(())
    }

    /// Certificates by state, and days to expiry of each current chain (one read of the table).
    async fn set_dnssec_gauges(&self) -> Result<(), ServiceError> {
        use crate::telemetry::metrics::{KeyLabels, ZoneLabels, zone_label};
        self.metrics.dnssec_keys.clear();
        self.metrics.dnssec_signature_expiry.clear();
        let now = chrono::Utc::now().timestamp();
        for origin in self.zones.origins() {
            let name = hickory_proto::rr::Name::from(origin.clone());
            let zone = zone_label(&origin.to_string());
            let keys = crate::service::dnssec::key_reports(&self.store, &name)
                .await
                .map_err(|e| ServiceError::Internal {
                    what: "DNSSEC keys".into(),
                    cause: e.to_string(),
                })?;
            for k in keys.iter().filter(|k| k.state != "removed") {
                let ds = match (k.submitted, k.ds_seen) {
                    (_, true) => "at_parent",
                    (true, false) => "awaited",
                    (false, false) => "-",
                };
                self.metrics
                    .dnssec_keys
                    .get_or_create(&KeyLabels {
                        zone: zone.clone(),
                        tag: k.tag.to_string(),
                        role: k.role.clone(),
                        state: k.state.clone(),
                        ds: ds.into(),
                    })
                    .set(1);
            }
            if let Some(expiry) = self
                .zones
                .get(&origin)
                .and_then(|h| h.view().first_expiry())
            {
                self.metrics
                    .dnssec_signature_expiry
                    .get_or_create(&ZoneLabels { zone })
                    .set(i64::from(expiry) - now);
            }
        }
        Ok(())
    }

    async fn set_certificate_gauges(&self) -> Result<(), ServiceError> {
        use crate::domain::certificate::CertStatus;
        use crate::telemetry::metrics::{CertNameLabels, CertStatusLabels};
        let certificates = self.store.certificates().await?;
        for status in CertStatus::ALL {
            let n = certificates.iter().filter(|c| c.status == status).count();
            self.metrics
                .certificates
                .get_or_create(&CertStatusLabels {
                    status: status.as_str().into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let now = chrono::Utc::now();
        self.metrics.certificate_expiry_days.clear();
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
            let days =
                (not_after.with_timezone(&chrono::Utc) - now).num_seconds() as f64 / 86_400.0;
            self.metrics
                .certificate_expiry_days
                .get_or_create(&CertNameLabels { name: c.name })
                .set(days);
        }
        Ok(())
    }
}
