//! The secondaries of each zone: NOTIFY on every serial change (RFC 1996), SOA polls that
//! show which serial each one serves, and the record of the transfers they pull.
//!
//! NOTIFY goes over UDP, TSIG-signed when the secondary has a key, and is retried with a
//! doubling delay until the secondary acknowledges it or the attempts run out; a newer serial
//! supersedes an older one still being retried. What the daemon sees is kept in memory for
//! metrics and written to the store for the API and `ranah status`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::config::{SecondaryConfig, TsigKeyConfig};
use crate::dns::Zones;
use crate::dns::handler::{TransferObserver, TransferRefusal};
use crate::dns::transfer::{SecondaryRule, TransferKind, TransferPolicy};
use crate::dns::tsig::{self, KeyRing, TsigKey};
use crate::domain::backup::Seen;
use crate::store::{SecondaryState, Store, ts};
use crate::telemetry::metrics::{
    Metrics, RefusalLabels, SecondaryLabels, TransferLabels, TsigLabels, zone_label,
};

/// The delay before the first NOTIFY retry; it doubles with each attempt.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// One configured secondary of one zone.
#[derive(Debug, Clone)]
pub struct Secondary {
    /// The zone's apex.
    pub zone: Name,
    /// How it is named: its NOTIFY address.
    pub id: String,
    /// Where NOTIFY and SOA polls go.
    pub notify: SocketAddr,
    /// Its key.
    pub key: Option<Arc<TsigKey>>,
}

/// Build the key ring, the transfer rules and the NOTIFY list from the configuration.
pub fn from_config(
    keys: &[TsigKeyConfig],
    secondaries: &[SecondaryConfig],
    journal_depth: usize,
) -> Result<(TransferPolicy, Vec<Secondary>), crate::dns::tsig::TsigKeyError> {
    let mut made = Vec::new();
    for k in keys {
        made.push(TsigKey::new(&k.name, &k.algorithm, k.secret.clone())?);
    }
    let ring = KeyRing::new(made);
    let mut rules: HashMap<LowerName, Vec<SecondaryRule>> = HashMap::new();
    let mut list = Vec::new();
    for s in secondaries {
        let zone = Name::from_ascii(&s.zone)
            .map_err(|_| crate::dns::tsig::TsigKeyError::Name(s.zone.clone()))?
            .to_lowercase();
        let key = match &s.tsig_key {
            Some(name) => {
                let parsed = Name::from_ascii(name)
                    .map_err(|_| crate::dns::tsig::TsigKeyError::Name(name.clone()))?;
                Some(
                    ring.get(&parsed)
                        .cloned()
                        .ok_or_else(|| crate::dns::tsig::TsigKeyError::Unknown(name.clone()))?,
                )
            }
            None => None,
        };
        let id = s.notify.to_string();
        rules
            .entry(LowerName::new(&zone))
            .or_default()
            .push(SecondaryRule {
                id: id.clone(),
                allow_transfer: s.allow_transfer.clone(),
                tsig_key: key.as_ref().map(|k| k.name.clone()),
            });
        list.push(Secondary {
            zone,
            id,
            notify: s.notify,
            key,
        });
    }
    Ok((TransferPolicy::new(rules, ring, journal_depth), list))
}

/// The secondaries and what ranah knows of them.
pub struct Secondaries {
    zones: Arc<Zones>,
    store: Store,
    metrics: Arc<Metrics>,
    list: Vec<Secondary>,
    state: Mutex<HashMap<(String, String), SecondaryState>>,
    notify_retries: u32,
    poll_every: Duration,
    /// Wakes the poller early (after a transfer, so that sync shows at once).
    poll_soon: tokio::sync::Notify,
    runtime: tokio::runtime::Handle,
}

