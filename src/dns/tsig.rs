//! TSIG (RFC 8945): checking signed requests and signing the responses to them.
//!
//! hickory-proto parses the TSIG record, builds the data a request's MAC covers and computes the
//! HMACs; what is ranah's is the policy around it: which keys exist, the order of the checks
//! (key, then MAC, then time, §5.2), the error answers (BADKEY and BADSIG unsigned, BADTIME
//! signed, §5.3.2), and the MAC chaining across the messages of a zone transfer (§5.3.1: the
//! first message covers the request's MAC and the full TSIG variables, each later one the
//! previous MAC and the timers only).

use std::sync::Arc;

use hickory_proto::rr::rdata::tsig::{
    TSIG, TsigAlgorithm, TsigError, make_tsig_record, signed_bitmessage_to_buf,
};
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::BinEncoder;

/// Seconds of clock difference accepted, in both directions (RFC 8945 recommends 300).
pub const FUDGE: u16 = 300;

/// One shared secret.
#[derive(Clone)]
pub struct TsigKey {
    /// The key's name, as both sides know it (lower case, absolute).
    pub name: Name,
    /// The HMAC algorithm.
    pub algorithm: TsigAlgorithm,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Errors in a key's definition.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsigKeyError {
    /// The name is not a domain name.
    #[error("`{0}` is not a valid key name")]
    Name(String),
    /// The algorithm is not one ranah signs with.
    #[error("unsupported algorithm `{0}` (use hmac-sha256, hmac-sha384 or hmac-sha512)")]
    Algorithm(String),
    /// The secret is empty.
    #[error("the secret is empty")]
    EmptySecret,
    /// No key has this name.
    #[error("no TSIG key named `{0}`")]
    Unknown(String),
}

impl TsigKey {
    /// A key from its name, algorithm name (`hmac-sha256`…) and decoded secret.
    pub fn new(name: &str, algorithm: &str, secret: Vec<u8>) -> Result<Self, TsigKeyError> {
        let mut name = Name::from_ascii(name)
            .map_err(|_| TsigKeyError::Name(name.to_owned()))?
            .to_lowercase();
        name.set_fqdn(true);
        let algorithm = match algorithm.to_ascii_lowercase().trim_end_matches('.') {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => return Err(TsigKeyError::Algorithm(other.to_owned())),
        };
        if secret.is_empty() {
            return Err(TsigKeyError::EmptySecret);
        }
        Ok(Self {
            name,
            algorithm,
            secret,
        })
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        // The algorithms accepted by `new` are exactly those hickory computes.
        self.algorithm
            .mac_data(&self.secret, data)
            .unwrap_or_default()
    }
}

/// The keys ranah knows.
#[derive(Debug, Default, Clone)]
pub struct KeyRing {
    keys: Vec<Arc<TsigKey>>,
}

impl KeyRing {
    /// A ring of these keys.
    pub fn new(keys: Vec<TsigKey>) -> Self {
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    /// The key with this name.
    pub fn get(&self, name: &Name) -> Option<&Arc<TsigKey>> {
        // Compared as absolute, lower-case names: `xfr-key` and `XFR-Key.` are the same key.
        let mut wanted = name.to_lowercase();
        wanted.set_fqdn(true);
        self.keys
            .iter()
            .find(|k| k.name.to_ascii() == wanted.to_ascii())
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Why a signed request was not accepted; the answer is NOTAUTH with this TSIG error.
#[derive(Debug)]
pub enum Rejection {
    /// BADKEY or BADSIG: the answer's TSIG carries the error and no MAC (§5.3.2).
    Unsigned {
        /// The TSIG error.
        error: TsigError,
        /// The TSIG record of the answer.
        tsig: Box<Record<TSIG>>,
    },
    /// BADTIME: the MAC was good, so the answer is signed, with the request's time and ours
    /// in Other Data, so that the client can tell how far apart the clocks are (§5.2.3).
    BadTime {
        /// The session to sign the answer with.
        session: Session,
        /// The request's Time Signed.
        request_time: u64,
    },
}

impl Rejection {
    /// The unsigned error answer to a request with this signature.
    pub fn unsigned(signature: &Record<TSIG>, error: TsigError) -> Self {
        let tsig = &signature.data;
        Self::Unsigned {
            error,
            tsig: Box::new(make_tsig_record(
                signature.name.clone(),
                TSIG::new(
                    tsig.algorithm.clone(),
                    tsig.time,
                    tsig.fudge,
                    Vec::new(),
                    tsig.oid,
                    Some(error),
                    Vec::new(),
                ),
            )),
        }
    }

    /// The error's name as logs and metrics show it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::BadTime { .. } => "BADTIME",
            Self::Unsigned {
                error: TsigError::BadKey,
                ..
            } => "BADKEY",
            Self::Unsigned { .. } => "BADSIG",
        }
    }

    /// The TSIG record for the error answer whose encoding without TSIG is `unsigned`.
    pub fn answer_tsig(self, unsigned: &[u8], now: u64) -> Box<Record<TSIG>> {
        match self {
            Self::Unsigned { tsig, .. } => tsig,
            Self::BadTime {
                mut session,
                request_time,
            } => {
                let other = now.to_be_bytes()[2..].to_vec();
                session.sign_as(unsigned, request_time, Some(TsigError::BadTime), other)
            }
        }
    }
}

/// A verified request and the state for signing its response messages.
#[derive(Debug, Clone)]
pub struct Session {
    key: Arc<TsigKey>,
    /// The MAC the next response message chains to: the request's, then each message's own.
    previous_mac: Vec<u8>,
    original_id: u16,
    first: bool,
}

impl Session {
    /// The key the request was signed with.
    pub fn key(&self) -> &Arc<TsigKey> {
        &self.key
    }

