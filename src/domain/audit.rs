//! The audit trail's hash chain: each event's hash is SHA-256 over the RFC 8785 (JSON
//! Canonicalization Scheme) encoding of all its other fields, the previous event's hash among
//! them, so that editing, deleting or reordering any event breaks the chain from there on.
//!
//! The encoding is standard on purpose: an auditor recomputes every hash with any JCS library
//! and any SHA-256 tool (docs/audit.md shows how), without ranah's code.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::access::Actor;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who an event names: a user in the role they acted in, the command line, or ranah itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// A user name, `cli` or `system`.
    pub name: String,
    /// The role acted in.
    pub role: Option<String>,
    /// Client address, `cli` or `system`.
    pub client: String,
}

impl Attribution {
    /// ranah itself.
    pub fn system() -> Self {
        Self::of(&Actor::system())
    }

    /// The command line.
    pub fn cli() -> Self {
        Self::of(&Actor::cli())
    }

    /// An actor, in the first role they hold now.
    pub fn of(actor: &Actor) -> Self {
        Self {
            name: actor.name.clone(),
            role: actor.roles.first().map(|r| r.to_string()),
            client: actor.client.clone().unwrap_or_else(|| "system".into()),
        }
    }

    /// The same actor, named in `role` (the role a step was acted on in).
    pub fn in_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }
}

/// What an action records, before the trail gives it a place: who, in which role, from where,
/// what and on what.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// A user name, `cli` or `system`.
    pub actor: String,
    /// The role acted in.
    pub role: Option<String>,
    /// The action, e.g. `request.approve`.
    pub action: String,
    /// The target, e.g. `request/42`.
    pub target: String,
    /// What changed (a JSON object).
    pub summary: serde_json::Value,
    /// Note or reason.
    pub note: Option<String>,
    /// Client address, `cli` or `system`.
    pub client: String,
}

impl AuditEntry {
    /// An entry by `who`.
    pub fn by(
        who: &Attribution,
        action: &str,
        target: impl Into<String>,
        summary: serde_json::Value,
    ) -> Self {
        Self {
            actor: who.name.clone(),
            role: who.role.clone(),
            action: action.into(),
            target: target.into(),
            summary,
            note: None,
            client: who.client.clone(),
        }
    }

    /// An entry by the command line (`actor` and `client` are `cli`).
    pub fn cli(action: &str, target: impl Into<String>, summary: serde_json::Value) -> Self {
        Self::by(&Attribution::cli(), action, target, summary)
    }

    /// The event this entry becomes at `seq`, after the event whose hash is `prev_hash`, at
    /// `at` (the store's timestamp): hashed, ready to append.
    pub fn chain(&self, seq: i64, prev_hash: String, at: String) -> AuditEvent {
        let mut event = AuditEvent {
            seq,
            at,
            actor: self.actor.clone(),
            role: self.role.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            summary: self.summary.clone(),
            note: self.note.clone(),
            client: self.client.clone(),
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }
}

/// The text of the `_audit.<zone>` TXT record that publishes the trail's head after event
/// `seq` with hash `hash`: anyone can compare what DNS answers with the trail.
pub fn anchor_text(seq: i64, hash: &str) -> String {
    format!("seq={seq} head={hash}")
}

/// One event of the trail, as stored and as hashed (every field but `hash`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    /// When (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// Who: a user name, `cli` or `system`.
    pub actor: String,
    /// The role the actor acted in, if any.
    pub role: Option<String>,
    /// What, e.g. `request.approve`, `zone.change`, `token.create`.
    pub action: String,
    /// On what, e.g. `request/42`, `zone/example.go.id`, `user/andi`.
    pub target: String,
    /// What changed, as a JSON object.
    pub summary: serde_json::Value,
    /// The actor's note or reason, if any.
    pub note: Option<String>,
    /// The client address (API), or `cli`, or `system`.
    pub client: String,
    /// The previous event's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) of the JCS encoding of the fields above.
    pub hash: String,
}

/// The fields that are hashed: every field of the event except `hash`.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    at: &'a str,
    actor: &'a str,
    role: Option<&'a str>,
    action: &'a str,
    target: &'a str,
    summary: &'a serde_json::Value,
    note: Option<&'a str>,
    client: &'a str,
    prev_hash: &'a str,
}

