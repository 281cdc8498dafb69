//! DNSSEC as the office decides it: the signing policy of a zone, when a signature is due,
//! and the life of a key (made, published, active, retired, removed), with the rollovers that
//! move keys through it. Pure: times are Unix seconds handed in by the caller.
//!
//! The planner ([`plan`]) is the one place that decides what happens to keys; the key service
//! carries its steps out (new keys, publication, the parent's DS) and records each in the
//! audit trail.

use serde::{Deserialize, Serialize};

/// A signing algorithm ranah signs with (RFC 8624 "MUST sign": 13; 15 recommended).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (number 13): the default, what registries and validators
    /// support everywhere.
    Ecdsap256sha256,
    /// Ed25519 (number 15).
    Ed25519,
}

impl Algorithm {
    /// The IANA number.
    pub fn number(self) -> u8 {
        match self {
            Self::Ecdsap256sha256 => 13,
            Self::Ed25519 => 15,
        }
    }

    /// The algorithm with this IANA number, if ranah signs with it.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            13 => Some(Self::Ecdsap256sha256),
            15 => Some(Self::Ed25519),
            _ => None,
        }
    }

    /// The mnemonic (RFC 8624).
    pub fn mnemonic(self) -> &'static str {
        match self {
            Self::Ecdsap256sha256 => "ECDSAP256SHA256",
            Self::Ed25519 => "ED25519",
        }
    }
}

/// How the zone's keys divide the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyModel {
    /// One combined signing key signs everything (Knot's `single-type-signing`).
    Csk,
    /// A key-signing key signs the DNSKEY set; a zone-signing key signs the rest.
    KskZsk,
}

/// How the zone proves that names and types do not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Denial {
    /// NSEC3 with SHA-1, no salt, no extra iterations and no opt-out (RFC 9276).
    Nsec3,
    /// NSEC (the zone's names can be listed by walking the chain).
    Nsec,
}

/// The signing policy of one zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningPolicy {
    /// Whether the zone is signed. Turning it off unsigns the zone only after the parent
    /// has dropped its DS (see [`plan`]).
    pub enabled: bool,
    /// The algorithm of new keys.
    pub algorithm: Algorithm,
    /// CSK, or KSK and ZSK.
    pub keys: KeyModel,
    /// NSEC3 or NSEC.
    pub denial: Denial,
    /// How long a new signature is valid (seconds).
    pub signature_validity: u32,
    /// A signature is made again when less than this remains of it (seconds).
    pub signature_refresh: u32,
    /// Up to this much (seconds) is added to a signature's validity, by a hash of what it
    /// signs, so that signatures made together fall due at different times.
    pub signature_jitter: u32,
    /// TTL of the DNSKEY, CDS and CDNSKEY sets.
    pub dnskey_ttl: u32,
    /// How long a zone-signing key signs before it is rolled (seconds; 0: never).
    pub zsk_lifetime: u32,
    /// How long a key-signing (or combined) key signs before it is rolled (seconds; 0:
    /// never).
    pub ksk_lifetime: u32,
    /// How long a change takes to reach every secondary (seconds), added to every wait.
    pub propagation_delay: u32,
    /// The TTL of the DS set at the parent (seconds): how long resolvers may keep the old
    /// DS after the parent changed it.
    pub parent_ds_ttl: u32,
    /// The largest TTL of the zone's records, as the office knows it (Knot's
    /// `zone-max-ttl`): how long an old zone-signing key stays after it stopped signing. 0:
    /// ranah takes the largest TTL it serves.
    pub zone_max_ttl: u32,
}

impl Default for SigningPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            algorithm: Algorithm::Ecdsap256sha256,
            keys: KeyModel::Csk,
            denial: Denial::Nsec3,
            signature_validity: 14 * DAY,
            signature_refresh: 7 * DAY,
            signature_jitter: DAY,
            dnskey_ttl: 3600,
            zsk_lifetime: 90 * DAY,
            ksk_lifetime: 0,
            propagation_delay: 3600,
            parent_ds_ttl: DAY,
            zone_max_ttl: 0,
        }
    }
}

