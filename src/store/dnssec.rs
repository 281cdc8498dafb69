//! DNSSEC keys and each zone's signing state. The store keeps the private half sealed as it
//! is given; it never opens it.

use hickory_proto::rr::Name;
use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::audit::AuditEntry;
use crate::domain::dnssec::{KeyRole, KeyTimes, ParentDs};

/// A key as stored.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Id.
    pub id: i64,
    /// Role.
    pub role: KeyRole,
    /// IANA algorithm number.
    pub algorithm: u8,
    /// Key tag.
    pub tag: u16,
    /// DNSKEY record data (wire).
    pub dnskey: Vec<u8>,
    /// The sealed PKCS#8 private key.
    pub sealed: Vec<u8>,
    /// Its life.
    pub times: KeyTimes,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// Role.
    pub role: KeyRole,
    /// IANA algorithm number.
    pub algorithm: u8,
    /// Key tag.
    pub tag: u16,
    /// DNSKEY record data (wire).
    pub dnskey: &'a [u8],
    /// The sealed PKCS#8 private key.
    pub sealed: &'a [u8],
    /// When it was made.
    pub created: u32,
    /// The newest key of the zone the decision to make this one saw (`None`: none): the key
    /// is refused when another key of its role was stored since (an instance that has just
    /// lost the leader's lock deciding on the keys as they were before the new leader's).
    pub decided_after: Option<i64>,
}

/// A zone's signing state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningState {
    /// The serial the signer last left right.
    pub signed_serial: Option<u32>,
    /// The fingerprint of the signer that last made the whole zone right
    /// (`ZoneSigner::fingerprint`).
    pub signed_with: Option<String>,
    /// When unsigning began.
    pub unsigning_since: Option<u32>,
    /// The parent's DS as last seen.
    pub parent: Option<ParentDs>,
}

fn opt_u32(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<u32>, StoreError> {
    let v: Option<i64> = row.try_get(col)?;
    Ok(v.and_then(|v| u32::try_from(v).ok()))
}

async fn zone_id(tx: &mut super::zones::Tx<'_>, origin: &Name) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT id FROM zones WHERE name = $1")
        .bind(origin.to_ascii())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("zone {origin}")))
}

