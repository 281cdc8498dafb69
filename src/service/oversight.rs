//! Oversight of what every subdomain points to: a check of one name (on demand, or in a run
//! over all of them), judged by `domain::finding` from what `check`'s probes saw, recorded as
//! findings (one open finding per name and kind; new ones emailed to the owning agency and
//! the office, once, and audited), and runs spread over the day.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use super::ServiceError;
use crate::check::{Lookup, Probe, Prober, WebSeen};
use crate::config::CheckerSettings;
use crate::domain::access::{self, Actor, Role};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::certificate::CertStatus;
use crate::domain::finding::{self, FindingKind, Verdict};
use crate::domain::policy::{self, AddressClass, Policy};
use crate::publish::Publisher;
pub use crate::store::FindingRow;
use crate::store::{CheckRecord, FoundNow, OutboxMessage, Store};

/// Most findings of one name shown (its history: open ones and the latest resolved).
const HISTORY: i64 = 50;
/// Most CNAME links followed within the served zones.
const MAX_CHAIN: usize = 8;
/// Most MX exchanges or name servers of one name looked at.
const MAX_TARGETS: usize = 8;
/// Checks on demand at once (the API's, the command line's): beside a run, never more.
const ON_DEMAND: usize = 4;

/// A check's verdicts, and whether the site answered on 80 or 443.
#[derive(Debug, Default)]
struct Judged {
    verdicts: BTreeMap<FindingKind, Verdict>,
    web_answered: bool,
}

/// Where a name leads.
enum Resolved {
    /// It exists, with these addresses (maybe none).
    Exists(Vec<IpAddr>),
    /// It does not exist: why (NXDOMAIN).
    Missing(String),
    /// Nobody could tell.
    Unknown(String),
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    /// Names to check.
    pub names: usize,
    /// Names checked.
    pub checked: usize,
    /// Names left for the next run (the budget ran out).
    pub skipped: usize,
    /// Checks that failed (the store, or a check over its time).
    pub failed: usize,
    /// Findings opened.
    pub opened: usize,
    /// Seconds the run took.
    pub seconds: f64,
    /// Most sockets open at once.
    pub peak_connections: usize,
}

/// The checker.
pub struct Oversight {
    store: Store,
    publisher: Arc<Publisher>,
    prober: Prober,
    settings: CheckerSettings,
    patterns: Vec<regex::Regex>,
    policy: Policy,
    notifications: bool,
    metrics: Option<Arc<crate::telemetry::metrics::Metrics>>,
    on_demand: tokio::sync::Semaphore,
}

/// A name to check: its zone's apex and itself.
#[derive(Debug, Clone)]
struct Target {
    apex: Name,
    owner: Name,
}

