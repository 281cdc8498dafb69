//! Prometheus metrics (`GET /metrics`), through `prometheus-client`.
//!
//! Counters are bumped where things happen; gauges that describe state (zone serials, records,
//! each secondary's serial and lag) are set from the current state when the metrics are read,
//! so they are never stale.
//!
//! Every label value comes from our own names: the zones we serve, the configured secondaries,
//! the workflow's steps, issued certificates, and fixed words in our source (reasons, kinds,
//! problem codes). Nothing a client sends becomes a label, so the number of series cannot grow
//! with traffic: a transfer asked for a name outside our zones is counted under `zone=""`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::throttle::LogThrottle;

/// Labels of a zone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ZoneLabels {
    /// The zone's apex.
    pub zone: String,
}

/// Labels of a DNSSEC key: the zone's own keys only (a handful; removed keys are not shown).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    /// The zone's apex.
    pub zone: String,
    /// The key tag.
    pub tag: String,
    /// `csk`, `ksk` or `zsk`.
    pub role: String,
    /// `created`, `published`, `active` or `retired`.
    pub state: String,
    /// `-`, `awaited` (its CDS is out, the parent's DS not seen) or `at_parent`.
    pub ds: String,
}

/// Labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `in_review`, `returned`, `completed`, `rejected`, `withdrawn`.
    pub status: String,
    /// The step's id (empty when not at a step).
    pub step: String,
}

/// Labels of a secondary.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SecondaryLabels {
    /// The zone's apex.
    pub zone: String,
    /// The secondary (its NOTIFY address).
    pub secondary: String,
}

/// Labels of a transfer served.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransferLabels {
    /// The zone's apex.
    pub zone: String,
    /// The secondary.
    pub secondary: String,
    /// `axfr`, `ixfr` or `up_to_date`.
    pub kind: String,
}

/// Labels of a refused transfer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The served zone the name asked for falls in; empty for a name outside every zone.
    pub zone: String,
    /// Why.
    pub reason: String,
}

/// Labels of a TSIG failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TsigLabels {
    /// `BADKEY`, `BADSIG` or `BADTIME`.
    pub error: String,
}

/// Labels of a dynamic update's answer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpdateLabels {
    /// The answer's RCODE in lower case (`noerror`, `refused`, `nxrrset`…): a fixed word.
    pub rcode: String,
}

/// Labels of an answer under response rate limiting: fixed values only, never from a packet.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RrlLabels {
    /// `positive`, `nodata`, `nxdomain`, `referral`, `wildcard` or `error`.
    pub kind: &'static str,
    /// `answered`, `slipped` (sent truncated) or `dropped`.
    pub action: &'static str,
}

/// Labels of a count by a fixed reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A word from our source (`max_connections`, `idle`, …).
    pub reason: String,
}

/// Labels of an HTTP problem answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProblemLabels {
    /// The HTTP status.
    pub status: String,
    /// The problem's stable code (`unauthorized`, `not_found`, …).
    pub code: String,
}

/// Labels of a certificate count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertStatusLabels {
    /// `pending`, `issued`, `failed`, `revoking`, `revoked`.
    pub status: String,
}

/// Labels of one certificate.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertNameLabels {
    /// The certificate's name.
    pub name: String,
}