impl Store {
    /// Every key of a zone, removed ones included, oldest first.
    pub async fn dnssec_keys(&self, origin: &Name) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT k.* FROM dnssec_keys k JOIN zones z ON z.id = k.zone_id WHERE z.name = $1 \
             ORDER BY k.id",
        )
        .bind(origin.to_ascii())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                let created: i64 = r.try_get("created_at")?;
                Ok(StoredKey {
                    id: r.try_get("id")?,
                    role: KeyRole::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("key role {role}")))?,
                    algorithm: u8::try_from(r.try_get::<i64, _>("algorithm")?).unwrap_or(0),
                    tag: u16::try_from(r.try_get::<i64, _>("tag")?).unwrap_or(0),
                    dnskey: r.try_get("dnskey")?,
                    sealed: r.try_get("private_key")?,
                    times: KeyTimes {
                        created: u32::try_from(created).unwrap_or(0),
                        published: opt_u32(r, "published_at")?,
                        active: opt_u32(r, "active_at")?,
                        retired: opt_u32(r, "retired_at")?,
                        submitted: opt_u32(r, "submitted_at")?,
                        ds_seen: opt_u32(r, "ds_seen_at")?,
                        removed: opt_u32(r, "removed_at")?,
                    },
                })
            })
            .collect()
    }

    /// Store a new key, with its audit entry. Returns its id.
    pub async fn insert_dnssec_key(
        &self,
        origin: &Name,
        key: &NewKey<'_>,
        audit: &AuditEntry,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let zone_id = zone_id(&mut tx, origin).await?;
        let made_since: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM dnssec_keys WHERE zone_id = $1 AND role = $2 AND id > $3",
        )
        .bind(zone_id)
        .bind(key.role.as_str())
        .bind(key.decided_after.unwrap_or(0))
        .fetch_one(&mut *tx)
        .await?;
        if made_since > 0 {
            return Err(StoreError::Conflict(origin.to_ascii()));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO dnssec_keys (zone_id, role, algorithm, tag, dnskey, private_key, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(zone_id)
        .bind(key.role.as_str())
        .bind(i64::from(key.algorithm))
        .bind(i64::from(key.tag))
        .bind(key.dnskey)
        .bind(key.sealed)
        .bind(i64::from(key.created))
        .fetch_one(&mut *tx)
        .await?;
        let mut entry = audit.clone();
        if let Some(summary) = entry.summary.as_object_mut() {
            summary.insert("key_id".into(), serde_json::json!(id));
        }
        super::append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Record key steps (new times of keys) and the zone's unsigning state, with their audit
    /// entries, in one transaction.
    pub async fn record_key_steps(
        &self,
        origin: &Name,
        keys: &[(i64, KeyTimes)],
        unsigning_since: Option<u32>,
        audit: &[AuditEntry],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let zone_id = zone_id(&mut tx, origin).await?;
        for (id, t) in keys {
            let v = |t: Option<u32>| t.map(i64::from);
            sqlx::query(
                "UPDATE dnssec_keys SET published_at = $1, active_at = $2, retired_at = $3, \
                 submitted_at = $4, ds_seen_at = $5, removed_at = $6 WHERE id = $7 \
                 AND zone_id = $8",
            )
            .bind(v(t.published))
            .bind(v(t.active))
            .bind(v(t.retired))
            .bind(v(t.submitted))
            .bind(v(t.ds_seen))
            .bind(v(t.removed))
            .bind(id)
            .bind(zone_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO dnssec_zones (zone_id, unsigning_since) VALUES ($1, $2) \
             ON CONFLICT (zone_id) DO UPDATE SET unsigning_since = excluded.unsigning_since",
        )
        .bind(zone_id)
        .bind(unsigning_since.map(i64::from))
        .execute(&mut *tx)
        .await?;
        for entry in audit {
            super::append_audit(&mut tx, entry, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record that the signer with this fingerprint made the whole zone right.
    pub async fn set_signed_with(
        &self,
        origin: &Name,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dnssec_zones (zone_id, signed_with) \
             SELECT id, $2 FROM zones WHERE name = $1 \
             ON CONFLICT (zone_id) DO UPDATE SET signed_with = excluded.signed_with",
        )
        .bind(origin.to_ascii())
        .bind(fingerprint)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A zone's signing state (the default for a zone never signed).
    pub async fn signing_state(&self, origin: &Name) -> Result<SigningState, StoreError> {
        let row = sqlx::query(
            "SELECT d.* FROM dnssec_zones d JOIN zones z ON z.id = d.zone_id WHERE z.name = $1",
        )
        .bind(origin.to_ascii())
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(SigningState::default());
        };
        let parent = match opt_u32(&r, "parent_checked_at")? {
            Some(checked_at) => {
                let ids: Option<String> = r.try_get("parent_key_ids")?;
                Some(ParentDs {
                    checked_at,
                    key_ids: ids
                        .map(|s| serde_json::from_str(&s).unwrap_or_default())
                        .unwrap_or_default(),
                    none_since: opt_u32(&r, "parent_none_since")?,
                })
            }
            None => None,
        };
        Ok(SigningState {
            signed_serial: opt_u32(&r, "signed_serial")?,
            signed_with: r.try_get("signed_with")?,
            unsigning_since: opt_u32(&r, "unsigning_since")?,
            parent,
        })
    }

    /// Record what the parent's name servers served.
    pub async fn record_parent_ds(&self, origin: &Name, seen: &ParentDs) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let zone_id = zone_id(&mut tx, origin).await?;
        sqlx::query(
            "INSERT INTO dnssec_zones (zone_id, parent_checked_at, parent_key_ids, \
             parent_none_since) VALUES ($1, $2, $3, $4) ON CONFLICT (zone_id) DO UPDATE SET \
             parent_checked_at = excluded.parent_checked_at, \
             parent_key_ids = excluded.parent_key_ids, \
             parent_none_since = excluded.parent_none_since",
        )
        .bind(zone_id)
        .bind(i64::from(seen.checked_at))
        .bind(serde_json::to_string(&seen.key_ids).unwrap_or_else(|_| "[]".into()))
        .bind(seen.none_since.map(i64::from))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Mark the zone's signatures right as of `serial`, in the caller's transaction.
pub(crate) async fn mark_signed(
    tx: &mut super::zones::Tx<'_>,
    zone_id: i64,
    serial: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO dnssec_zones (zone_id, signed_serial) VALUES ($1, $2) \
         ON CONFLICT (zone_id) DO UPDATE SET signed_serial = excluded.signed_serial",
    )
    .bind(zone_id)
    .bind(i64::from(serial))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_zone() -> (tempfile::TempDir, Store, Name) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let zone = "$ORIGIN example.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n\
                    @ NS ns1\nns1 A 203.0.113.1\n";
        let content = crate::zone::file::parse(zone, "example.zone", None).unwrap();
        let audit = AuditEntry::cli("zone.import", "zone/example.", serde_json::json!({}));
        store
            .create_zone(&content, None, &audit, chrono::Utc::now())
            .await
            .unwrap();
        (dir, store, content.origin)
    }

    fn key(role: KeyRole, tag: u16, decided_after: Option<i64>) -> NewKey<'static> {
        NewKey {
            role,
            algorithm: 13,
            tag,
            dnskey: b"dnskey",
            sealed: b"sealed",
            created: 1,
            decided_after,
        }
    }

    /// Two instances deciding on the same keys (one that has just lost the leader's lock, and
    /// the new leader) cannot both make the key their decision called for: the second is
    /// refused, while a key of another role decided on the same keys is still made.
    #[tokio::test]
    async fn a_key_decided_on_keys_since_outdated_is_refused() {
        let (_dir, store, origin) = store_with_zone().await;
        let audit = AuditEntry::cli("dnssec.key.create", "zone/example.", serde_json::json!({}));
        let now = chrono::Utc::now();
        let ksk = store
            .insert_dnssec_key(&origin, &key(KeyRole::Ksk, 1, None), &audit, now)
            .await
            .unwrap();
        // The same decision (no keys yet) taken a second time: refused.
        let twice = store
            .insert_dnssec_key(&origin, &key(KeyRole::Ksk, 2, None), &audit, now)
            .await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
        // Another role, decided on the same keys: made.
        store
            .insert_dnssec_key(&origin, &key(KeyRole::Zsk, 3, None), &audit, now)
            .await
            .unwrap();
        // A successor decided on the keys as they are now: made.
        store
            .insert_dnssec_key(&origin, &key(KeyRole::Ksk, 4, Some(ksk + 1)), &audit, now)
            .await
            .unwrap();
        let roles: Vec<(KeyRole, u16)> = store
            .dnssec_keys(&origin)
            .await
            .unwrap()
            .iter()
            .map(|k| (k.role, k.tag))
            .collect();
        assert_eq!(
            roles,
            [(KeyRole::Ksk, 1), (KeyRole::Zsk, 3), (KeyRole::Ksk, 4)]
        );
    }
}