const DAY: u32 = 86_400;

/// A signature is dated this long before it is made, so that a validator whose clock is
/// behind still accepts it (Knot and BIND backdate by one hour).
pub const INCEPTION_OFFSET: u32 = 3600;

impl SigningPolicy {
    /// What is wrong with the policy's numbers, if anything (a refresh that would re-sign at
    /// once, or never before expiry).
    pub fn check(&self) -> Result<(), String> {
        if self.signature_validity < 3600 {
            return Err("signature_validity_secs must be at least 3600".into());
        }
        if self.signature_refresh == 0 || self.signature_refresh >= self.signature_validity {
            return Err(
                "signature_refresh_secs must be at least 1 and less than signature_validity_secs"
                    .into(),
            );
        }
        if self.signature_jitter >= self.signature_refresh {
            return Err("signature_jitter_secs must be less than signature_refresh_secs".into());
        }
        if self.dnskey_ttl == 0 {
            return Err("dnskey_ttl must be at least 1".into());
        }
        for (name, lifetime) in [
            ("zsk_lifetime_secs", self.zsk_lifetime),
            ("ksk_lifetime_secs", self.ksk_lifetime),
        ] {
            // A key must outlive the waits of its own roll.
            let min = self.dnskey_ttl.saturating_add(self.propagation_delay);
            if lifetime != 0 && lifetime <= min {
                return Err(format!(
                    "{name} must be 0 (never roll) or longer than dnskey_ttl + \
                     propagation_delay_secs ({min} s)"
                ));
            }
        }
        Ok(())
    }

    /// The validity of a signature made at `now` over the set that `spread` identifies (a hash
    /// of its owner and type): from an hour ago to the validity plus this set's share of the
    /// jitter.
    pub fn validity(&self, now: u32, spread: u64) -> Validity {
        let jitter = match self.signature_jitter {
            0 => 0,
            j => (spread % u64::from(j)) as u32,
        };
        Validity {
            inception: now.saturating_sub(INCEPTION_OFFSET),
            expiration: now
                .saturating_add(self.signature_validity)
                .saturating_add(jitter),
        }
    }

    /// Whether a signature that expires at `expiration` must be made again at `now`.
    pub fn refresh_due(&self, expiration: u32, now: u32) -> bool {
        i64::from(expiration) - i64::from(now) < i64::from(self.signature_refresh)
    }
}

/// When a signature is valid (Unix seconds, as the RRSIG carries them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Not before.
    pub inception: u32,
    /// Not after.
    pub expiration: u32,
}

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Combined: signs the DNSKEY set and the zone; its DS is at the parent.
    Csk,
    /// Key-signing: signs the DNSKEY set; its DS is at the parent.
    Ksk,
    /// Zone-signing: signs the rest.
    Zsk,
}

impl KeyRole {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csk => "csk",
            Self::Ksk => "ksk",
            Self::Zsk => "zsk",
        }
    }

    /// The role with this word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csk" => Some(Self::Csk),
            "ksk" => Some(Self::Ksk),
            "zsk" => Some(Self::Zsk),
            _ => None,
        }
    }

    /// Whether the key signs the DNSKEY set and has its DS at the parent.
    pub fn is_entry_point(self) -> bool {
        matches!(self, Self::Csk | Self::Ksk)
    }

    /// Whether the key signs the zone's data.
    pub fn signs_zone(self) -> bool {
        matches!(self, Self::Csk | Self::Zsk)
    }

    /// The DNSKEY flags: 257 (zone key, secure entry point) or 256.
    pub fn dnskey_flags(self) -> u16 {
        if self.is_entry_point() { 257 } else { 256 }
    }
}