impl Secondaries {
    /// The service; call from within the runtime.
    pub async fn new(
        zones: Arc<Zones>,
        store: Store,
        metrics: Arc<Metrics>,
        list: Vec<Secondary>,
        notify_retries: u32,
        poll_every: Duration,
    ) -> Result<Arc<Self>, crate::store::StoreError> {
        let keep: Vec<(String, String)> = list
            .iter()
            .map(|s| (s.zone.to_ascii(), s.id.clone()))
            .collect();
        store.retain_secondaries(&keep).await?;
        let mut state = HashMap::new();
        for saved in store.secondary_states(None).await? {
            state.insert((saved.zone.clone(), saved.secondary.clone()), saved);
        }
        for (zone, id) in keep {
            state
                .entry((zone.clone(), id.clone()))
                .or_insert(SecondaryState {
                    zone,
                    secondary: id,
                    ..Default::default()
                });
        }
        Ok(Arc::new(Self {
            zones,
            store,
            metrics,
            list,
            state: Mutex::new(state),
            notify_retries: notify_retries.max(1),
            poll_every,
            poll_soon: tokio::sync::Notify::new(),
            runtime: tokio::runtime::Handle::current(),
        }))
    }

    /// Send NOTIFY on every change and poll the secondaries until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if self.list.is_empty() {
            return;
        }
        let notifier = tokio::spawn(self.clone().notify_on_changes(shutdown.clone()));
        let mut tick = tokio::time::interval(self.poll_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.poll_soon.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            self.poll_all().await;
        }
        let _ = notifier.await;
    }

    async fn notify_on_changes(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.zones.subscribe();
        // Announce every zone once at start (a secondary may have missed changes while we
        // were down), then each serial as it changes.
        let mut announced: HashMap<String, u32> = HashMap::new();
        loop {
            for origin in self.zones.origins() {
                let Some(zone) = self.zones.get(&origin) else {
                    continue;
                };
                let view = zone.view();
                if !view.is_stored() {
                    // Not transferred yet: announced once the store holds it.
                    continue;
                }
                let serial = view.serial();
                let name = Name::from(origin.clone()).to_ascii();
                if announced.get(&name) == Some(&serial) {
                    continue;
                }
                announced.insert(name.clone(), serial);
                for secondary in self.list.iter().filter(|s| s.zone.to_ascii() == name) {
                    tokio::spawn(self.clone().notify(secondary.clone(), serial));
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    fn current_serial(&self, zone: &Name) -> Option<u32> {
        self.zones
            .get(&LowerName::new(zone))
            .map(|z| z.view().serial())
    }

    /// NOTIFY one secondary of `serial`, retrying until acknowledged, superseded or out of
    /// attempts.
    async fn notify(self: Arc<Self>, secondary: Secondary, serial: u32) {
        let labels = SecondaryLabels {
            zone: zone_label(&secondary.zone.to_ascii()),
            secondary: secondary.id.clone(),
        };
        let mut delay = FIRST_RETRY;
        for attempt in 1..=self.notify_retries {
            if self.current_serial(&secondary.zone) != Some(serial) {
                return; // a newer serial has its own NOTIFY
            }
            let soa = self
                .zones
                .get(&LowerName::new(&secondary.zone))
                .and_then(|z| z.view().soa_record());
            let outcome = exchange(
                &secondary,
                OpCode::Notify,
                RecordType::SOA,
                soa.into_iter().collect(),
            )
            .await;
            let result = match &outcome {
                Ok(answer) if answer.metadata.response_code == ResponseCode::NoError => {
                    self.metrics
                        .notify_acknowledged
                        .get_or_create(&labels)
                        .inc();
                    tracing::info!(zone = %secondary.zone, secondary = %secondary.id, serial, attempt, "NOTIFY acknowledged");
                    "acknowledged".to_owned()
                }
                Ok(answer) => format!("answered {}", answer.metadata.response_code),
                Err(e) => e.clone(),
            };
            let acknowledged = result == "acknowledged";
            if !acknowledged {
                self.metrics.notify_failures.get_or_create(&labels).inc();
                tracing::warn!(zone = %secondary.zone, secondary = %secondary.id, serial, attempt, error = %result, "NOTIFY failed");
            }
            let now = ts(Utc::now());
            self.update(&secondary, |s| {
                s.last_notify_at = Some(now);
                s.last_notify_serial = Some(serial);
                s.last_notify_result = Some(result);
            })
            .await;
            if acknowledged {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(60));
        }
    }

    async fn poll_all(&self) {
        for secondary in &self.list {
            let (serial, error) = match ask_serial(secondary).await {
                Seen::Serial(serial) => (Some(serial), None),
                Seen::NoCopy(e) | Seen::NoAnswer(e) => (None, Some(e)),
            };
            let now = ts(Utc::now());
            self.update(secondary, |s| {
                s.polled_at = Some(now);
                s.served_serial = serial;
                s.poll_error = error;
            })
            .await;
        }
    }

    async fn update(&self, secondary: &Secondary, change: impl FnOnce(&mut SecondaryState)) {
        let key = (secondary.zone.to_ascii(), secondary.id.clone());
        let snapshot = {
            let mut state = self.state.lock();
            let entry = state.entry(key.clone()).or_insert_with(|| SecondaryState {
                zone: key.0.clone(),
                secondary: key.1.clone(),
                ..Default::default()
            });
            change(entry);
            entry.clone()
        };
        if let Err(e) = self.store.save_secondary_state(&snapshot).await {
            tracing::warn!(error = %e, "cannot save the state of a secondary");
        }
    }

    /// Set the gauges from the current state (before the metrics are read).
    pub async fn refresh_gauges(&self) {
        let mut zones: Vec<&Name> = self.list.iter().map(|s| &s.zone).collect();
        zones.dedup();
        for zone in zones {
            let Some(current) = self.current_serial(zone) else {
                continue;
            };
            let zone_name = zone.to_ascii();
            let reports = match reports(&self.store, &zone_name, current).await {
                Ok(reports) => reports,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the state of the secondaries");
                    continue;
                }
            };
            for r in reports {
                let labels = SecondaryLabels {
                    zone: zone_label(&zone_name),
                    secondary: r.state.secondary.clone(),
                };
                let m = &self.metrics;
                m.secondary_serial
                    .get_or_create(&labels)
                    .set(r.state.served_serial.map_or(-1, i64::from));
                m.secondary_in_sync
                    .get_or_create(&labels)
                    .set(i64::from(r.in_sync));
                m.secondary_lag_changes.get_or_create(&labels).set(
                    r.lag_changes
                        .map_or(-1, |c| i64::try_from(c).unwrap_or(i64::MAX)),
                );
                m.secondary_lag_seconds
                    .get_or_create(&labels)
                    .set(r.lag_seconds.unwrap_or(-1));
            }
        }
    }
}

/// The DNS server's view of the service: transfers served and refused, TSIG failures.
struct Observer(Arc<Secondaries>);

impl Secondaries {
    /// What the DNS server reports transfers to.
    pub fn observer(self: &Arc<Self>) -> Arc<dyn TransferObserver> {
        Arc::new(Observer(self.clone()))
    }
}

impl TransferObserver for Observer {
    fn served(&self, zone: &LowerName, secondary: &str, kind: TransferKind, serial: u32) {
        let this = self.0.clone();
        let zone_name = Name::from(zone.clone()).to_ascii();
        this.metrics
            .transfers
            .get_or_create(&TransferLabels {
                zone: zone_label(&zone_name),
                secondary: secondary.to_owned(),
                kind: kind.as_str().to_owned(),
            })
            .inc();
        let Some(found) = this
            .list
            .iter()
            .find(|s| s.id == secondary && s.zone.to_ascii() == zone_name)
            .cloned()
        else {
            return;
        };
        let now = ts(Utc::now());
        let runtime = this.runtime.clone();
        runtime.spawn(async move {
            this.update(&found, |s| {
                s.last_transfer_at = Some(now);
                s.last_transfer_kind = Some(kind.as_str().to_owned());
                s.last_transfer_serial = Some(serial);
            })
            .await;
            // The secondary loads what it pulled within moments: poll it soon after.
            tokio::time::sleep(Duration::from_millis(300)).await;
            this.poll_soon.notify_one();
        });
    }

    fn refused(&self, refusal: &TransferRefusal<'_>) {
        let metrics = &self.0.metrics;
        let zone = refusal
            .zone
            .as_ref()
            .map(|z| zone_label(&Name::from(z.clone()).to_ascii()))
            .unwrap_or_default();
        metrics
            .transfers_refused
            .get_or_create(&RefusalLabels {
                zone,
                reason: refusal.reason.to_owned(),
            })
            .inc();
        if let Some(suppressed) = metrics.log.admit("dns_transfer_refused") {
            tracing::info!(
                src = %refusal.src, asked = %refusal.asked, qtype = %refusal.qtype,
                reason = refusal.reason, suppressed, "zone transfer refused"
            );
        }
    }

    fn tsig_failed(&self, error: &'static str, src: SocketAddr) {
        let metrics = &self.0.metrics;
        metrics
            .tsig_failures
            .get_or_create(&TsigLabels {
                error: error.to_owned(),
            })
            .inc();
        if let Some(suppressed) = metrics.log.admit("dns_tsig_failed") {
            tracing::info!(%src, error, suppressed, "TSIG check failed");
        }
    }
}

/// Ask `secondary` for its zone's SOA serial (signed with its key, as the polls are): the
/// serial, an answer without one (it has no copy of the zone), or no answer.
pub async fn ask_serial(secondary: &Secondary) -> Seen {
    match exchange(secondary, OpCode::Query, RecordType::SOA, Vec::new()).await {
        Ok(answer) if answer.metadata.response_code == ResponseCode::NoError => {
            match answer.answers.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            }) {
                Some(serial) => Seen::Serial(serial),
                None => Seen::NoCopy("no SOA in the answer".to_owned()),
            }
        }
        Ok(answer) => Seen::NoCopy(format!("answered {}", answer.metadata.response_code)),
        Err(e) => Seen::NoAnswer(e),
    }
}