impl AuditEvent {
    /// The hash this event should carry.
    pub fn compute_hash(&self) -> String {
        let hashed = Hashed {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            role: self.role.as_deref(),
            action: &self.action,
            target: &self.target,
            summary: &self.summary,
            note: self.note.as_deref(),
            client: &self.client,
            prev_hash: &self.prev_hash,
        };
        // JCS of plain strings, integers and a JSON value cannot fail.
        let canonical = serde_jcs::to_vec(&hashed).unwrap_or_default();
        hex::encode(Sha256::digest(&canonical))
    }
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether every event is where and what it should be.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The last event's hash (the head), if any.
    pub head: Option<String>,
    /// The first sequence number at which the chain breaks.
    pub first_bad: Option<i64>,
}

/// Check events given in stored order: sequence numbers 1, 2, … without gaps, each
/// `prev_hash` the previous event's hash, each hash recomputed.
pub fn verify<'a>(events: impl IntoIterator<Item = &'a AuditEvent>) -> Verification {
    let mut prev = GENESIS.to_owned();
    let mut count = 0;
    let mut head = None;
    for (expected_seq, event) in (1_i64..).zip(events) {
        count += 1;
        let intact = event.seq == expected_seq
            && event.prev_hash == prev
            && event.compute_hash() == event.hash;
        if !intact {
            return Verification {
                ok: false,
                events: count,
                head: Some(event.hash.clone()),
                first_bad: Some(expected_seq),
            };
        }
        prev.clone_from(&event.hash);
        head = Some(event.hash.clone());
    }
    Verification {
        ok: true,
        events: count,
        head,
        first_bad: None,
    }
}

/// The text a checkpoint signs: the kind (`daily`, `monthly`), its label (date or month), and
/// the head. Plain and line-based so that it can be checked with any Ed25519 tool
/// (docs/audit.md).
pub fn checkpoint_text(kind: &str, label: &str, seq: i64, hash: &str) -> String {
    format!("ranah-audit-checkpoint\n{kind} {label}\nseq={seq}\nhead={hash}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent {
                    seq,
                    at: format!("2026-11-23T08:00:0{seq}.000Z"),
                    actor: "kadis".into(),
                    role: Some("head_of_office".into()),
                    action: "request.approve".into(),
                    target: format!("request/{seq}"),
                    summary: serde_json::json!({"step": "disposition", "b": 1, "a": [1, 2]}),
                    note: Some("Lanjutkan".into()),
                    client: "203.0.113.5".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let v = verify(&c);
        assert!(v.ok);
        assert_eq!(v.events, 5);
        assert_eq!(v.head.as_deref(), Some(c[4].hash.as_str()));
        assert_eq!(verify(&[]).head, None);
    }

    #[test]
    fn edit_delete_reorder_are_found() {
        let mut edited = chain(5);
        edited[2].note = Some("Tolak".into());
        assert_eq!(verify(&edited).first_bad, Some(3));
        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(verify(&deleted).first_bad, Some(2));
        let mut reordered = chain(5);
        reordered.swap(3, 4);
        assert_eq!(verify(&reordered).first_bad, Some(4));
        // Rehashing an edited event does not help: the next one's prev_hash no longer matches.
        let mut rehashed = chain(5);
        rehashed[1].note = None;
        rehashed[1].hash = rehashed[1].compute_hash();
        assert_eq!(verify(&rehashed).first_bad, Some(3));
    }

    #[test]
    fn the_hash_is_sha256_of_the_canonical_json() {
        let e = &chain(1)[0];
        let canonical = format!(
            r#"{{"action":"request.approve","actor":"kadis","at":"2026-11-23T08:00:01.000Z","client":"203.0.113.5","note":"Lanjutkan","prev_hash":"{GENESIS}","role":"head_of_office","seq":1,"summary":{{"a":[1,2],"b":1,"step":"disposition"}},"target":"request/1"}}"#
        );
        assert_eq!(e.hash, hex::encode(Sha256::digest(canonical.as_bytes())));
    }
}