/// When a key entered each stage of its life (Unix seconds); a stage not reached is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTimes {
    /// Made.
    pub created: u32,
    /// Its DNSKEY entered the zone.
    pub published: Option<u32>,
    /// It began to sign (the zone's data, for a CSK or ZSK; an entry point signs the DNSKEY set
    /// from its publication on).
    pub active: Option<u32>,
    /// It stopped signing the zone's data (a successor took over).
    pub retired: Option<u32>,
    /// Its CDS and CDNSKEY entered the zone: the parent is asked to serve its DS.
    pub submitted: Option<u32>,
    /// The parent was first seen serving its DS.
    pub ds_seen: Option<u32>,
    /// Its DNSKEY left the zone.
    pub removed: Option<u32>,
}

impl KeyTimes {
    /// Record that `step` was carried out at `at`, for the key steps (the others concern the
    /// zone, or make a key). Returns the step's name (`publish`, `activate`, …) when it was a
    /// key step.
    pub fn record(&mut self, step: KeyStep, at: u32) -> Option<&'static str> {
        let (slot, name) = match step {
            KeyStep::Publish(_) => (&mut self.published, "publish"),
            KeyStep::Activate(_) => (&mut self.active, "activate"),
            KeyStep::Retire(_) => (&mut self.retired, "retire"),
            KeyStep::Submit(_) => (&mut self.submitted, "submit"),
            KeyStep::DsSeen(_) => (&mut self.ds_seen, "ds_seen"),
            KeyStep::Remove(_) => (&mut self.removed, "remove"),
            KeyStep::Create(_) | KeyStep::StartUnsigning | KeyStep::StopUnsigning => return None,
        };
        *slot = Some(at);
        Some(name)
    }
}

impl KeyStep {
    /// The key a key step concerns.
    pub fn key(self) -> Option<i64> {
        match self {
            Self::Publish(id)
            | Self::Activate(id)
            | Self::Retire(id)
            | Self::Submit(id)
            | Self::DsSeen(id)
            | Self::Remove(id) => Some(id),
            Self::Create(_) | Self::StartUnsigning | Self::StopUnsigning => None,
        }
    }
}

/// A key as the planner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The store's id.
    pub id: i64,
    /// What it does.
    pub role: KeyRole,
    /// Its stages.
    pub times: KeyTimes,
}

impl KeyRecord {
    fn live(&self) -> bool {
        self.times.removed.is_none()
    }

    /// Whether its DNSKEY is in the zone.
    pub fn published(&self) -> bool {
        self.times.published.is_some() && self.live()
    }

    /// Whether it signs the zone's data now.
    pub fn signs_zone(&self) -> bool {
        self.role.signs_zone()
            && self.times.active.is_some()
            && self.times.retired.is_none()
            && self.live()
    }

    /// Whether it signs the DNSKEY, CDS and CDNSKEY sets now: an entry point from its
    /// publication to its removal (so that during a roll the set carries both signatures and
    /// validates with either DS).
    pub fn signs_keys(&self) -> bool {
        self.role.is_entry_point() && self.published()
    }
}

/// What was last seen at the parent's name servers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParentDs {
    /// When they were asked.
    pub checked_at: u32,
    /// The keys whose DS they serve.
    pub key_ids: Vec<i64>,
    /// Since when they have served no DS at all for the zone (while they keep serving none).
    pub none_since: Option<u32>,
}

/// Everything the planner looks at for one zone.
#[derive(Clone, Copy, Debug)]
pub struct KeyContext<'a> {
    /// The zone's policy.
    pub policy: &'a SigningPolicy,
    /// Its keys, removed ones included.
    pub keys: &'a [KeyRecord],
    /// Now.
    pub now: u32,
    /// The largest TTL in the zone: how long a resolver may keep a signature.
    pub max_ttl: u32,
    /// The parent's DS as last seen, if it was ever asked.
    pub parent: Option<&'a ParentDs>,
    /// When the zone began to be unsigned (its CDS became the delete CDS), if it is being.
    pub unsigning_since: Option<u32>,
}

