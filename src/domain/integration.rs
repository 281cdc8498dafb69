//! What an integration (an office's portal or tool, with a token of the `integration` role)
//! may write through the Cloudflare-compatible API.
//!
//! A name belongs to whoever holds the closest name at or above it that has records: an
//! agency (its records carry the agency), or the office (records that came with the zone and
//! were never given to an agency). A token bound to an agency writes at names its agency
//! holds, and at new names (nobody holds them; what it writes there makes them the agency's);
//! never at the apex, the office's names or another agency's. A token for all writes anywhere
//! in the zone. Nobody writes the audit trail's anchor, and the zone's own rules (the SOA,
//! DNSSEC records, a CNAME alone) are the change path's, as for every change.

use super::access::Binding;
use super::policy::{OwnRecord, own_record};
use super::request::Kind;
use super::update::at_or_below;

/// Who holds a name: what the closest name at or above it (below the apex) with records
/// says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// An agency's records.
    Agency(i64),
    /// Records of no agency: the office's (imported with the zone, never assigned).
    Office,
    /// No records at the name or above it: a new name.
    Nobody,
}

/// Why an integration may not write at a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefusal {
    /// Outside the zone.
    #[error("{0} is not in the zone")]
    OutsideZone(String),
    /// The apex is the office's.
    #[error("the zone apex is the office's; a token of one agency cannot change it")]
    Apex,
    /// The audit trail's anchor is ranah's.
    #[error("{0} is ranah's audit anchor")]
    AuditAnchor(String),
    /// Held by the office or by another agency.
    #[error("{0} is not a name of the token's agency")]
    NotTheAgencys(String),
}

/// Whether a token of `binding` may write records at `owner` in `zone` (names absolute,
/// lower case), `holder` being who holds it now.
pub fn may_write(
    binding: Binding,
    zone: &str,
    owner: &str,
    holder: Holder,
) -> Result<(), WriteRefusal> {
    if !at_or_below(owner, zone) {
        return Err(WriteRefusal::OutsideZone(owner.to_owned()));
    }
    let apex = at_or_below(zone, owner);
    // Any type at the anchor's name: its TXT is ranah's, and nothing may stand beside it.
    if own_record(zone, owner, "TXT") == Some(OwnRecord::AuditAnchor) {
        return Err(WriteRefusal::AuditAnchor(owner.to_owned()));
    }
    match binding {
        Binding::All => Ok(()),
        Binding::Agency(_) if apex => Err(WriteRefusal::Apex),
        Binding::Agency(agency) => match holder {
            Holder::Nobody => Ok(()),
            Holder::Agency(a) if a == agency => Ok(()),
            Holder::Agency(_) | Holder::Office => Err(WriteRefusal::NotTheAgencys(
                owner.trim_end_matches('.').to_owned(),
            )),
        },
    }
}

/// The request a write opens, when the office has writes turned into requests: a request is
/// for the whole set of records at one name, so the kind follows from whether the name has
/// records before and after the write. `None` when it has none either way (nothing to ask).
pub fn request_kind(had_records: bool, will_have_records: bool) -> Option<Kind> {
    match (had_records, will_have_records) {
        (false, true) => Some(Kind::Create),
        (true, true) => Some(Kind::Change),
        (true, false) => Some(Kind::Delete),
        (false, false) => None,
    }
}

/// Why a write cannot become a request: a request is always some agency's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAgency {
    /// The name is the office's (records of no agency, or of several): giving it to an agency
    /// through a request would change whose it is.
    OfficeName,
    /// A new name, by a token for all agencies, and the office named no agency for such.
    NoneNamed,
}

/// The agency a request opened by a token of `binding` is for: the token's own; else the
/// agency that holds the name; for a new name, the one the office named for such requests
/// (`office`).
pub fn request_agency(
    binding: Binding,
    holder: Holder,
    office: Option<i64>,
) -> Result<i64, NoAgency> {
    match (binding, holder) {
        (Binding::Agency(a), _) | (Binding::All, Holder::Agency(a)) => Ok(a),
        (Binding::All, Holder::Office) => Err(NoAgency::OfficeName),
        (Binding::All, Holder::Nobody) => office.ok_or(NoAgency::NoneNamed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "example.go.id.";

    #[test]
    fn an_agencys_token_writes_at_its_names_and_new_ones_only() {
        let own = Binding::Agency(1);
        let at = |owner: &str, holder| may_write(own, ZONE, owner, holder);
        assert_eq!(at("dinkes.example.go.id.", Holder::Agency(1)), Ok(()));
        assert_eq!(at("www.dinkes.example.go.id.", Holder::Agency(1)), Ok(()));
        assert_eq!(at("baru.example.go.id.", Holder::Nobody), Ok(()));
        assert!(matches!(
            at("dishub.example.go.id.", Holder::Agency(2)),
            Err(WriteRefusal::NotTheAgencys(_))
        ));
        assert!(matches!(
            at("www.example.go.id.", Holder::Office),
            Err(WriteRefusal::NotTheAgencys(_))
        ));
        assert_eq!(
            at("example.go.id.", Holder::Nobody),
            Err(WriteRefusal::Apex)
        );
        assert!(matches!(
            at("_audit.example.go.id.", Holder::Nobody),
            Err(WriteRefusal::AuditAnchor(_))
        ));
        assert!(matches!(
            at("www.example.org.", Holder::Nobody),
            Err(WriteRefusal::OutsideZone(_))
        ));
    }

    #[test]
    fn a_write_asks_for_what_the_name_becomes() {
        assert_eq!(request_kind(false, true), Some(Kind::Create));
        assert_eq!(request_kind(true, true), Some(Kind::Change));
        assert_eq!(request_kind(true, false), Some(Kind::Delete));
        assert_eq!(request_kind(false, false), None);
    }

    #[test]
    fn a_request_is_for_the_tokens_agency_or_the_names_or_the_offices_choice() {
        assert_eq!(
            request_agency(Binding::Agency(1), Holder::Nobody, Some(9)),
            Ok(1)
        );
        assert_eq!(
            request_agency(Binding::Agency(1), Holder::Agency(1), None),
            Ok(1)
        );
        assert_eq!(
            request_agency(Binding::All, Holder::Agency(2), Some(9)),
            Ok(2)
        );
        assert_eq!(request_agency(Binding::All, Holder::Nobody, Some(9)), Ok(9));
        // The office's names never pass to an agency through a request.
        assert_eq!(
            request_agency(Binding::All, Holder::Office, Some(9)),
            Err(NoAgency::OfficeName)
        );
        assert_eq!(
            request_agency(Binding::All, Holder::Nobody, None),
            Err(NoAgency::NoneNamed)
        );
    }

    #[test]
    fn a_token_for_all_writes_anywhere_but_the_anchor() {
        let all = |owner: &str, holder| may_write(Binding::All, ZONE, owner, holder);
        assert_eq!(all("example.go.id.", Holder::Office), Ok(()));
        assert_eq!(all("dishub.example.go.id.", Holder::Agency(2)), Ok(()));
        assert_eq!(all("www.example.go.id.", Holder::Office), Ok(()));
        assert!(all("_audit.example.go.id.", Holder::Office).is_err());
        assert!(all("a.example.org.", Holder::Nobody).is_err());
        // An `_audit` label deeper down is nobody's anchor.
        assert_eq!(
            all("_audit.dinkes.example.go.id.", Holder::Agency(1)),
            Ok(())
        );
    }
}
