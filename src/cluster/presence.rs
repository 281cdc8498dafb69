//! Each instance says in the store, every few seconds, how it is (its addresses, whether it
//! leads, the serial of each zone it serves), so that `ranah status` lists the instances it
//! sees and how far each has followed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::dns::Zones;
use crate::store::{InstanceRow, Store};

/// How often an instance reports.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// How long without a report before `ranah status` calls an instance gone.
pub const GONE_AFTER: chrono::Duration = chrono::Duration::seconds(30);

/// This instance, as it reports itself.
pub struct Presence {
    /// Where it reports.
    pub store: Store,
    /// What it serves.
    pub zones: Arc<Zones>,
    /// Whether it leads.
    pub role: super::leader::Role,
    /// Its fixed facts (its `leader`, `serials` and `seen_at` are set at each report).
    pub row: InstanceRow,
}

impl Presence {
    /// The id of the instance whose API listens on `api`: its host's name and that port, so
    /// that two instances on one host differ and a restarted one takes its own row again.
    /// Returns the id and the host's name.
    pub fn id(api: std::net::SocketAddr) -> (String, String) {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        (format!("{host}:{}", api.port()), host)
    }

    /// Report until `shutdown`, then remove the row.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            self.row.leader = *self.role.borrow();
            let serials: serde_json::Map<String, serde_json::Value> = self
                .zones
                .views()
                .iter()
                .map(|v| (v.origin().to_string(), v.serial().into()))
                .collect();
            self.row.serials = serde_json::Value::Object(serials).to_string();
            match self
                .store
                .report_instance(&self.row, chrono::Utc::now())
                .await
            {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("reporting this instance in the store again");
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot report this instance in the store");
                }
                Err(_) => {}
            }
        }
        if let Err(error) = self.store.forget_instance(&self.row.id).await {
            tracing::debug!(%error, "cannot remove this instance's row");
        }
    }
}
