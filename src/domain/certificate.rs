//! Certificates: their states, when to renew, when to retry. Pure rules; the ACME adapter
//! (the `acme` part) does the talking.

use chrono::{DateTime, Duration, Utc};

/// Where a certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    /// An order is due or in flight (a first issuance or a renewal).
    Pending,
    /// The chain is issued and current.
    Issued,
    /// The last attempt failed; retried at `next_attempt_at` unless attempts ran out.
    Failed,
    /// The name was deleted: to be revoked at the CA.
    Revoking,
    /// Revoked (or cancelled before issuance); not renewed.
    Revoked,
}

impl CertStatus {
    /// The stored and displayed word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Issued => "issued",
            Self::Failed => "failed",
            Self::Revoking => "revoking",
            Self::Revoked => "revoked",
        }
    }

    /// Parse the stored word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "issued" => Self::Issued,
            "failed" => Self::Failed,
            "revoking" => Self::Revoking,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }

    /// All states, for metrics.
    pub const ALL: [CertStatus; 5] = [
        Self::Pending,
        Self::Issued,
        Self::Failed,
        Self::Revoking,
        Self::Revoked,
    ];

    /// The state in the applicant's words (the response letter).
    pub fn in_indonesian(self) -> &'static str {
        match self {
            Self::Pending => "sedang diterbitkan",
            Self::Issued => "telah diterbitkan",
            Self::Failed => "gagal diterbitkan, dicoba ulang otomatis",
            Self::Revoking | Self::Revoked => "dicabut",
        }
    }
}

/// Who holds the private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyMode {
    /// ranah made an ECDSA P-256 key and keeps it sealed.
    Managed,
    /// The agency sent a CSR; its key never leaves its server.
    Csr,
}

impl KeyMode {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::Csr => "csr",
        }
    }

    /// Parse the stored word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "managed" => Some(Self::Managed),
            "csr" => Some(Self::Csr),
            _ => None,
        }
    }
}

/// When to renew a certificate valid from `not_before` to `not_after`: at two thirds of its
/// lifetime (Let's Encrypt's advice), or earlier when the CA's renewal window (ARI, RFC 9773)
/// starts earlier.
pub fn renewal_time(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    ari_window_start: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let lifetime = not_after - not_before;
    let two_thirds = not_before + lifetime * 2 / 3;
    match ari_window_start {
        Some(start) if start < two_thirds => start,
        _ => two_thirds,
    }
}

/// The delay before attempt `attempts + 1` after `attempts` failures: `base`, doubling, at most
/// `max`. `None` once `max_attempts` failures are reached: then only a person restarts it.
pub fn retry_delay(
    attempts: u32,
    base_secs: u64,
    max_secs: u64,
    max_attempts: u32,
) -> Option<Duration> {
    if attempts >= max_attempts {
        return None;
    }
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    let secs = base_secs.saturating_mul(factor).min(max_secs);
    Some(Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)))
}

/// A certificate's name as ranah keys it: lower case, without the trailing dot.
pub fn normal_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The owner of the DNS-01 challenge TXT for `name` (RFC 8555 §8.4).
pub fn challenge_owner(name: &str) -> String {
    format!(
        "{}.{}",
        super::policy::ACME_CHALLENGE_LABEL,
        name.trim_end_matches('.')
    )
}

/// The notice to the owning agency that a (renewed) certificate is ready: subject and body, in
/// Indonesian.
pub fn issued_notice(
    name: &str,
    serial: &str,
    not_after: DateTime<Utc>,
    renewal: bool,
    mode: KeyMode,
) -> (String, String) {
    let what = if renewal { "diperbarui" } else { "diterbitkan" };
    let subject = format!("Sertifikat SSL {name} telah {what}");
    let key = match mode {
        KeyMode::Managed => format!(
            "Kunci privat dapat diunduh oleh pengelola instansi di \
             /api/v1/certificates/{name}/key.pem (setiap unduhan tercatat).\n"
        ),
        KeyMode::Csr => "Sertifikat ini dibuat dari CSR instansi; kunci privat tetap di server \
                         instansi.\n"
            .to_string(),
    };
    let body = format!(
        "Yth. Pengelola {name},\n\n\
         Sertifikat SSL untuk {name} telah {what}.\n\
         Nomor seri   : {serial}\n\
         Berlaku s.d. : {}\n\n\
         Rantai sertifikat dapat diambil di /api/v1/certificates/{name}/chain.pem. \
         Pasang rantai yang baru pada server Anda; sertifikat lama tetap berlaku sampai masa \
         berlakunya habis.\n{key}\n\
         Pesan ini dikirim otomatis oleh ranah.",
        not_after.format("%Y-%m-%d %H:%M UTC")
    );
    (subject, body)
}