/// Every metric ranah exports.
pub struct Metrics {
    registry: Registry,
    /// Transfers served, by zone, secondary and kind.
    pub transfers: Family<TransferLabels, Counter>,
    /// Transfers refused, by zone and reason.
    pub transfers_refused: Family<RefusalLabels, Counter>,
    /// Signed requests whose TSIG failed.
    pub tsig_failures: Family<TsigLabels, Counter>,
    /// RFC 2136 UPDATE messages answered, by RCODE.
    pub dns_updates: Family<UpdateLabels, Counter>,
    /// UDP answers copied from an answer cache.
    pub dns_answer_cache_hits: Counter,
    /// Cacheable UDP queries answered by a lookup (not in the cache yet, or not kept).
    pub dns_answer_cache_misses: Counter,
    /// Bytes the answer caches hold.
    pub dns_answer_cache_bytes: Gauge,
    /// The answer caches' budget in bytes (`[dns] answer_cache_bytes`).
    pub dns_answer_cache_limit_bytes: Gauge,
    /// Transactions committed for zone changes (a group commit holds several).
    pub zone_commits: Counter,
    /// Zone changes and request decisions those transactions held.
    pub zone_committed_changes: Counter,
    /// UDP answers under response rate limiting, by answer kind and what was sent.
    pub rrl_responses: Family<RrlLabels, Counter>,
    /// NOTIFY messages acknowledged.
    pub notify_acknowledged: Family<SecondaryLabels, Counter>,
    /// NOTIFY attempts that failed (timeout, error answer, bad signature).
    pub notify_failures: Family<SecondaryLabels, Counter>,
    /// The serial of each zone.
    pub zone_serial: Family<ZoneLabels, Gauge>,
    /// Records in each zone.
    pub zone_records: Family<ZoneLabels, Gauge>,
    /// The serial of each zone in the store (beside `zone_serial`, the one served here: they
    /// differ while this instance has not followed another's change yet).
    pub store_serial: Family<ZoneLabels, Gauge>,
    /// Seconds from a change committed by another instance (or process) to this instance
    /// serving it.
    pub follow_lag: Histogram,
    /// 1 while this instance runs the background jobs (always, on SQLite), else 0.
    pub instance_leader: Gauge,
    /// 1 for each live DNSSEC key, labelled with its stage.
    pub dnssec_keys: Family<KeyLabels, Gauge>,
    /// Seconds until the first signature of each signed zone expires.
    pub dnssec_signature_expiry: Family<ZoneLabels, Gauge>,
    /// The serial each secondary serves (last poll).
    pub secondary_serial: Family<SecondaryLabels, Gauge>,
    /// 1 when the secondary serves the current serial.
    pub secondary_in_sync: Family<SecondaryLabels, Gauge>,
    /// Changes the secondary does not have yet.
    pub secondary_lag_changes: Family<SecondaryLabels, Gauge>,
    /// Seconds since the first change the secondary does not have.
    pub secondary_lag_seconds: Family<SecondaryLabels, Gauge>,
    /// Audit events in the trail.
    pub audit_events: Gauge,
    /// Requests by state and step.
    pub requests: Family<RequestLabels, Gauge>,
    /// Requests past their step's due time.
    pub requests_overdue: Gauge,
    /// Requests in review past the whole service's due time.
    pub requests_service_overdue: Gauge,
    /// Messages waiting in the outbox.
    pub outbox_backlog: Gauge,
    /// Messages sent.
    pub outbox_sent: Counter,
    /// Delivery attempts that failed.
    pub outbox_failures: Counter,
    /// Certificates by state.
    pub certificates: Family<CertStatusLabels, Gauge>,
    /// Days until each current certificate expires.
    pub certificate_expiry_days: Family<CertNameLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Certificates issued or renewed.
    pub certificates_issued: Counter,
    /// Failed first issuances.
    pub certificate_issuance_failures: Counter,
    /// Failed renewals.
    pub certificate_renewal_failures: Counter,
    /// DNS-over-TCP connections open.
    pub dns_tcp_connections: Gauge,
    /// DNS-over-TCP connections refused at accept, by limit.
    pub dns_tcp_refused: Family<ReasonLabels, Counter>,
    /// DNS-over-TCP connections closed by ranah, by reason.
    pub dns_tcp_closed: Family<ReasonLabels, Counter>,
    /// HTTP connections open.
    pub http_connections: Gauge,
    /// HTTP connections refused at accept, by limit.
    pub http_connections_refused: Family<ReasonLabels, Counter>,
    /// HTTP connections closed because the headers did not come in time.
    pub http_header_timeouts: Counter,
    /// Idle HTTP connections closed to make room for a new one at the total limit.
    pub http_connections_reclaimed: Counter,
    /// HTTP problems answered, by status and code.
    pub http_problems: Family<ProblemLabels, Counter>,
    /// TLS handshakes of the API that failed, by reason (`no_certificate`, `protocol`).
    pub http_tls_handshake_failures: Family<ReasonLabels, Counter>,
    /// When the certificate the API serves over HTTPS expires (Unix time); 0 when none.
    pub api_certificate_expiry: Gauge,
    /// Open findings of the oversight checker, by kind (every kind, 0 when none).
    pub findings_open: Family<KindLabels, Gauge>,
    /// Names checked by the oversight checker's runs, by outcome (`checked`, `failed`,
    /// `skipped`: left for the next run when the budget ran out).
    pub checks: Family<ReasonLabels, Counter>,
    /// Seconds the last oversight run took.
    pub checker_last_run_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Most sockets the last oversight run held open at once.
    pub checker_last_run_peak_connections: Gauge,
    /// Complaints waiting for an answer, by category (every category, 0 when none).
    pub complaints_open: Family<CategoryLabels, Gauge>,
    /// Of those, past their due time.
    pub complaints_overdue: Family<CategoryLabels, Gauge>,
    /// The one-line-per-interval limit of the log lines a client can cause.
    pub log: std::sync::Arc<LogThrottle>,
}