    /// The TSIG record for the next response message, whose encoding without TSIG is
    /// `unsigned` (header counts as sent, minus the TSIG record).
    pub fn sign(&mut self, unsigned: &[u8], now: u64) -> Box<Record<TSIG>> {
        self.sign_as(unsigned, now, None, Vec::new())
    }

    fn sign_as(
        &mut self,
        unsigned: &[u8],
        time: u64,
        error: Option<TsigError>,
        other: Vec<u8>,
    ) -> Box<Record<TSIG>> {
        let now = time;
        let tsig = TSIG::new(
            self.key.algorithm.clone(),
            time,
            FUDGE,
            Vec::new(),
            self.original_id,
            error,
            other,
        );
        let mut data = Vec::with_capacity(unsigned.len() + self.previous_mac.len() + 64);
        data.extend_from_slice(&(self.previous_mac.len() as u16).to_be_bytes());
        data.extend_from_slice(&self.previous_mac);
        data.extend_from_slice(unsigned);
        if self.first {
            data.extend_from_slice(&variables(&tsig, &self.key.name));
        } else {
            data.extend_from_slice(&timers(now, FUDGE));
        }
        let mac = self.key.mac(&data);
        self.previous_mac.clone_from(&mac);
        self.first = false;
        Box::new(make_tsig_record(self.key.name.clone(), tsig.set_mac(mac)))
    }
}

/// Sign an outgoing request (NOTIFY, SOA query) whose encoding without TSIG is `unsigned`.
/// Returns the TSIG record to add and the session that checks the response.
pub fn sign_request(
    key: &Arc<TsigKey>,
    unsigned: &[u8],
    id: u16,
    now: u64,
) -> (Box<Record<TSIG>>, Session) {
    let tsig = TSIG::new(
        key.algorithm.clone(),
        now,
        FUDGE,
        Vec::new(),
        id,
        None,
        Vec::new(),
    );
    let mut data = unsigned.to_vec();
    data.extend_from_slice(&variables(&tsig, &key.name));
    let mac = key.mac(&data);
    let session = Session {
        key: key.clone(),
        previous_mac: mac.clone(),
        original_id: id,
        first: true,
    };
    (
        Box::new(make_tsig_record(key.name.clone(), tsig.set_mac(mac))),
        session,
    )
}

impl Session {
    /// Whether `raw`, the response to the request this session signed, carries a good TSIG
    /// of the same key.
    pub fn verify_response(&self, raw: &[u8]) -> bool {
        let Ok((data, tsig)) = signed_bitmessage_to_buf(raw, Some(&self.previous_mac), true) else {
            return false;
        };
        tsig.name == self.key.name
            && tsig.data.error.is_none()
            && self
                .key
                .algorithm
                .verify_mac(&self.key.secret, &data, &tsig.data.mac)
                .is_ok()
    }
}

/// The TSIG variables a first message's MAC covers (§4.3.3). A `BinEncoder` writes from the
/// start of its buffer, so they are encoded on their own and appended.
fn variables(tsig: &TSIG, key_name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut encoder = BinEncoder::new(&mut out);
    // Writing into a Vec cannot fail.
    let _ = tsig.emit_tsig_for_mac(&mut encoder, key_name);
    out
}

fn timers(time: u64, fudge: u16) -> [u8; 8] {
    let t = time.to_be_bytes();
    let f = fudge.to_be_bytes();
    [t[2], t[3], t[4], t[5], t[6], t[7], f[0], f[1]]
}

/// Check the TSIG of a request whose wire form is `raw` and whose parsed signature is
/// `signature`, at `now` (seconds since the epoch).
pub fn verify_request(
    ring: &KeyRing,
    raw: &[u8],
    signature: &Record<TSIG>,
    now: u64,
) -> Result<Session, Rejection> {
    let tsig = &signature.data;
    let unsigned_error = |error| Rejection::unsigned(signature, error);
    let Some(key) = ring.get(&signature.name) else {
        return Err(unsigned_error(TsigError::BadKey));
    };
    if key.algorithm != tsig.algorithm {
        return Err(unsigned_error(TsigError::BadKey));
    }
    let Ok((data, _)) = signed_bitmessage_to_buf(raw, None, true) else {
        return Err(unsigned_error(TsigError::BadSig));
    };
    if key
        .algorithm
        .verify_mac(&key.secret, &data, &tsig.mac)
        .is_err()
    {
        return Err(unsigned_error(TsigError::BadSig));
    }
    let session = Session {
        key: key.clone(),
        previous_mac: tsig.mac.clone(),
        original_id: tsig.oid,
        first: true,
    };
    // The request's fudge, but never more than ours (RFC 8945 §5.2.3 recommends 300 s): a
    // signed message lives no longer than that, which bounds replay (dynamic update keeps the
    // MACs it accepted for as long).
    if now.abs_diff(tsig.time) > u64::from(tsig.fudge.min(FUDGE)) {
        return Err(Rejection::BadTime {
            session,
            request_time: tsig.time,
        });
    }
    Ok(session)
}

/// Seconds since the epoch, for TSIG times.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::RecordType;