/// What can happen to a name's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A new order: a provisioning, an agency's or admin's order.
    Order,
    /// A renewal: its time came, or `ranah cert renew`.
    Renew,
    /// The CA issued the chain.
    Issued,
    /// An attempt (an order or a revocation) failed.
    Failed,
    /// The CA revoked it.
    Revoked,
    /// Its name was deleted.
    Withdraw,
}

/// Why a transition does not apply to a certificate's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionRefused {
    /// An order is in flight already.
    #[error("an order for this certificate is in flight already")]
    InFlight,
    /// The certificate is being revoked.
    #[error("this certificate is being revoked")]
    Revoking,
    /// Nothing to renew: it is revoked.
    #[error("a revoked certificate is not renewed")]
    Revoked,
    /// The transition does not apply (an outcome of a superseded attempt, a withdrawal of what
    /// is withdrawn already): nothing is written.
    #[error("the certificate is {0:?}; this does not apply")]
    NotApplicable(Option<CertStatus>),
}

/// The state a certificate in state `from` (`None`: none yet) takes on `t`; `has_chain` says
/// whether a chain was ever issued (a withdrawal revokes it at the CA, or cancels an order that
/// never issued). The store writes the new state only if the certificate is still in `from`.
pub fn next(
    from: Option<CertStatus>,
    t: Transition,
    has_chain: bool,
) -> Result<CertStatus, TransitionRefused> {
    use CertStatus::*;
    use Transition as T;
    match (t, from) {
        (T::Order, Some(Pending)) => Err(TransitionRefused::InFlight),
        (T::Order, Some(Revoking)) => Err(TransitionRefused::Revoking),
        (T::Order, _) => Ok(Pending),
        (T::Renew, Some(Issued | Failed | Pending)) => Ok(Pending),
        (T::Renew, Some(Revoking)) => Err(TransitionRefused::Revoking),
        (T::Renew, Some(Revoked)) => Err(TransitionRefused::Revoked),
        (T::Issued, Some(Pending | Failed)) => Ok(Issued),
        (T::Failed, Some(Pending | Failed)) => Ok(Failed),
        // A failed revocation stays to be revoked: it is never given up.
        (T::Failed, Some(Revoking)) => Ok(Revoking),
        (T::Revoked, Some(Revoking)) => Ok(Revoked),
        (T::Withdraw, Some(Pending | Issued | Failed)) if has_chain => Ok(Revoking),
        (T::Withdraw, Some(Pending | Issued | Failed)) => Ok(Revoked),
        (_, from) => Err(TransitionRefused::NotApplicable(from)),
    }
}

/// Whether a new order keeps the managed key of the certificate it replaces: only a managed key
/// of the same agency that was not revoked (a new owner, a CSR, or a revocation starts afresh).
pub fn keeps_managed_key(
    current: (KeyMode, CertStatus, Option<i64>),
    new_mode: KeyMode,
    new_agency: Option<i64>,
) -> bool {
    let (mode, status, agency) = current;
    new_mode == KeyMode::Managed
        && mode == KeyMode::Managed
        && status != CertStatus::Revoked
        && agency == new_agency
}

/// What the API's own certificate (`api.tls.acme_name`) needs when the daemon starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnCertificate {
    /// None yet, revoked, or failed with no retry left: order one now.
    Order,
    /// An order is in flight or due, or the certificate is issued (the worker renews it).
    Keep,
    /// The name's certificate belongs to an agency (or to a CSR): the API may not take it.
    NotOurs,
}