impl Oversight {
    /// The checker over the store and the served zones, as `[checker]` and the name policy
    /// (which addresses may be probed) set it.
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        settings: CheckerSettings,
        policy: Policy,
    ) -> Result<Self, ServiceError> {
        let prober = Prober::new(&settings)
            .map_err(|e| ServiceError::internal("the checker's TLS client", e))?;
        Ok(Self {
            store,
            publisher,
            prober,
            patterns: settings.compiled_patterns(),
            settings,
            policy,
            notifications: false,
            metrics: None,
            on_demand: tokio::sync::Semaphore::new(ON_DEMAND),
        })
    }

    /// The checker of a command run beside the daemon (`ranah check`): the zones as the store
    /// holds them, notifications as the daemon sends them.
    pub async fn standalone(
        store: Store,
        config: &crate::config::Config,
        now: DateTime<Utc>,
    ) -> Result<Self, ServiceError> {
        let zones = Arc::new(crate::dns::Zones::new());
        let publisher = Arc::new(Publisher::new(store.clone(), zones));
        publisher.sync_from_store(now).await?;
        Ok(Self::new(
            store,
            publisher,
            config.checker.clone(),
            config.policy.clone(),
        )?
        .with_notifications(config.smtp.is_some()))
    }

    /// Email new findings (when an SMTP server is configured).
    pub fn with_notifications(mut self, on: bool) -> Self {
        self.notifications = on;
        self
    }

    /// Count checks and connections in these metrics.
    pub fn with_metrics(mut self, metrics: Arc<crate::telemetry::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &CheckerSettings {
        &self.settings
    }

    /// The served name `name` (text, any case, with or without the final dot), below an apex.
    fn target(&self, name: &str) -> Result<Target, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("subdomain {name}"));
        let normal = policy::normal_name(name).map_err(|_| not_found())?;
        let owner = Name::from_ascii(format!("{normal}.")).map_err(|_| not_found())?;
        let zone = self
            .publisher
            .zones()
            .find(&LowerName::new(&owner))
            .ok_or_else(not_found)?;
        let apex = Name::from(zone.view().origin().clone());
        if apex == owner {
            return Err(not_found());
        }
        Ok(Target { apex, owner })
    }

    /// A name's findings, open and the latest resolved ones.
    pub async fn findings(&self, name: &str) -> Result<Vec<FindingRow>, ServiceError> {
        let target = self.target(name)?;
        Ok(self
            .store
            .findings_of(&target.owner.to_ascii(), HISTORY)
            .await?)
    }

    /// Check one name now, for a member of the office's staff; its findings after the check.
    pub async fn check_now(
        &self,
        caller: &Actor,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<FindingRow>, ServiceError> {
        if !access::may_run_checks(caller) {
            return Err(ServiceError::Forbidden(
                "only the office's staff have a name checked".into(),
            ));
        }
        self.check_named(name, now).await
    }

    /// Check one name now, for the operator on the server (`ranah check NAME`).
    pub async fn check_named(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<FindingRow>, ServiceError> {
        let target = self.target(name)?;
        let (zone, owner) = (target.apex.to_ascii(), target.owner.to_ascii());
        if self.store.owners_of(&zone, &owner).await?.is_empty() {
            return Err(ServiceError::NotFound(format!("subdomain {name}")));
        }
        if self.store.active_suspension(&zone, &owner).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "{} is suspended: nothing of it is served to check",
                owner.trim_end_matches('.')
            )));
        }
        let _turn = self
            .on_demand
            .acquire()
            .await
            .map_err(|e| ServiceError::internal("the checker", e))?;
        self.check(&target, now).await?;
        Ok(self.store.findings_of(&owner, HISTORY).await?)
    }

    /// Check one name and record what it found; the number of findings opened. A name the
    /// zone serves nothing at (suspended, deleted or glue below a delegation since the run
    /// began) is not judged: its findings stay as they are.
    async fn check(&self, target: &Target, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        let owner = target.owner.to_ascii();
        let web_seen = self.store.web_seen_at(&owner).await?.is_some();
        let Some(judged) = self.verdicts(target, now, web_seen).await else {
            return Ok(0);
        };
        let verdicts: BTreeMap<FindingKind, Verdict> = judged
            .verdicts
            .into_iter()
            .map(|(kind, v)| match v {
                Verdict::Found(evidence) => (kind, Verdict::Found(clean(&evidence))),
                other => (kind, other),
            })
            .collect();
        let open = self.store.open_findings_of(&owner).await?;
        let open_kinds: Vec<(i64, FindingKind)> = open
            .iter()
            .filter_map(|f| FindingKind::parse(&f.kind).map(|k| (f.id, k)))
            .collect();
        let change = finding::reconcile(&open_kinds, &verdicts);
        let shown = owner.trim_end_matches('.').to_owned();
        let again = change.seen_again.into_iter().filter_map(|(id, evidence)| {
            let f = open.iter().find(|f| f.id == id)?;
            Some((FindingKind::parse(&f.kind)?, evidence))
        });
        let found: Vec<(FindingKind, String)> = change.opened.into_iter().chain(again).collect();
        // Every finding made carries what announces it: the store queues it only where the
        // finding turns out new (also one another check resolved meanwhile).
        let recipients = if found.is_empty() {
            Vec::new()
        } else {
            self.recipients(target).await?
        };
        let found = found
            .into_iter()
            .map(|(kind, evidence)| FoundNow {
                kind: kind.as_str(),
                messages: recipients
                    .iter()
                    .map(|to| finding_email(to, &shown, kind, &evidence))
                    .collect(),
                audit: AuditEntry::by(
                    &Attribution::system(),
                    "finding.open",
                    "finding",
                    serde_json::json!({"name": shown, "kind": kind.as_str(), "evidence": evidence}),
                ),
                evidence,
            })
            .collect();
        let resolved = change
            .resolved
            .iter()
            .filter_map(|id| open.iter().find(|f| f.id == *id))
            .map(|f| resolution(f, &shown, "a check found it clear"))
            .collect();
        let opened = self
            .store
            .record_name_check(
                &CheckRecord {
                    zone: target.apex.to_ascii(),
                    owner,
                    found,
                    resolved,
                    web_answered: judged.web_answered,
                },
                now,
            )
            .await?;
        if !opened.is_empty() {
            tracing::warn!(name = %shown, findings = ?opened, "oversight: new findings");
        }
        Ok(opened.len())
    }

    /// Who hears of a new finding: the owning agency's users and the office's admins.
    async fn recipients(&self, target: &Target) -> Result<Vec<String>, ServiceError> {
        if !self.notifications {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let agencies = self
            .store
            .owners_of(&target.apex.to_ascii(), &target.owner.to_ascii())
            .await?;
        for agency in agencies.into_iter().flatten() {
            out.extend(self.store.agency_emails(agency).await?);
        }
        out.extend(
            self.store
                .holders_of(Role::Admin.as_str())
                .await?
                .into_iter()
                .map(|(email, _)| email),
        );
        out.retain(|e| e.contains('@'));
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Whether the checker may connect to `ip`: addresses the name policy accepts, never the
    /// documentation ranges (nothing answers there) nor what the policy refuses (a name
    /// pointed at the checker's own network is not probed from inside it).
    fn probed(&self, ip: IpAddr) -> bool {
        policy::classify(ip) != AddressClass::Documentation && self.policy.check_address(ip).is_ok()
    }

    /// What the check concludes, kind by kind; `None` when the zone serves nothing at the
    /// name of its own (suspended, deleted, or glue below a delegation).
    async fn verdicts(
        &self,
        target: &Target,
        now: DateTime<Utc>,
        web_seen: bool,
    ) -> Option<Judged> {
        let name = LowerName::new(&target.owner);
        let zone = self.publisher.zones().get(&LowerName::new(&target.apex))?;
        let view = zone.view();
        let key = crate::zone::name_key::key_of(&name);
        if view.types_at(&key).is_empty() {
            return None;
        }
        if view.delegation_of(&key).is_some_and(|cut| cut != &key[..]) {
            return None;
        }
        let set = |rtype| {
            view.rrset(&name, rtype)
                .map(|s| s.decoded().records)
                .unwrap_or_default()
        };
        let cname: Option<Name> = set(RecordType::CNAME).iter().find_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.clone()),
            _ => None,
        });
        let exchanges: Vec<Name> = set(RecordType::MX)
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) if !mx.exchange.is_root() => Some(mx.exchange.clone()),
                _ => None,
            })
            .collect();
        let servers: Vec<Name> = set(RecordType::NS)
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.clone()),
                _ => None,
            })
            .collect();
        let own: Vec<IpAddr> = set(RecordType::A)
            .iter()
            .chain(set(RecordType::AAAA).iter())
            .filter_map(|r| ip_of(&r.data))
            .collect();
        drop(view);
        let mut judged = Judged::default();
        let out = &mut judged.verdicts;
        if !servers.is_empty() {
            // A delegation: the child's servers answer for it (its addresses here are glue).
            out.insert(
                FindingKind::LameDelegation,
                self.delegation(target, &servers).await,
            );
            return Some(judged);
        }
        out.insert(FindingKind::LameDelegation, Verdict::Clear);
        let mut claimable = None;
        let addresses = match &cname {
            Some(to) => {
                let shown = to.to_ascii();
                claimable = finding::claimable_service(
                    &shown.to_ascii_lowercase(),
                    &self.settings.claimable,
                );
                match self.lookup_addresses(to).await {
                    Resolved::Exists(ips) => {
                        out.insert(FindingKind::DanglingCname, Verdict::Clear);
                        Ok(ips)
                    }
                    Resolved::Missing(why) => {
                        let service = claimable
                            .map(|s| format!(" ({}: anyone can claim the name there)", s.suffix))
                            .unwrap_or_default();
                        out.insert(
                            FindingKind::DanglingCname,
                            Verdict::Found(format!("CNAME {shown}: {why}{service}")),
                        );
                        Ok(Vec::new())
                    }
                    Resolved::Unknown(why) => {
                        let why = format!("CNAME {shown}: {why}");
                        out.insert(FindingKind::DanglingCname, Verdict::Unknown(why.clone()));
                        Err(why)
                    }
                }
            }
            None => {
                out.insert(FindingKind::DanglingCname, Verdict::Clear);
                Ok(own)
            }
        };
        out.insert(FindingKind::DanglingMx, self.exchanges(&exchanges).await);
        let host = target
            .owner
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        const WEB: [FindingKind; 7] = [
            FindingKind::Unreachable,
            FindingKind::TlsMismatch,
            FindingKind::TlsExpired,
            FindingKind::CertificateNotServed,
            FindingKind::AbuseContent,
            FindingKind::ForeignRedirect,
            FindingKind::UnclaimedService,
        ];
        // A wildcard's owner is no host a visitor asks for: its web is not judged.
        if host.starts_with("*.") {
            return Some(judged);
        }
        let mut addresses = match addresses {
            Ok(ips) => ips,
            Err(why) => {
                // Where the name leads is not known: neither is what is there.
                for kind in WEB {
                    out.insert(kind, Verdict::Unknown(why.clone()));
                }
                return Some(judged);
            }
        };
        addresses.retain(|ip| self.probed(*ip));
        addresses.dedup();
        if addresses.is_empty() {
            // Nothing to connect to: nothing to find on the web.
            for kind in WEB {
                out.insert(kind, Verdict::Clear);
            }
            return Some(judged);
        }
        let seen = self.prober.web(&host, &addresses).await;
        judged.web_answered = seen.reachable;
        self.judge_web(&host, &seen, claimable, web_seen, now, out)
            .await;
        Some(judged)
    }

    /// Where `name` leads: its addresses (from the served zones where they hold it, else the
    /// resolvers), that it does not exist, or that nobody could tell.
    async fn lookup_addresses(&self, name: &Name) -> Resolved {
        let mut ips = Vec::new();
        let mut unsure = None;
        for rtype in [RecordType::A, RecordType::AAAA] {
            match self.lookup(name, rtype).await {
                Lookup::NxDomain => return Resolved::Missing("NXDOMAIN".into()),
                Lookup::Found(data) => ips.extend(data.iter().filter_map(ip_of)),
                Lookup::NoData => {}
                Lookup::Failed(why) => unsure = Some(why),
            }
        }
        match unsure {
            // One family answered with addresses: enough to look at the web.
            Some(_) if !ips.is_empty() => Resolved::Exists(ips),
            Some(why) => Resolved::Unknown(why),
            None => Resolved::Exists(ips),
        }
    }

    /// `name`'s `rtype` data: from the served zones when one holds it (outside a
    /// delegation, following CNAMEs within them, at most [`MAX_CHAIN`] links, wildcards as
    /// RFC 4592 reads them), else from the resolvers.
    async fn lookup(&self, name: &Name, rtype: RecordType) -> Lookup {
        let mut name = name.clone();
        for _ in 0..MAX_CHAIN {
            let lower = LowerName::new(&name);
            let Some(zone) = self.publisher.zones().find(&lower) else {
                return self.prober.resolve(&name, rtype).await;
            };
            let view = zone.view();
            let key = crate::zone::name_key::key_of(&lower);
            if view.delegation_of(&key).is_some() {
                drop(view);
                return self.prober.resolve(&name, rtype).await;
            }
            let owner = if view.name_exists(&lower) {
                name.clone()
            } else {
                match wildcard_for(&view, &name) {
                    Some(wild) => wild,
                    None => return Lookup::NxDomain,
                }
            };
            let at = LowerName::new(&owner);
            if let Some(set) = view.rrset(&at, rtype) {
                return Lookup::Found(set.decoded().records.into_iter().map(|r| r.data).collect());
            }
            let next = view.rrset(&at, RecordType::CNAME).and_then(|set| {
                set.decoded()
                    .records
                    .into_iter()
                    .find_map(|r| match r.data {
                        RData::CNAME(c) => Some(c.0),
                        _ => None,
                    })
            });
            match next {
                Some(next) => name = next,
                None => return Lookup::NoData,
            }
        }
        Lookup::Failed(format!(
            "a CNAME chain longer than {MAX_CHAIN} links (or a loop)"
        ))
    }

    /// The addresses the served zones hold for a name server's name (glue below a cut).
    fn glue(&self, ns: &Name) -> Vec<IpAddr> {
        let lower = LowerName::new(ns);
        let Some(zone) = self.publisher.zones().find(&lower) else {
            return Vec::new();
        };
        let view = zone.view();
        [RecordType::A, RecordType::AAAA]
            .into_iter()
            .filter_map(|t| view.rrset(&lower, t))
            .flat_map(|s| s.decoded().records)
            .filter_map(|r| ip_of(&r.data))
            .collect()
    }

    /// `dangling_mx`: exchanges that do not exist.
    async fn exchanges(&self, exchanges: &[Name]) -> Verdict {
        let mut missing = Vec::new();
        let mut unknown = None;
        for x in exchanges.iter().take(MAX_TARGETS) {
            match self.lookup_addresses(x).await {
                Resolved::Exists(_) => {}
                Resolved::Missing(why) => missing.push(format!("MX {}: {why}", x.to_ascii())),
                Resolved::Unknown(why) => unknown = Some(format!("MX {}: {why}", x.to_ascii())),
            }
        }
        if !missing.is_empty() {
            Verdict::Found(missing.join("; "))
        } else if let Some(why) = unknown {
            Verdict::Unknown(why)
        } else {
            Verdict::Clear
        }
    }

    /// `lame_delegation`: each name server of the delegation asked for the child's SOA. A
    /// server is lame when none of its addresses answers with authority (each asked twice);
    /// a server name that does not exist, or one inside the child without glue, is lame too.
    async fn delegation(&self, target: &Target, servers: &[Name]) -> Verdict {
        let mut lame = Vec::new();
        let mut unknown = None;
        let mut answered = 0;
        for ns in servers.iter().take(MAX_TARGETS) {
            let shown = ns.to_ascii();
            // Glue counts only for a server inside the child: a resolver trusts no other.
            let inside = target.owner.zone_of(ns);
            let ips = if inside {
                let glue = self.glue(ns);
                if glue.is_empty() {
                    lame.push(format!("NS {shown}: inside the child without glue"));
                    continue;
                }
                glue
            } else {
                match self.lookup_addresses(ns).await {
                    Resolved::Exists(ips) if ips.is_empty() => {
                        lame.push(format!("NS {shown}: no address"));
                        continue;
                    }
                    Resolved::Exists(ips) => ips,
                    Resolved::Missing(why) => {
                        lame.push(format!("NS {shown}: {why}"));
                        continue;
                    }
                    Resolved::Unknown(why) => {
                        unknown = Some(format!("NS {shown}: {why}"));
                        continue;
                    }
                }
            };
            let ips: Vec<IpAddr> = ips.into_iter().filter(|ip| self.probed(*ip)).collect();
            if ips.is_empty() {
                continue;
            }
            let mut failures = Vec::new();
            let mut ok = false;
            for ip in ips.iter().take(4) {
                match self.prober.authoritative_at(*ip, &target.owner).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(Probe::Refused(e)) => failures.push(e),
                    Err(Probe::Local(e)) => unknown = Some(format!("NS {shown} {e}")),
                }
            }
            if ok {
                answered += 1;
            } else if !failures.is_empty() {
                lame.push(format!("NS {shown} {}", failures.join(", ")));
            }
        }
        if !lame.is_empty() {
            Verdict::Found(format!(
                "SOA {}: {answered} server(s) answered with authority; {}",
                target.owner.to_ascii(),
                lame.join("; ")
            ))
        } else if let Some(why) = unknown {
            Verdict::Unknown(why)
        } else {
            Verdict::Clear
        }
    }

    /// The web's verdicts from what the probes saw. `unreachable` is a site that stopped
    /// answering: a name whose addresses never answered on 80 or 443 (a mail or VPN host) is
    /// no web site.
    async fn judge_web(
        &self,
        host: &str,
        seen: &WebSeen,
        claimable: Option<&finding::ClaimableService>,
        web_seen: bool,
        now: DateTime<Utc>,
        out: &mut BTreeMap<FindingKind, Verdict>,
    ) {
        let tried = seen.attempts.join("; ");
        out.insert(
            FindingKind::Unreachable,
            if seen.reachable || !web_seen {
                Verdict::Clear
            } else {
                Verdict::Found(format!(
                    "answered before; now ports {} and {}: {tried}",
                    self.settings.ports.http, self.settings.ports.https
                ))
            },
        );
        // The certificate served.
        let leaf = seen
            .certificate
            .as_ref()
            .map(|(der, from)| (crate::acme::x509::leaf_from_der(der.clone()), *from));
        let (mismatch, expired, served_serial) = match &leaf {
            Some((Ok(leaf), from)) => (
                if finding::certificate_covers(host, &leaf.names) {
                    Verdict::Clear
                } else {
                    Verdict::Found(format!(
                        "{from} serves a certificate for {} (serial {}), not {host}",
                        if leaf.names.is_empty() {
                            "no DNS name".into()
                        } else {
                            leaf.names
                                .iter()
                                .take(10)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                        leaf.serial
                    ))
                },
                if now > leaf.not_after {
                    Verdict::Found(format!(
                        "{from}: the certificate (serial {}) expired {}",
                        leaf.serial,
                        crate::domain::time::stamp(leaf.not_after)
                    ))
                } else if now < leaf.not_before {
                    Verdict::Found(format!(
                        "{from}: the certificate (serial {}) is valid only from {}",
                        leaf.serial,
                        crate::domain::time::stamp(leaf.not_before)
                    ))
                } else {
                    Verdict::Clear
                },
                Some(leaf.serial.clone()),
            ),
            Some((Err(e), from)) => (
                Verdict::Found(format!(
                    "{from} serves a certificate that cannot be read: {e}"
                )),
                Verdict::Unknown("unreadable certificate".into()),
                None,
            ),
            // 443 answered and the handshake failed: what it serves is not known.
            None => match &seen.tls_error {
                Some(e) => (
                    Verdict::Unknown(e.clone()),
                    Verdict::Unknown(e.clone()),
                    None,
                ),
                None => (Verdict::Clear, Verdict::Clear, None),
            },
        };
        out.insert(FindingKind::TlsMismatch, mismatch);
        out.insert(FindingKind::TlsExpired, expired);
        out.insert(
            FindingKind::CertificateNotServed,
            self.ours_served(host, seen, served_serial.as_deref()).await,
        );
        // The page.
        let Some(page) = &seen.page else {
            let why = Verdict::Unknown(format!("no page: {tried}"));
            out.insert(FindingKind::AbuseContent, why.clone());
            out.insert(FindingKind::ForeignRedirect, why.clone());
            out.insert(
                FindingKind::UnclaimedService,
                if claimable.is_some() {
                    why
                } else {
                    Verdict::Clear
                },
            );
            return;
        };
        let asked = format!("GET {} → {}", page.url, page.status);
        let matches =
            finding::abuse_matches(&page.body, &self.settings.abuse_keywords, &self.patterns);
        out.insert(
            FindingKind::AbuseContent,
            if matches.len() >= self.settings.abuse_min_matches {
                Verdict::Found(format!("{asked}; the page matches: {}", matches.join(", ")))
            } else {
                Verdict::Clear
            },
        );
        let mut allowed: Vec<String> = self
            .publisher
            .zones()
            .origins()
            .into_iter()
            .map(|o| {
                Name::from(o)
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            })
            .collect();
        allowed.extend(self.settings.redirects_allowed.iter().cloned());
        let redirect = page
            .location
            .as_ref()
            .filter(|_| (300..400).contains(&page.status))
            .map(|l| ("Location", l.clone()))
            .or_else(|| finding::meta_refresh(&page.body).map(|l| ("meta refresh", l)));
        out.insert(
            FindingKind::ForeignRedirect,
            match redirect.and_then(|(how, to)| {
                let target = finding::redirect_target(&page.url, &to)?;
                Some((how, to, finding::target_host(&target)))
            }) {
                Some((how, to, h)) if finding::foreign_redirect(&h, host, &allowed) => {
                    Verdict::Found(format!(
                        "{asked}; {how}: {}",
                        to.chars().take(200).collect::<String>()
                    ))
                }
                _ => Verdict::Clear,
            },
        );
        out.insert(
            FindingKind::UnclaimedService,
            match claimable {
                Some(s) => match &s.fingerprint {
                    Some(f) if page.body.contains(f.as_str()) => Verdict::Found(format!(
                        "{asked}; {} shows its page for a name nobody holds (\"{f}\")",
                        s.suffix
                    )),
                    _ => Verdict::Clear,
                },
                None => Verdict::Clear,
            },
        );
    }

    /// `certificate_not_served`: ranah issued the name a certificate and 443 serves another
    /// (or none, where the site answers).
    async fn ours_served(&self, host: &str, seen: &WebSeen, served: Option<&str>) -> Verdict {
        let ours = match self.store.certificate(host).await {
            Ok(Some(c)) if c.status == CertStatus::Issued => c,
            Ok(_) => return Verdict::Clear,
            Err(e) => return Verdict::Unknown(format!("the certificate: {e}")),
        };
        let Some(serial) = ours.serial else {
            return Verdict::Clear;
        };
        match served {
            Some(s) if s.eq_ignore_ascii_case(&serial) => Verdict::Clear,
            Some(s) => Verdict::Found(format!(
                "ranah issued serial {serial}; 443 serves serial {s}"
            )),
            None if seen.reachable && seen.tls_error.is_none() => Verdict::Found(format!(
                "ranah issued serial {serial}; 443 serves no certificate (the site answers on {} only)",
                self.settings.ports.http
            )),
            None => Verdict::Unknown("no certificate seen".into()),
        }
    }

    /// Every name to check, least recently checked first: names below a zone's apex with
    /// records in the zone (suspended ones have none), not ranah's own. Open findings of names
    /// that have no records any more (deleted) are closed: they are nobody's to fix, and a
    /// name registered again starts clean.
    async fn targets(&self, now: DateTime<Utc>) -> Result<Vec<Target>, ServiceError> {
        let rows = self.store.record_rows(None).await?;
        let mut names: BTreeMap<(String, String), ()> = BTreeMap::new();
        let mut stored = std::collections::HashSet::new();
        for r in &rows {
            stored.insert(r.owner.as_str());
            let own = policy::own_record(&r.zone, &r.owner, &RecordType::from(r.rtype).to_string());
            if r.owner != r.zone && own.is_none() && r.suspension_id.is_none() {
                names.insert((r.zone.clone(), r.owner.clone()), ());
            }
        }
        let gone: Vec<(i64, AuditEntry)> = self
            .store
            .open_findings()
            .await?
            .iter()
            .filter(|f| !stored.contains(f.owner.as_str()))
            .map(|f| {
                resolution(
                    f,
                    f.owner.trim_end_matches('.'),
                    "the name has no records any more",
                )
            })
            .collect();
        if !gone.is_empty() {
            self.store.resolve_findings(&gone, now).await?;
        }
        let last: HashMap<String, String> = self.store.last_checks().await?.into_iter().collect();
        let mut out: Vec<(Option<&String>, Target)> = Vec::with_capacity(names.len());
        for (zone, owner) in names.keys() {
            let (Ok(apex), Ok(name)) = (Name::from_ascii(zone), Name::from_ascii(owner)) else {
                continue;
            };
            out.push((last.get(owner), Target { apex, owner: name }));
        }
        // Never checked first (None sorts first), then oldest.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, t)| t).collect())
    }

    /// One run over every name: checks start spread evenly over `budget` when `spread`, else
    /// as fast as the connection limit allows; names not started within `budget` are left
    /// for the next run.
    pub async fn run(
        self: &Arc<Self>,
        budget: Duration,
        spread: bool,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<RunSummary, ServiceError> {
        let started = Instant::now();
        let targets = self.targets(Utc::now()).await?;
        let mut summary = RunSummary {
            names: targets.len(),
            ..Default::default()
        };
        self.prober.reset_peak();
        let pace = if spread && !targets.is_empty() {
            budget / u32::try_from(targets.len()).unwrap_or(u32::MAX)
        } else {
            Duration::ZERO
        };
        // As many checks at once as sockets: each holds at most one at a time.
        let slots = Arc::new(tokio::sync::Semaphore::new(self.settings.max_connections));
        // Longer than the longest a check's steps take one after another (a few resolvers
        // for up to 8 targets, 8 servers, 4 addresses' pages); a check over it is cut, and
        // its name counted as checked now so that it does not head every run.
        let per_check = Duration::from_secs(self.settings.timeout_secs * 120);
        let mut running = tokio::task::JoinSet::new();
        for (i, target) in targets.into_iter().enumerate() {
            let at = started + pace * u32::try_from(i).unwrap_or(u32::MAX);
            if at.duration_since(started) >= budget && !budget.is_zero() || *stop.borrow() {
                summary.skipped += 1;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {}
                _ = stop.changed() => { summary.skipped += 1; continue; }
            }
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => s,
                _ = stop.changed() => { summary.skipped += 1; continue; }
            };
            let Ok(slot) = slot else { break };
            if started.elapsed() >= budget && !budget.is_zero() {
                summary.skipped += 1;
                continue;
            }
            let me = self.clone();
            running.spawn(async move {
                let _slot = slot;
                match tokio::time::timeout(per_check, me.check(&target, Utc::now())).await {
                    Ok(Ok(opened)) => Ok(opened),
                    Ok(Err(e)) => Err(format!("{}: {e}", target.owner)),
                    Err(_) => {
                        let _ = me
                            .store
                            .name_checked(
                                &target.apex.to_ascii(),
                                &target.owner.to_ascii(),
                                Utc::now(),
                            )
                            .await;
                        Err(format!("{}: the check took too long", target.owner))
                    }
                }
            });
            while let Some(done) = running.try_join_next() {
                tally(&mut summary, done);
            }
        }
        // The checks under way finish, unless the run is stopped (shutdown, or another
        // instance leads now): then they are cut.
        loop {
            tokio::select! {
                done = running.join_next() => match done {
                    Some(done) => tally(&mut summary, done),
                    None => break,
                },
                _ = stop.wait_for(|s| *s) => {
                    summary.skipped += running.len();
                    running.abort_all();
                    break;
                }
            }
        }
        summary.seconds = started.elapsed().as_secs_f64();
        summary.peak_connections = self.prober.peak();
        if let Some(m) = &self.metrics {
            for (outcome, n) in [
                ("checked", summary.checked),
                ("failed", summary.failed),
                ("skipped", summary.skipped),
            ] {
                m.checks
                    .get_or_create(&crate::telemetry::metrics::ReasonLabels {
                        reason: outcome.into(),
                    })
                    .inc_by(n as u64);
            }
            m.checker_last_run_seconds.set(summary.seconds);
            m.checker_last_run_peak_connections
                .set(i64::try_from(summary.peak_connections).unwrap_or(i64::MAX));
        }
        Ok(summary)
    }

    /// Runs every `every_secs`, for as long as the daemon runs.
    pub async fn schedule(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = Duration::from_secs(self.settings.every_secs);
        let budget = Duration::from_secs(self.settings.budget_secs);
        let first = Duration::from_secs(self.settings.first_run_delay_secs);
        tokio::select! {
            _ = tokio::time::sleep(first) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        loop {
            let next = tokio::time::Instant::now() + every;
            match self.run(budget, true, stop.clone()).await {
                Ok(s) => tracing::info!(
                    names = s.names,
                    checked = s.checked,
                    skipped = s.skipped,
                    failed = s.failed,
                    opened = s.opened,
                    seconds = s.seconds,
                    peak_connections = s.peak_connections,
                    "oversight run done"
                ),
                Err(e) => tracing::warn!(error = %e, "oversight run failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Sockets the checker holds open now.
    pub fn connections(&self) -> usize {
        self.prober.open()
    }
}

fn tally(summary: &mut RunSummary, done: Result<Result<usize, String>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(opened)) => {
            summary.checked += 1;
            summary.opened += opened;
        }
        Ok(Err(e)) => {
            summary.failed += 1;
            tracing::warn!(error = %e, "oversight: a check failed");
        }
        Err(e) => {
            summary.failed += 1;
            tracing::error!(error = %e, "oversight: a check stopped");
        }
    }
}

/// The wildcard that answers for `name`, which does not exist itself (RFC 4592): `*` below
/// its closest encloser, the nearest ancestor that exists; none when that has no wildcard.
fn wildcard_for(view: &crate::dns::view::ZoneView, name: &Name) -> Option<Name> {
    let mut parent = name.base_name();
    let origin = Name::from(view.origin().clone());
    while parent.num_labels() >= origin.num_labels() {
        if view.name_exists(&LowerName::new(&parent)) {
            let wild = Name::from_ascii("*").ok()?.append_domain(&parent).ok()?;
            return view.name_exists(&LowerName::new(&wild)).then_some(wild);
        }
        if parent.is_root() {
            break;
        }
        parent = parent.base_name();
    }
    None
}

/// An address record's address.
fn ip_of(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// Evidence as stored and emailed: what servers sent may hold control characters (a forged
/// line in a plain-text email) and be long; it is kept to one line of at most 1,000
/// characters.
fn clean(evidence: &str) -> String {
    let mut out: String = evidence
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1000)
        .collect();
    if evidence.chars().count() > 1000 {
        out.push('…');
    }
    out
}

/// A finding's closing, with its audit entry.
fn resolution(f: &FindingRow, name: &str, why: &str) -> (i64, AuditEntry) {
    (
        f.id,
        AuditEntry::by(
            &Attribution::system(),
            "finding.resolve",
            format!("finding/{}", f.id),
            serde_json::json!({"name": name, "kind": f.kind, "why": why}),
        ),
    )
}

/// The email that announces a new finding, in Bahasa Indonesia.
fn finding_email(to: &str, name: &str, kind: FindingKind, evidence: &str) -> OutboxMessage {
    let advice = if kind.serious() {
        "Temuan ini dapat dimanfaatkan pihak lain untuk mengambil alih subdomain (misalnya untuk \
         promosi judi daring). Mohon segera perbaiki rekaman DNS atau situsnya, atau ajukan \
         penghapusan subdomain bila tidak digunakan lagi. Admin Diskominfo dapat menangguhkan \
         subdomain ini."
    } else {
        "Mohon periksa dan perbaiki situs tersebut."
    };
    OutboxMessage {
        channel: "email",
        recipient: to.to_owned(),
        subject: format!("[ranah] Temuan pengawasan {name}: {}", kind.in_indonesian()),
        body: format!(
            "Yth. Bapak/Ibu,\n\nPemeriksaan berkala ranah atas subdomain {name} menemukan: {}.\n\n\
             Bukti ({kind_code}): {evidence}\n\n{advice}\n\nPesan ini dikirim sekali untuk \
             setiap temuan; temuan ditutup otomatis ketika pemeriksaan berikutnya tidak lagi \
             menemukannya.\n\nPesan ini dikirim otomatis oleh ranah.\n",
            kind.in_indonesian(),
            kind_code = kind.as_str(),
        ),
        attachment: None,
    }
}