    fn key(secret: u8) -> Arc<TsigKey> {
        Arc::new(TsigKey::new("xfr-key", "hmac-sha256", vec![secret; 32]).unwrap())
    }

    fn signed_query(key: &Arc<TsigKey>, now: u64) -> (Vec<u8>, Session) {
        let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii("example.go.id.").unwrap(),
            RecordType::SOA,
        ));
        let unsigned = m.to_vec().unwrap();
        let (sig, session) = sign_request(key, &unsigned, 4242, now);
        m.set_signature(sig);
        (m.to_vec().unwrap(), session)
    }

    fn parsed_signature(raw: &[u8]) -> Box<Record<TSIG>> {
        let mut m = Message::from_vec(raw).unwrap();
        m.take_signature().expect("signed")
    }

    #[test]
    fn a_signed_exchange_round_trips() {
        let k = key(7);
        let ring = KeyRing::new(vec![
            TsigKey::new("xfr-key", "hmac-sha256", vec![7; 32]).unwrap(),
        ]);
        let now = 1_800_000_000;
        let (raw, client) = signed_query(&k, now);
        let mut server = verify_request(&ring, &raw, &parsed_signature(&raw), now).unwrap();

        // The response, signed by the server, verifies at the client.
        let mut response = Message::from_vec(&raw).unwrap();
        response.take_signature();
        response.metadata.message_type = MessageType::Response;
        let unsigned = response.to_vec().unwrap();
        response.set_signature(server.sign(&unsigned, now));
        let wire = response.to_vec().unwrap();
        assert!(client.verify_response(&wire));

        // A tampered response does not.
        let mut bad = wire.clone();
        bad[3] ^= 0x01;
        assert!(!client.verify_response(&bad));
    }

    #[test]
    fn bad_key_bad_sig_bad_time() {
        let ring = KeyRing::new(vec![
            TsigKey::new("xfr-key", "hmac-sha256", vec![7; 32]).unwrap(),
        ]);
        let now = 1_800_000_000;
        let (raw, _) = signed_query(&key(8), now);
        let err = verify_request(&ring, &raw, &parsed_signature(&raw), now).unwrap_err();
        assert_eq!(err.name(), "BADSIG");
        let other = Arc::new(TsigKey::new("other-key", "hmac-sha256", vec![7; 32]).unwrap());
        let (raw, _) = signed_query(&other, now);
        let err = verify_request(&ring, &raw, &parsed_signature(&raw), now).unwrap_err();
        assert_eq!(err.name(), "BADKEY");
        let (raw, _) = signed_query(&key(7), now - 1000);
        let err = verify_request(&ring, &raw, &parsed_signature(&raw), now).unwrap_err();
        assert_eq!(err.name(), "BADTIME");
    }
}
