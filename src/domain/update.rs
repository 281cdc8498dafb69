//! Who may change what by dynamic update (RFC 2136), in the manner of BIND's `update-policy`.
//!
//! Every update key is ranah's own (`ranah key create`). A key of an agency may answer ACME
//! DNS-01 challenges for the names that agency holds and nothing else: TXT records at
//! `_acme-challenge.<name>`, where the closest name at or above `<name>` that has an owner
//! belongs to the agency (so a certificate for `www.dinkes…` is the holder of `dinkes…`'s to
//! obtain, and a name another agency holds inside it stays that agency's). A key without an
//! agency (an operator's) may do what the configuration grants it: some types at some names
//! and below; without a grant, nothing. Names are lower case and absolute (`a.example.`),
//! types their mnemonic (`TXT`).

pub use super::policy::ACME_CHALLENGE_LABEL;

/// The type an agency's key may change.
pub const CHALLENGE_TYPE: &str = "TXT";

/// What one key may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// An agency's key: challenges for the names the agency holds.
    Agency(i64),
    /// An operator's key with a configured grant: these types (all but the SOA and the
    /// signer's when empty) at these names and below.
    Names {
        /// The names the grant covers, each with what is below it.
        names: Vec<String>,
        /// The types it covers; empty for all.
        types: Vec<String>,
    },
    /// An operator's key nothing is granted to.
    Nothing,
}

/// One name and type an update changes; `rtype` is `None` for every type at the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch<'a> {
    /// The owner.
    pub owner: &'a str,
    /// The type, or every type.
    pub rtype: Option<&'a str>,
}

/// Why an update was refused by the policy (answered REFUSED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An agency's key changes something other than a challenge's TXT.
    #[error("an agency's key changes only TXT records at _acme-challenge names, not {0}")]
    NotAChallenge(String),
    /// The challenge is for a name the key's agency does not hold.
    #[error("{0} is not a name the key's agency holds")]
    NotHeld(String),
    /// Outside an operator key's configured grant.
    #[error("{0} is outside the key's grant")]
    OutsideGrant(String),
    /// An operator key nothing is granted to.
    #[error("nothing is granted to this key")]
    NoGrant,
}

/// The name a challenge at `owner` is for: what follows `_acme-challenge.`, when `owner` is
/// one.
pub fn challenge_for(owner: &str) -> Option<&str> {
    let rest = owner
        .strip_prefix(ACME_CHALLENGE_LABEL)?
        .strip_prefix('.')?;
    (!rest.is_empty()).then_some(rest)
}

/// Whether `name` is `base` or below it.
pub fn at_or_below(name: &str, base: &str) -> bool {
    let (name, base) = (name.trim_end_matches('.'), base.trim_end_matches('.'));
    base.is_empty()
        || name.eq_ignore_ascii_case(base)
        || (name.len() > base.len()
            && name.as_bytes()[name.len() - base.len() - 1] == b'.'
            && name[name.len() - base.len()..].eq_ignore_ascii_case(base))
}

impl Grant {
    /// The types this grant may change at a name, when it is limited to some: a deletion of
    /// every set at a name deletes only these (as BIND does).
    pub fn types(&self) -> Option<Vec<String>> {
        match self {
            Self::Agency(_) => Some(vec![CHALLENGE_TYPE.to_owned()]),
            Self::Names { types, .. } if !types.is_empty() => Some(types.clone()),
            Self::Names { .. } => None,
            Self::Nothing => Some(Vec::new()),
        }
    }

