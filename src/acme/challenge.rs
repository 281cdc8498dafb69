//! The DNS-01 challenge in ranah's own zone: `_acme-challenge.<name>` TXT published through the
//! change path, checked in the served view and on the secondaries before the CA is told, and
//! removed afterwards.

use super::*;

impl Certificates {
    /// Publish the challenge values at `_acme-challenge.<name>` (replacing older ones) through
    /// the one change path; returns when ranah's DNS answers them and the secondaries serve
    /// them (or the propagation timeout passed).
    pub(super) async fn publish_challenge(
        &self,
        row: &CertificateRow,
        values: &[String],
    ) -> Result<(), AcmeError> {
        let (zone, owner) = self.challenge_names(row)?;
        let mut ops = vec![ChangeOp::RemoveRRset(owner.clone(), RecordType::TXT)];
        for value in values {
            ops.push(ChangeOp::Add(Record::from_rdata(
                owner.clone(),
                CHALLENGE_TTL,
                RData::TXT(TXT::new(vec![value.clone()])),
            )));
        }
        let applied = self
            .publisher
            .apply(
                &ChangeSet {
                    zone,
                    ops,
                    meta: ChangeMeta {
                        reason: format!("ACME challenge for {}", row.name),
                        actor: Some(Attribution::system()),
                        ..ChangeMeta::default()
                    },
                },
                Utc::now(),
            )
            .await?;
        // `apply` returns once the view is published; ask the view the DNS server answers
        // from, as a resolver would, so that the CA is told only what DNS says.
        let answer = self.publisher.zones().resolve(
            &hickory_proto::rr::LowerName::new(&owner),
            RecordType::TXT,
            false,
        );
        let served: Vec<String> = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(txt.to_string()),
                _ => None,
            })
            .collect();
        if let Some(missing) = values.iter().find(|v| !served.contains(v)) {
            return Err(AcmeError::Invalid(format!(
                "DNS does not answer the challenge {missing} at {owner} after publishing it"
            )));
        }
        self.wait_for_secondaries(&row.zone, applied.serial).await;
        Ok(())
    }

    pub(super) async fn clear_challenge(&self, row: &CertificateRow) -> Result<(), AcmeError> {
        let (zone, owner) = self.challenge_names(row)?;
        self.publisher
            .apply(
                &ChangeSet {
                    zone,
                    ops: vec![ChangeOp::RemoveRRset(owner, RecordType::TXT)],
                    meta: ChangeMeta {
                        reason: format!("ACME challenge for {} done", row.name),
                        actor: Some(Attribution::system()),
                        ..ChangeMeta::default()
                    },
                },
                Utc::now(),
            )
            .await?;
        Ok(())
    }

    pub(super) fn challenge_names(&self, row: &CertificateRow) -> Result<(Name, Name), AcmeError> {
        let bad = |e: hickory_proto::ProtoError| AcmeError::Invalid(format!("{}: {e}", row.name));
        let zone = Name::from_ascii(&row.zone).map_err(bad)?;
        let owner = Name::from_ascii(format!("{}.", certificate::challenge_owner(&row.name)))
            .map_err(bad)?;
        Ok((zone, owner))
    }

    /// Wait until every secondary of the zone serves `serial` or later, at most
    /// `propagation_timeout_secs` (then go on: the CA asks ranah itself, secondaries are a
    /// courtesy to CAs that ask other name servers).
    pub(super) async fn wait_for_secondaries(&self, zone: &str, serial: u32) {
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.config.propagation_timeout_secs);
        loop {
            let behind = match self.store.secondary_states(Some(zone)).await {
                Ok(states) => states
                    .iter()
                    .filter(|s| {
                        s.served_serial
                            .is_none_or(|x| !crate::dns::transfer::serial_at_or_ahead(x, serial))
                    })
                    .count(),
                Err(_) => 0,
            };
            if behind == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    zone,
                    serial,
                    behind,
                    "secondaries do not serve the challenge yet; going on"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