/// A query (`Query` for SOA polls, `Notify`) to a secondary over UDP, signed with its key when
/// it has one, and the checked answer: same ID, a response, and a good TSIG when signed.
async fn exchange(
    secondary: &Secondary,
    op_code: OpCode,
    rtype: RecordType,
    answers: Vec<hickory_proto::rr::Record>,
) -> Result<Message, String> {
    let mut id = [0u8; 2];
    getrandom::fill(&mut id).map_err(|e| e.to_string())?;
    let id = u16::from_be_bytes(id);
    let mut message = Message::new(id, MessageType::Query, op_code);
    message.metadata.authoritative = op_code == OpCode::Notify;
    message.add_query(Query::query(secondary.zone.clone(), rtype));
    for record in answers {
        message.add_answer(record);
    }
    let unsigned = message.to_vec().map_err(|e| e.to_string())?;
    let mut session = None;
    let bytes = match &secondary.key {
        Some(key) => {
            let (signature, s) = tsig::sign_request(key, &unsigned, id, tsig::unix_now());
            session = Some(s);
            message.set_signature(signature);
            message.to_vec().map_err(|e| e.to_string())?
        }
        None => unsigned,
    };
    let (answer, raw) = super::client::udp_exchange(secondary.notify, &bytes, id).await?;
    if let Some(session) = &session
        && !session.verify_response(&raw)
    {
        return Err("the answer's TSIG is missing or wrong".into());
    }
    Ok(answer)
}