    /// Whether the key may make this change in `zone`. `holder` gives the agency holding a
    /// name: that of the closest name at or above it, below the apex, that has an owner.
    pub fn permits(
        &self,
        zone: &str,
        touch: Touch<'_>,
        holder: impl Fn(&str) -> Option<i64>,
    ) -> Result<(), Refusal> {
        match self {
            Self::Agency(agency) => {
                let what = || format!("{} {}", touch.owner, touch.rtype.unwrap_or("ANY"));
                let target =
                    challenge_for(touch.owner).ok_or_else(|| Refusal::NotAChallenge(what()))?;
                if !touch
                    .rtype
                    .is_some_and(|t| t.eq_ignore_ascii_case(CHALLENGE_TYPE))
                {
                    return Err(Refusal::NotAChallenge(what()));
                }
                // The apex is the office's; a challenge there is not an agency's to answer.
                let below_apex = at_or_below(target, zone) && !at_or_below(zone, target);
                if !below_apex || holder(target) != Some(*agency) {
                    return Err(Refusal::NotHeld(target.trim_end_matches('.').to_owned()));
                }
                Ok(())
            }
            Self::Names { names, types } => {
                let what = || format!("{} {}", touch.owner, touch.rtype.unwrap_or("ANY"));
                if !names.iter().any(|n| at_or_below(touch.owner, n)) {
                    return Err(Refusal::OutsideGrant(what()));
                }
                match touch.rtype {
                    _ if types.is_empty() => Ok(()),
                    Some(t) if types.iter().any(|g| g.eq_ignore_ascii_case(t)) => Ok(()),
                    _ => Err(Refusal::OutsideGrant(what())),
                }
            }
            Self::Nothing => Err(Refusal::NoGrant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "example.go.id.";

    fn holders(name: &str) -> Option<i64> {
        // dinkes is agency 1's; a.dinkes inside it agency 2's.
        if at_or_below(name, "a.dinkes.example.go.id.") {
            Some(2)
        } else if at_or_below(name, "dinkes.example.go.id.") {
            Some(1)
        } else {
            None
        }
    }

    fn txt(owner: &str) -> Touch<'_> {
        Touch {
            owner,
            rtype: Some("TXT"),
        }
    }

    #[test]
    fn challenge_names_and_subtrees() {
        assert_eq!(
            challenge_for("_acme-challenge.dinkes.example.go.id."),
            Some("dinkes.example.go.id.")
        );
        assert_eq!(challenge_for("_acme-challenge."), None);
        assert_eq!(
            challenge_for("_acme-challengex.dinkes.example.go.id."),
            None
        );
        assert_eq!(challenge_for("www.dinkes.example.go.id."), None);
        assert!(at_or_below("a.b.example.", "b.example."));
        assert!(at_or_below("B.Example.", "b.example"));
        assert!(!at_or_below("ab.example.", "b.example."));
        assert!(!at_or_below("example.", "b.example."));
    }

    #[test]
    fn an_agency_key_answers_challenges_for_its_names_only() {
        let key = Grant::Agency(1);
        let ok = |owner| key.permits(ZONE, txt(owner), holders);
        assert_eq!(ok("_acme-challenge.dinkes.example.go.id."), Ok(()));
        assert_eq!(ok("_acme-challenge.www.dinkes.example.go.id."), Ok(()));
        // Held by another agency, inside the first one's name.
        assert_eq!(
            ok("_acme-challenge.a.dinkes.example.go.id."),
            Err(Refusal::NotHeld("a.dinkes.example.go.id".into()))
        );
        assert_eq!(
            ok("_acme-challenge.bappeda.example.go.id."),
            Err(Refusal::NotHeld("bappeda.example.go.id".into()))
        );
        // The apex is nobody's.
        assert!(matches!(
            ok("_acme-challenge.example.go.id."),
            Err(Refusal::NotHeld(_))
        ));
        // Not a challenge, or not TXT, or every type.
        assert!(matches!(
            ok("dinkes.example.go.id."),
            Err(Refusal::NotAChallenge(_))
        ));
        let a = Touch {
            owner: "_acme-challenge.dinkes.example.go.id.",
            rtype: Some("A"),
        };
        assert!(matches!(
            key.permits(ZONE, a, holders),
            Err(Refusal::NotAChallenge(_))
        ));
        let all = Touch {
            owner: "_acme-challenge.dinkes.example.go.id.",
            rtype: None,
        };
        assert!(matches!(
            key.permits(ZONE, all, holders),
            Err(Refusal::NotAChallenge(_))
        ));
        assert_eq!(key.types(), Some(vec!["TXT".to_owned()]));
    }

    #[test]
    fn an_operator_key_has_its_configured_grant_or_nothing() {
        let key = Grant::Names {
            names: vec!["lab.example.go.id.".into()],
            types: vec!["TXT".into(), "A".into()],
        };
        let a = Touch {
            owner: "x.lab.example.go.id.",
            rtype: Some("a"),
        };
        assert_eq!(key.permits(ZONE, a, holders), Ok(()));
        assert_eq!(
            key.permits(ZONE, txt("lab.example.go.id."), holders),
            Ok(())
        );
        assert!(
            key.permits(ZONE, txt("dinkes.example.go.id."), holders)
                .is_err()
        );
        let mx = Touch {
            owner: "lab.example.go.id.",
            rtype: Some("MX"),
        };
        assert!(key.permits(ZONE, mx, holders).is_err());
        let every = Grant::Names {
            names: vec![ZONE.into()],
            types: vec![],
        };
        assert_eq!(every.permits(ZONE, mx, holders), Ok(()));
        assert_eq!(every.types(), None);
        assert_eq!(
            Grant::Nothing.permits(ZONE, txt("_acme-challenge.dinkes.example.go.id."), holders),
            Err(Refusal::NoGrant)
        );
    }
}