/// Labels of a complaint count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    /// The complaint's category (`light`, `normative`, `non_supervisory`, `supervisory`).
    pub category: String,
}

/// Labels of a finding count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The finding's kind (a fixed word: `dangling_cname`, `abuse_content`, …).
    pub kind: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ranah");
        let transfers = Family::default();
        registry.register(
            "dns_transfers",
            "Zone transfers served, by kind",
            transfers.clone(),
        );
        let transfers_refused = Family::default();
        registry.register(
            "dns_transfers_refused",
            "Zone transfers refused, by reason",
            transfers_refused.clone(),
        );
        let tsig_failures = Family::default();
        registry.register(
            "dns_tsig_failures",
            "Signed requests whose TSIG check failed",
            tsig_failures.clone(),
        );
        let dns_updates = Family::default();
        registry.register(
            "dns_updates",
            "Dynamic updates (RFC 2136) answered, by RCODE",
            dns_updates.clone(),
        );
        let dns_answer_cache_hits = Counter::default();
        registry.register(
            "dns_answer_cache_hits",
            "UDP answers copied from an answer cache",
            dns_answer_cache_hits.clone(),
        );
        let dns_answer_cache_misses = Counter::default();
        registry.register(
            "dns_answer_cache_misses",
            "Cacheable UDP queries answered by a lookup instead",
            dns_answer_cache_misses.clone(),
        );
        let dns_answer_cache_bytes = Gauge::default();
        registry.register(
            "dns_answer_cache_bytes",
            "Bytes the answer caches hold",
            dns_answer_cache_bytes.clone(),
        );
        let dns_answer_cache_limit_bytes = Gauge::default();
        registry.register(
            "dns_answer_cache_limit_bytes",
            "The answer caches' budget in bytes",
            dns_answer_cache_limit_bytes.clone(),
        );
        let zone_commits = Counter::default();
        registry.register(
            "zone_commits",
            "Transactions committed for zone changes (group commit shares one among changes that arrive together)",
            zone_commits.clone(),
        );
        let zone_committed_changes = Counter::default();
        registry.register(
            "zone_committed_changes",
            "Zone changes and request decisions committed by those transactions",
            zone_committed_changes.clone(),
        );
        let rrl_responses = Family::default();
        registry.register(
            "dns_rrl_responses",
            "UDP answers under response rate limiting, by answer kind and action",
            rrl_responses.clone(),
        );
        let notify_acknowledged = Family::default();
        registry.register(
            "notify_acknowledged",
            "NOTIFY messages acknowledged by secondaries",
            notify_acknowledged.clone(),
        );
        let notify_failures = Family::default();
        registry.register(
            "notify_failures",
            "NOTIFY attempts that failed",
            notify_failures.clone(),
        );
        let zone_serial = Family::default();
        registry.register(
            "zone_serial",
            "SOA serial of each zone",
            zone_serial.clone(),
        );
        let zone_records = Family::default();
        registry.register("zone_records", "Records in each zone", zone_records.clone());
        let store_serial = Family::default();
        registry.register(
            "store_serial",
            "SOA serial of each zone in the store (zone_serial is the one served here)",
            store_serial.clone(),
        );
        // 1 ms to about 16 s.
        let follow_lag = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "follow_lag_seconds",
            "Seconds from a change committed elsewhere to this instance serving it",
            follow_lag.clone(),
        );
        let instance_leader = Gauge::default();
        registry.register(
            "instance_leader",
            "1 while this instance runs the background jobs (the leader), else 0",
            instance_leader.clone(),
        );
        let dnssec_keys = Family::default();
        registry.register(
            "dnssec_keys",
            "1 for each DNSSEC key of a zone that is not removed, by tag, role, stage and DS",
            dnssec_keys.clone(),
        );
        let dnssec_signature_expiry = Family::default();
        registry.register(
            "dnssec_signature_expiry_seconds",
            "Seconds until the first of a signed zone's signatures expires",
            dnssec_signature_expiry.clone(),
        );
        let secondary_serial = Family::default();
        registry.register(
            "secondary_serial",
            "Serial each secondary served at its last poll",
            secondary_serial.clone(),
        );
        let secondary_in_sync = Family::default();
        registry.register(
            "secondary_in_sync",
            "1 when the secondary serves the current serial",
            secondary_in_sync.clone(),
        );
        let secondary_lag_changes = Family::default();
        registry.register(
            "secondary_lag_changes",
            "Zone changes the secondary does not have yet",
            secondary_lag_changes.clone(),
        );
        let secondary_lag_seconds = Family::default();
        registry.register(
            "secondary_lag_seconds",
            "Seconds since the first change the secondary does not have",
            secondary_lag_seconds.clone(),
        );
        let requests = Family::default();
        registry.register("requests", "Requests by state and step", requests.clone());
        let requests_overdue = Gauge::default();
        let requests_service_overdue = Gauge::default();
        registry.register(
            "requests_service_overdue",
            "Requests in review past the whole service's due time (the workflow's service standard)",
            requests_service_overdue.clone(),
        );
        registry.register(
            "requests_overdue",
            "Requests past their step's due time",
            requests_overdue.clone(),
        );
        let audit_events = Gauge::default();
        registry.register(
            "audit_events",
            "Events in the audit trail",
            audit_events.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "outbox_backlog",
            "Messages waiting in the outbox",
            outbox_backlog.clone(),
        );
        let outbox_sent = Counter::default();
        registry.register("outbox_sent", "Messages sent", outbox_sent.clone());
        let outbox_failures = Counter::default();
        registry.register(
            "outbox_failures",
            "Delivery attempts that failed",
            outbox_failures.clone(),
        );
        let certificates = Family::default();
        registry.register(
            "certificates",
            "Certificates by state",
            certificates.clone(),
        );
        let certificate_expiry_days = Family::default();
        registry.register(
            "certificate_expiry_days",
            "Days until the current certificate of each name expires",
            certificate_expiry_days.clone(),
        );
        let certificates_issued = Counter::default();
        registry.register(
            "certificates_issued",
            "Certificates issued or renewed",
            certificates_issued.clone(),
        );
        let certificate_issuance_failures = Counter::default();
        registry.register(
            "certificate_issuance_failures",
            "Failed attempts at a first issuance",
            certificate_issuance_failures.clone(),
        );
        let certificate_renewal_failures = Counter::default();
        registry.register(
            "certificate_renewal_failures",
            "Failed attempts at a renewal",
            certificate_renewal_failures.clone(),
        );
        let dns_tcp_connections = Gauge::default();
        registry.register(
            "dns_tcp_connections",
            "DNS-over-TCP connections open",
            dns_tcp_connections.clone(),
        );
        let dns_tcp_refused = Family::default();
        registry.register(
            "dns_tcp_refused",
            "DNS-over-TCP connections refused at accept, by the limit reached",
            dns_tcp_refused.clone(),
        );
        let dns_tcp_closed = Family::default();
        registry.register(
            "dns_tcp_closed",
            "DNS-over-TCP connections closed by ranah, by reason",
            dns_tcp_closed.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "http_connections",
            "HTTP connections open",
            http_connections.clone(),
        );
        let http_connections_refused = Family::default();
        registry.register(
            "http_connections_refused",
            "HTTP connections refused at accept, by the limit reached",
            http_connections_refused.clone(),
        );
        let http_header_timeouts = Counter::default();
        registry.register(
            "http_header_timeouts",
            "HTTP connections closed because a request's headers did not come in time",
            http_header_timeouts.clone(),
        );
        let http_connections_reclaimed = Counter::default();
        registry.register(
            "http_connections_reclaimed",
            "Idle HTTP connections closed to make room for a new one at the total limit",
            http_connections_reclaimed.clone(),
        );
        let http_problems = Family::default();
        registry.register(
            "http_problems",
            "HTTP error answers (RFC 9457 problems), by status and code",
            http_problems.clone(),
        );
        let http_tls_handshake_failures = Family::default();
        registry.register(
            "http_tls_handshake_failures",
            "TLS handshakes of the API that failed, by reason",
            http_tls_handshake_failures.clone(),
        );
        let api_certificate_expiry = Gauge::default();
        registry.register(
            "api_certificate_expiry_timestamp_seconds",
            "When the certificate the API serves over HTTPS expires (Unix time; 0: none loaded)",
            api_certificate_expiry.clone(),
        );
        let findings_open = Family::default();
        registry.register(
            "findings_open",
            "Open findings of the oversight checker, by kind",
            findings_open.clone(),
        );
        let complaints_open = Family::default();
        registry.register(
            "complaints_open",
            "Complaints waiting for an answer, by category",
            complaints_open.clone(),
        );
        let complaints_overdue = Family::default();
        registry.register(
            "complaints_overdue",
            "Complaints waiting for an answer past their due time, by category",
            complaints_overdue.clone(),
        );
        let checks = Family::default();
        registry.register(
            "checks",
            "Names the oversight checker's runs checked, failed to check, or left for the next run",
            checks.clone(),
        );
        let checker_last_run_seconds = Gauge::default();
        registry.register(
            "checker_last_run_seconds",
            "Seconds the last oversight run took",
            checker_last_run_seconds.clone(),
        );
        let checker_last_run_peak_connections = Gauge::default();
        registry.register(
            "checker_last_run_peak_connections",
            "Most sockets the last oversight run held open at once",
            checker_last_run_peak_connections.clone(),
        );
        let log_lines_suppressed = Family::default();
        registry.register(
            "log_lines_suppressed",
            "Log lines left out by the limit of one line per interval and kind of event",
            log_lines_suppressed.clone(),
        );
        let log = std::sync::Arc::new(LogThrottle::new(
            std::time::Duration::from_secs(60),
            log_lines_suppressed,
        ));
        Self {
            dns_tcp_connections,
            dns_tcp_refused,
            dns_tcp_closed,
            http_connections,
            http_connections_refused,
            http_header_timeouts,
            http_connections_reclaimed,
            http_problems,
            http_tls_handshake_failures,
            api_certificate_expiry,
            findings_open,
            complaints_open,
            complaints_overdue,
            checks,
            checker_last_run_seconds,
            checker_last_run_peak_connections,
            log,
            certificates,
            certificate_expiry_days,
            certificates_issued,
            certificate_issuance_failures,
            certificate_renewal_failures,
            requests,
            requests_overdue,
            requests_service_overdue,
            audit_events,
            outbox_backlog,
            outbox_sent,
            outbox_failures,
            registry,
            transfers,
            transfers_refused,
            tsig_failures,
            dns_updates,
            rrl_responses,
            dns_answer_cache_hits,
            dns_answer_cache_misses,
            dns_answer_cache_bytes,
            dns_answer_cache_limit_bytes,
            zone_commits,
            zone_committed_changes,
            notify_acknowledged,
            notify_failures,
            zone_serial,
            zone_records,
            store_serial,
            follow_lag,
            instance_leader,
            dnssec_keys,
            dnssec_signature_expiry,
            secondary_serial,
            secondary_in_sync,
            secondary_lag_changes,
            secondary_lag_seconds,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// Count one event of a fixed `reason` (a word of our source, never a client's).
pub fn inc_reason(family: &Family<ReasonLabels, Counter>, reason: &'static str) {
    family
        .get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        })
        .inc();
}

/// `zone` without its final dot, as labels and the API show it.
pub fn zone_label(zone: &str) -> String {
    zone.trim_end_matches('.').to_owned()
}