/// A secondary as the API and `ranah status` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecondaryReport {
    /// What was last seen.
    #[serde(flatten)]
    pub state: SecondaryState,
    /// Whether it serves the zone's current serial.
    pub in_sync: bool,
    /// Changes it does not have yet (`None`: unknown, its serial is not in the journal).
    pub lag_changes: Option<u64>,
    /// Seconds since the first change it does not have.
    pub lag_seconds: Option<i64>,
}

/// The secondaries of `zone` (absolute apex) as last seen, against its `current` serial.
pub async fn reports(
    store: &Store,
    zone: &str,
    current: u32,
) -> Result<Vec<SecondaryReport>, crate::store::StoreError> {
    let now = Utc::now();
    let mut out = Vec::new();
    for state in store.secondary_states(Some(zone)).await? {
        let in_sync = state.served_serial == Some(current);
        let lag = match state.served_serial {
            Some(serial) => store.changes_after(zone, serial).await?,
            None => None,
        };
        let lag_seconds = lag.as_ref().map(|l| {
            l.since
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or(0, |t| (now - t.with_timezone(&Utc)).num_seconds().max(0))
        });
        out.push(SecondaryReport {
            state,
            in_sync,
            lag_changes: lag.map(|l| l.changes),
            lag_seconds,
        });
    }
    Ok(out)
}