/// The step for the API's own certificate, given the name's current certificate, if any: its
/// state, key mode, owning agency and whether a retry is scheduled.
pub fn own_certificate(
    current: Option<(CertStatus, KeyMode, Option<i64>, bool)>,
) -> OwnCertificate {
    match current {
        None => OwnCertificate::Order,
        Some((_, KeyMode::Csr, _, _) | (_, _, Some(_), _)) => OwnCertificate::NotOurs,
        Some((CertStatus::Revoked, ..)) => OwnCertificate::Order,
        Some((CertStatus::Failed, _, _, false)) => OwnCertificate::Order,
        Some(_) => OwnCertificate::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn renews_at_two_thirds_or_the_ari_window() {
        let nb = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let na = nb + Duration::days(90);
        assert_eq!(renewal_time(nb, na, None), nb + Duration::days(60));
        let early = nb + Duration::days(30);
        assert_eq!(renewal_time(nb, na, Some(early)), early);
        assert_eq!(
            renewal_time(nb, na, Some(nb + Duration::days(80))),
            nb + Duration::days(60)
        );
    }

    #[test]
    fn retries_double_up_to_the_cap_and_stop() {
        let d = |n| retry_delay(n, 30, 3600, 5).map(|d| d.num_seconds());
        assert_eq!(d(1), Some(30));
        assert_eq!(d(2), Some(60));
        assert_eq!(d(3), Some(120));
        assert_eq!(d(4), Some(240));
        assert_eq!(d(5), None);
        assert_eq!(
            retry_delay(9, 30, 3600, 20).map(|d| d.num_seconds()),
            Some(3600)
        );
    }

    #[test]
    fn states_round_trip() {
        for s in CertStatus::ALL {
            assert_eq!(CertStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            challenge_owner("sipd.example.go.id."),
            "_acme-challenge.sipd.example.go.id"
        );
    }

    #[test]
    fn transitions() {
        use CertStatus::*;
        use Transition as T;
        // Every transition from every state: the lifecycle the store follows.
        let from = [
            None,
            Some(Pending),
            Some(Issued),
            Some(Failed),
            Some(Revoking),
            Some(Revoked),
        ];
        #[rustfmt::skip]
        let table: [(Transition, [Option<CertStatus>; 6]); 5] = [
            (T::Order,   [Some(Pending), None,          Some(Pending), Some(Pending), None,           Some(Pending)]),
            (T::Renew,   [None,          Some(Pending), Some(Pending), Some(Pending), None,           None]),
            (T::Issued,  [None,          Some(Issued),  None,          Some(Issued),  None,           None]),
            (T::Failed,  [None,          Some(Failed),  None,          Some(Failed),  Some(Revoking), None]),
            (T::Revoked, [None,          None,          None,          None,          Some(Revoked),  None]),
        ];
        for (t, expected) in table {
            for (f, e) in from.iter().zip(expected) {
                assert_eq!(next(*f, t, true).ok(), e, "{t:?} from {f:?}");
            }
        }
        assert_eq!(
            next(Some(Pending), T::Order, false),
            Err(TransitionRefused::InFlight)
        );
        assert_eq!(next(Some(Issued), T::Withdraw, true), Ok(Revoking));
        assert_eq!(next(Some(Pending), T::Withdraw, false), Ok(Revoked));
        assert!(next(Some(Revoked), T::Withdraw, true).is_err());
        assert!(next(None, T::Withdraw, false).is_err());
        assert!(keeps_managed_key(
            (KeyMode::Managed, Issued, Some(1)),
            KeyMode::Managed,
            Some(1)
        ));
        assert!(!keeps_managed_key(
            (KeyMode::Managed, Revoked, Some(1)),
            KeyMode::Managed,
            Some(1)
        ));
        assert!(!keeps_managed_key(
            (KeyMode::Managed, Issued, Some(1)),
            KeyMode::Managed,
            Some(2)
        ));
        assert!(!keeps_managed_key(
            (KeyMode::Csr, Issued, Some(1)),
            KeyMode::Managed,
            Some(1)
        ));
    }

    #[test]
    fn the_apis_own_certificate_is_ordered_once_and_never_taken_from_an_agency() {
        use CertStatus::*;
        use KeyMode::*;
        use OwnCertificate as O;
        assert_eq!(own_certificate(None), O::Order);
        assert_eq!(
            own_certificate(Some((Revoked, Managed, None, false))),
            O::Order
        );
        assert_eq!(
            own_certificate(Some((Failed, Managed, None, false))),
            O::Order
        );
        assert_eq!(
            own_certificate(Some((Failed, Managed, None, true))),
            O::Keep
        );
        for status in [Pending, Issued, Revoking] {
            assert_eq!(
                own_certificate(Some((status, Managed, None, true))),
                O::Keep
            );
        }
        for status in CertStatus::ALL {
            assert_eq!(
                own_certificate(Some((status, Managed, Some(3), false))),
                O::NotOurs
            );
            assert_eq!(
                own_certificate(Some((status, Csr, None, false))),
                O::NotOurs
            );
        }
    }
}