/// One step of a key's life, due now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStep {
    /// Make a new key with this role.
    Create(KeyRole),
    /// Put the key's DNSKEY in the zone.
    Publish(i64),
    /// The key begins to sign.
    Activate(i64),
    /// The key stops signing the zone's data (its successor signs).
    Retire(i64),
    /// Publish the key's CDS and CDNSKEY (the DS the parent should serve).
    Submit(i64),
    /// The parent serves the key's DS.
    DsSeen(i64),
    /// Take the key's DNSKEY out of the zone.
    Remove(i64),
    /// Begin to unsign: publish the delete CDS and CDNSKEY (RFC 8078).
    StartUnsigning,
    /// The policy signs again: withdraw the delete CDS.
    StopUnsigning,
}

/// The steps due now and when to look again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPlan {
    /// Due now, in order.
    pub steps: Vec<KeyStep>,
    /// The earliest time a wait ends, if something waits on time (a parent that has not yet
    /// served a DS is asked again at the caller's interval).
    pub next: Option<u32>,
}

impl KeyPlan {
    fn wait_until(&mut self, t: u32) {
        self.next = Some(self.next.map_or(t, |n| n.min(t)));
    }
}

/// What is due for the zone's keys at `ctx.now`. The caller carries the steps out (a
/// [`KeyStep::Create`] gives a new key), records their times, and asks again until no step is
/// due: every rule below waits for something the steps before it recorded.
///
/// - A new zone gets its keys published, active and submitted at once: no resolver has
///   anything of it cached.
/// - A zone-signing key (ZSK, or the data side of a CSK) rolls by pre-publication: the new key
///   is published, and only when its DNSKEY has reached every cache (DNSKEY TTL and the
///   propagation delay) does it sign, the old one stepping back; the old DNSKEY stays until the
///   old signatures have expired from caches (the zone's largest TTL and the delay).
/// - An entry point (KSK, or the key side of a CSK) rolls by double signature: the new key
///   signs the DNSKEY set beside the old one from its publication; once published long enough,
///   its CDS and CDNSKEY replace the old one's; the old key leaves only after the parent serves
///   the new DS and the old DS has expired from caches (the parent's DS TTL and the delay).
/// - Unsigning goes through the delete CDS; the keys leave only once the parent has served no
///   DS for the DS TTL and the delay.
pub fn plan(ctx: &KeyContext<'_>) -> KeyPlan {
    let mut plan = KeyPlan::default();
    let p = ctx.policy;
    let now = ctx.now;
    let live: Vec<&KeyRecord> = ctx.keys.iter().filter(|k| k.live()).collect();
    let settle = p.dnskey_ttl.saturating_add(p.propagation_delay);
    let expire = ctx.max_ttl.saturating_add(p.propagation_delay);
    let ds_expire = p.parent_ds_ttl.saturating_add(p.propagation_delay);

    if !p.enabled {
        if live.is_empty() {
            if ctx.unsigning_since.is_some() {
                plan.steps.push(KeyStep::StopUnsigning);
            }
            return plan;
        }
        let Some(since) = ctx.unsigning_since else {
            plan.steps.push(KeyStep::StartUnsigning);
            return plan;
        };
        // The parent must have been seen without any DS since the delete CDS went out, for
        // as long as resolvers may keep the DS.
        if let Some(none_since) = ctx.parent.and_then(|d| d.none_since)
            && none_since >= since
        {
            let at = none_since.saturating_add(ds_expire);
            if now >= at {
                plan.steps
                    .extend(live.iter().map(|k| KeyStep::Remove(k.id)));
            } else {
                plan.wait_until(at);
            }
        }
        return plan;
    }
    if ctx.unsigning_since.is_some() {
        plan.steps.push(KeyStep::StopUnsigning);
    }

    // Keys the policy needs and the zone lacks.
    let entry_role = match p.keys {
        KeyModel::Csk => KeyRole::Csk,
        KeyModel::KskZsk => KeyRole::Ksk,
    };
    if !live.iter().any(|k| k.role.is_entry_point()) {
        plan.steps.push(KeyStep::Create(entry_role));
    }
    if p.keys == KeyModel::KskZsk && !live.iter().any(|k| k.role == KeyRole::Zsk) {
        plan.steps.push(KeyStep::Create(KeyRole::Zsk));
    }
    if !plan.steps.is_empty() && !matches!(plan.steps[..], [KeyStep::StopUnsigning]) {
        return plan;
    }

    // A zone with no key published yet is signed whole at once.
    if !live.iter().any(|k| k.times.published.is_some()) {
        for k in &live {
            plan.steps.push(KeyStep::Publish(k.id));
            plan.steps.push(KeyStep::Activate(k.id));
            if k.role.is_entry_point() {
                plan.steps.push(KeyStep::Submit(k.id));
            }
        }
        return plan;
    }

    for k in &live {
        let t = k.times;
        let Some(published) = t.published else {
            // Pre-publication starts as soon as the successor exists.
            plan.steps.push(KeyStep::Publish(k.id));
            continue;
        };
        let settled = published.saturating_add(settle);
        // The data side: a published successor takes over once its DNSKEY is everywhere.
        if k.role.signs_zone() && t.active.is_none() {
            if now >= settled {
                plan.steps.push(KeyStep::Activate(k.id));
                for old in live.iter().filter(|o| {
                    o.id != k.id && o.signs_zone() && o.role.signs_zone() && o.role == k.role
                }) {
                    plan.steps.push(KeyStep::Retire(old.id));
                }
            } else {
                plan.wait_until(settled);
            }
        }
        if k.role == KeyRole::Ksk && t.active.is_none() {
            plan.steps.push(KeyStep::Activate(k.id));
        }
        // The key side: submit the DS once the DNSKEY is everywhere.
        if k.role.is_entry_point() && t.submitted.is_none() {
            if now >= settled {
                plan.steps.push(KeyStep::Submit(k.id));
            } else {
                plan.wait_until(settled);
            }
        }
        if k.role.is_entry_point()
            && t.submitted.is_some()
            && t.ds_seen.is_none()
            && let Some(parent) = ctx.parent
            && parent.key_ids.contains(&k.id)
        {
            plan.steps.push(KeyStep::DsSeen(k.id));
        }
    }

    // Old keys leave once nothing cached can need them.
    for old in &live {
        let t = old.times;
        let successor = live
            .iter()
            .find(|n| n.role == old.role && (n.times.created, n.id) > (t.created, old.id));
        let Some(successor) = successor else {
            continue;
        };
        let mut ready = match t.retired {
            Some(retired) if old.role.signs_zone() => retired.saturating_add(expire),
            None if old.role.signs_zone() => continue,
            _ => 0,
        };
        if old.role.is_entry_point() {
            let Some(seen) = successor.times.ds_seen else {
                continue;
            };
            ready = ready.max(seen.saturating_add(ds_expire));
        }
        if now >= ready {
            plan.steps.push(KeyStep::Remove(old.id));
        } else {
            plan.wait_until(ready);
        }
    }

    // Rolls fall due by lifetime, for the newest key of each role.
    for role in [KeyRole::Csk, KeyRole::Ksk, KeyRole::Zsk] {
        let lifetime = if role == KeyRole::Zsk {
            p.zsk_lifetime
        } else {
            p.ksk_lifetime
        };
        // One roll at a time: while an old key of the role is still there, the next roll
        // waits for it to leave.
        let of_role: Vec<&&KeyRecord> = live.iter().filter(|k| k.role == role).collect();
        let [newest] = of_role[..] else {
            continue;
        };
        if lifetime == 0 {
            continue;
        }
        let Some(active) = newest.times.active else {
            continue;
        };
        let due = active.saturating_add(lifetime);
        if now >= due {
            plan.steps.push(KeyStep::Create(role));
        } else {
            plan.wait_until(due);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u32 = 1_800_000_000;

    fn policy(keys: KeyModel) -> SigningPolicy {
        SigningPolicy {
            keys,
            dnskey_ttl: 100,
            propagation_delay: 10,
            parent_ds_ttl: 1000,
            zsk_lifetime: 5000,
            ksk_lifetime: 20_000,
            ..SigningPolicy::default()
        }
    }

    /// Runs the planner the way the key service does: carry out every step at `now`, ask
    /// again until nothing is due.
    struct Zone {
        policy: SigningPolicy,
        keys: Vec<KeyRecord>,
        parent: Option<ParentDs>,
        unsigning_since: Option<u32>,
        next_id: i64,
    }

    impl Zone {
        fn new(policy: SigningPolicy) -> Self {
            Self {
                policy,
                keys: Vec::new(),
                parent: None,
                unsigning_since: None,
                next_id: 1,
            }
        }

        fn run(&mut self, now: u32) -> (Vec<KeyStep>, Option<u32>) {
            let mut all = Vec::new();
            for _ in 0..10 {
                let plan = plan(&KeyContext {
                    policy: &self.policy,
                    keys: &self.keys,
                    now,
                    max_ttl: 300,
                    parent: self.parent.as_ref(),
                    unsigning_since: self.unsigning_since,
                });
                if plan.steps.is_empty() {
                    return (all, plan.next);
                }
                for step in &plan.steps {
                    match *step {
                        KeyStep::Create(role) => {
                            self.keys.push(KeyRecord {
                                id: self.next_id,
                                role,
                                times: KeyTimes {
                                    created: now,
                                    ..KeyTimes::default()
                                },
                            });
                            self.next_id += 1;
                        }
                        KeyStep::StartUnsigning => self.unsigning_since = Some(now),
                        KeyStep::StopUnsigning => self.unsigning_since = None,
                        key_step => {
                            let id = key_step.key().unwrap();
                            let k = self.keys.iter_mut().find(|k| k.id == id).unwrap();
                            assert!(k.times.record(key_step, now).is_some());
                        }
                    }
                }
                all.extend(plan.steps);
            }
            panic!("the planner did not settle: {all:?}");
        }

        fn live(&self) -> Vec<(i64, KeyRole, bool, bool)> {
            self.keys
                .iter()
                .filter(|k| k.times.removed.is_none())
                .map(|k| (k.id, k.role, k.signs_zone(), k.signs_keys()))
                .collect()
        }
    }

    #[test]
    fn a_new_zone_is_signed_at_once() {
        let mut z = Zone::new(policy(KeyModel::KskZsk));
        let (steps, _) = z.run(T0);
        assert!(steps.contains(&KeyStep::Create(KeyRole::Ksk)));
        assert!(steps.contains(&KeyStep::Create(KeyRole::Zsk)));
        assert_eq!(
            z.live(),
            vec![
                (1, KeyRole::Ksk, false, true),
                (2, KeyRole::Zsk, true, false)
            ]
        );
        assert!(z.keys[0].times.submitted.is_some());
        assert!(z.keys[1].times.submitted.is_none());
        // Nothing more until the ZSK's lifetime ends.
        let (steps, next) = z.run(T0 + 10);
        assert!(steps.is_empty());
        assert_eq!(next, Some(T0 + 5000));
    }

    #[test]
    fn zsk_rolls_by_pre_publication() {
        let mut z = Zone::new(policy(KeyModel::KskZsk));
        z.run(T0);
        let t = T0 + 5000;
        z.run(t);
        // The successor is published, not yet signing.
        assert_eq!(
            z.live(),
            vec![
                (1, KeyRole::Ksk, false, true),
                (2, KeyRole::Zsk, true, false),
                (3, KeyRole::Zsk, false, false)
            ]
        );
        // Before the DNSKEY TTL and the delay have passed, nothing changes.
        let (steps, next) = z.run(t + 109);
        assert!(steps.is_empty(), "{steps:?}");
        assert_eq!(next, Some(t + 110));
        let (steps, _) = z.run(t + 110);
        assert_eq!(steps, vec![KeyStep::Activate(3), KeyStep::Retire(2)]);
        // The old key stays published until its signatures expire from caches.
        let (steps, next) = z.run(t + 200);
        assert!(steps.is_empty());
        assert_eq!(next, Some(t + 110 + 310));
        let (steps, _) = z.run(t + 420);
        assert_eq!(steps, vec![KeyStep::Remove(2)]);
    }

    #[test]
    fn ksk_waits_for_the_parent_before_the_old_key_leaves() {
        let mut z = Zone::new(policy(KeyModel::Csk));
        z.run(T0);
        z.parent = Some(ParentDs {
            checked_at: T0 + 1,
            key_ids: vec![1],
            none_since: None,
        });
        z.run(T0 + 1);
        assert!(z.keys[0].times.ds_seen.is_some());
        let t = T0 + 20_000;
        z.run(t);
        assert_eq!(z.live().len(), 2);
        // Both keys sign the DNSKEY set; the old one still signs the data.
        assert_eq!(
            z.live(),
            vec![
                (1, KeyRole::Csk, true, true),
                (2, KeyRole::Csk, false, true)
            ]
        );
        let (steps, _) = z.run(t + 110);
        assert_eq!(
            steps,
            vec![KeyStep::Activate(2), KeyStep::Retire(1), KeyStep::Submit(2)]
        );
        // However long the parent keeps the old DS, the old key stays.
        let (steps, _) = z.run(t + 100_000);
        assert!(steps.is_empty(), "{steps:?}");
        assert_eq!(z.live().len(), 2);
        // The parent serves the new DS: the old key leaves once the old DS has expired.
        z.parent = Some(ParentDs {
            checked_at: t + 100_001,
            key_ids: vec![2],
            none_since: None,
        });
        let (steps, next) = z.run(t + 100_001);
        assert_eq!(steps, vec![KeyStep::DsSeen(2)]);
        assert_eq!(next, Some(t + 100_001 + 1010));
        let (steps, _) = z.run(t + 101_011);
        // The new key's own lifetime has run out meanwhile: its roll starts as soon as the
        // old key has left, not before (one roll at a time).
        assert_eq!(
            steps,
            vec![
                KeyStep::Remove(1),
                KeyStep::Create(KeyRole::Csk),
                KeyStep::Publish(3)
            ]
        );
        assert_eq!(
            z.live(),
            vec![
                (2, KeyRole::Csk, true, true),
                (3, KeyRole::Csk, false, true)
            ]
        );
    }

    #[test]
    fn unsigning_waits_for_the_parent_to_drop_the_ds() {
        let mut z = Zone::new(policy(KeyModel::Csk));
        z.run(T0);
        z.policy.enabled = false;
        let (steps, _) = z.run(T0 + 10);
        assert_eq!(steps, vec![KeyStep::StartUnsigning]);
        // No word from the parent: the keys stay.
        assert!(z.run(T0 + 1_000_000).0.is_empty());
        z.parent = Some(ParentDs {
            checked_at: T0 + 20,
            key_ids: vec![],
            none_since: Some(T0 + 20),
        });
        let (steps, next) = z.run(T0 + 30);
        assert!(steps.is_empty());
        assert_eq!(next, Some(T0 + 20 + 1010));
        let (steps, _) = z.run(T0 + 1030);
        assert_eq!(steps, vec![KeyStep::Remove(1), KeyStep::StopUnsigning]);
        assert!(z.live().is_empty());
        // Turned on again: new keys, signed at once.
        z.policy.enabled = true;
        z.run(T0 + 2000);
        assert_eq!(z.live(), vec![(2, KeyRole::Csk, true, true)]);
    }

    #[test]
    fn signatures_spread_and_fall_due() {
        let p = SigningPolicy::default();
        let a = p.validity(T0, 1);
        let b = p.validity(T0, 40_000);
        assert_eq!(a.inception, T0 - 3600);
        assert_ne!(a.expiration, b.expiration);
        assert!(b.expiration < T0 + p.signature_validity + p.signature_jitter);
        assert!(!p.refresh_due(a.expiration, T0));
        assert!(p.refresh_due(a.expiration, a.expiration - p.signature_refresh + 1));
        assert!(p.check().is_ok());
        let bad = SigningPolicy {
            signature_refresh: p.signature_validity,
            ..p
        };
        assert!(bad.check().is_err());
    }
}
