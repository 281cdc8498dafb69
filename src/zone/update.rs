//! RFC 2136 dynamic update, read: the zone, prerequisite and update sections of an UPDATE
//! message as what they ask of a zone, checked as §3.1 to §3.4.1 ask before anything is
//! looked up (FORMERR, NOTZONE). Whether the prerequisites hold is decided against the zone
//! as it is when the change is written (`publish`); who may make the change is the
//! update policy's (`domain::update`).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// One prerequisite (RFC 2136 §2.4), in the message's order.
#[derive(Debug, Clone, PartialEq)]
pub enum Prerequisite {
    /// "RRset exists (value independent)": at least one record of this type at the name.
    RrsetExists(Name, RecordType),
    /// "RRset exists (value dependent)": the set at the name is exactly these records.
    RrsetEquals(Name, RecordType, Vec<RData>),
    /// "RRset does not exist".
    RrsetAbsent(Name, RecordType),
    /// "Name is in use": the name owns at least one record.
    NameInUse(Name),
    /// "Name is not in use".
    NameNotInUse(Name),
}

impl Prerequisite {
    /// The code a failure of this prerequisite is answered with (§3.2.5).
    pub fn failure(&self) -> ResponseCode {
        match self {
            Self::RrsetExists(..) | Self::RrsetEquals(..) => ResponseCode::NXRRSet,
            Self::RrsetAbsent(..) => ResponseCode::YXRRSet,
            Self::NameInUse(_) => ResponseCode::NXDomain,
            Self::NameNotInUse(_) => ResponseCode::YXDomain,
        }
    }

    /// The name it is about.
    pub fn name(&self) -> &Name {
        match self {
            Self::RrsetExists(n, _)
            | Self::RrsetEquals(n, _, _)
            | Self::RrsetAbsent(n, _)
            | Self::NameInUse(n)
            | Self::NameNotInUse(n) => n,
        }
    }
}

/// One update (RFC 2136 §2.5), in the message's order.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// "Add to an RRset" (class IN): the record with its TTL.
    Add(Record),
    /// "Delete an RRset" (class ANY, a type).
    DeleteRrset(Name, RecordType),
    /// "Delete all RRsets from a name" (class ANY, type ANY).
    DeleteName(Name),
    /// "Delete an RR from an RRset" (class NONE): owner, type and data as given.
    DeleteRecord(Record),
}

impl Operation {
    /// The owner it changes.
    pub fn name(&self) -> &Name {
        match self {
            Self::Add(r) | Self::DeleteRecord(r) => &r.name,
            Self::DeleteRrset(n, _) | Self::DeleteName(n) => n,
        }
    }

    /// The type it changes; `None` for every type at the name.
    pub fn record_type(&self) -> Option<RecordType> {
        match self {
            Self::Add(r) | Self::DeleteRecord(r) => Some(r.record_type()),
            Self::DeleteRrset(_, t) => Some(*t),
            Self::DeleteName(_) => None,
        }
    }
}

/// An UPDATE message read: the zone it names, what must hold, what to change.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The zone section's name, lower case.
    pub zone: Name,
    /// The prerequisite section.
    pub prerequisites: Vec<Prerequisite>,
    /// The update section.
    pub operations: Vec<Operation>,
}

/// Types an update may not name: meta-types and the transfer queries (§3.4.1.3: FORMERR).
fn meta_type(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::ANY
            | RecordType::AXFR
            | RecordType::IXFR
            | RecordType::OPT
            | RecordType::TSIG
            | RecordType::SIG
    ) || matches!(rtype, RecordType::Unknown(128..=255))
}

/// Read the sections of an UPDATE message (§3.1.1, §3.2.1 to §3.2.4, §3.4.1). `zone` holds
/// the zone section's entries as (name, type, class). Errors are the codes the RFC names for
/// the message.
pub fn read(
    zone: &[(Name, RecordType, DNSClass)],
    prerequisites: &[Record],
    updates: &[Record],
) -> Result<Update, ResponseCode> {
    // §3.1.1: exactly one zone, of type SOA.
    let [(name, rtype, class)] = zone else {
        return Err(ResponseCode::FormErr);
    };
    if *rtype != RecordType::SOA || *class != DNSClass::IN {
        return Err(ResponseCode::FormErr);
    }
    let zone = name.to_lowercase();
    let inside = |n: &Name| zone.zone_of(&n.to_lowercase());
    let mut out = Update {
        zone: zone.clone(),
        prerequisites: Vec::with_capacity(prerequisites.len()),
        operations: Vec::with_capacity(updates.len()),
    };
    // §3.2: TTL zero, the zone's class, NONE or ANY; names inside the zone.
    let mut equals: Vec<(Name, RecordType, Vec<RData>)> = Vec::new();
    for r in prerequisites {
        if r.ttl != 0 {
            return Err(ResponseCode::FormErr);
        }
        if !inside(&r.name) {
            return Err(ResponseCode::NotZone);
        }
        let name = r.name.to_lowercase();
        let rtype = r.record_type();
        let empty = matches!(r.data, RData::Update0(_));
        let prerequisite = match r.dns_class {
            DNSClass::ANY if !empty => return Err(ResponseCode::FormErr),
            DNSClass::ANY if rtype == RecordType::ANY => Prerequisite::NameInUse(name),
            DNSClass::ANY => Prerequisite::RrsetExists(name, rtype),
            DNSClass::NONE if !empty => return Err(ResponseCode::FormErr),
            DNSClass::NONE if rtype == RecordType::ANY => Prerequisite::NameNotInUse(name),
            DNSClass::NONE => Prerequisite::RrsetAbsent(name, rtype),
            DNSClass::IN if empty || meta_type(rtype) => return Err(ResponseCode::FormErr),
            DNSClass::IN => {
                // §3.2.3: the records of one set are gathered; the set must match whole.
                match equals
                    .iter_mut()
                    .find(|(n, t, _)| *n == name && *t == rtype)
                {
                    Some((_, _, data)) => data.push(r.data.clone()),
                    None => equals.push((name, rtype, vec![r.data.clone()])),
                }
                continue;
            }
            _ => return Err(ResponseCode::FormErr),
        };
        out.prerequisites.push(prerequisite);
    }
    out.prerequisites.extend(
        equals
            .into_iter()
            .map(|(n, t, d)| Prerequisite::RrsetEquals(n, t, d)),
    );
    // §3.4.1: names inside the zone; class IN, ANY or NONE, each with its form.
    for r in updates {
        if !inside(&r.name) {
            return Err(ResponseCode::NotZone);
        }
        let name = r.name.to_lowercase();
        let rtype = r.record_type();
        let empty = matches!(r.data, RData::Update0(_));
        let operation = match r.dns_class {
            DNSClass::IN if empty || meta_type(rtype) => return Err(ResponseCode::FormErr),
            DNSClass::IN => {
                let mut record = r.clone();
                record.name = name;
                Operation::Add(record)
            }
            DNSClass::ANY if r.ttl != 0 || !empty => return Err(ResponseCode::FormErr),
            DNSClass::ANY if rtype == RecordType::ANY => Operation::DeleteName(name),
            DNSClass::ANY if meta_type(rtype) => return Err(ResponseCode::FormErr),
            DNSClass::ANY => Operation::DeleteRrset(name, rtype),
            DNSClass::NONE if r.ttl != 0 || empty || meta_type(rtype) => {
                return Err(ResponseCode::FormErr);
            }
            DNSClass::NONE => {
                let mut record = r.clone();
                record.name = name;
                record.dns_class = DNSClass::IN;
                Operation::DeleteRecord(record)
            }
            _ => return Err(ResponseCode::FormErr),
        };
        out.operations.push(operation);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, TXT};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn zone() -> Vec<(Name, RecordType, DNSClass)> {
        vec![(name("Example.Go.Id."), RecordType::SOA, DNSClass::IN)]
    }

    fn rec(n: &str, class: DNSClass, ttl: u32, data: RData) -> Record {
        let mut r = Record::from_rdata(name(n), ttl, data);
        r.dns_class = class;
        r
    }

    fn txt(s: &str) -> RData {
        RData::TXT(TXT::new(vec![s.into()]))
    }

    #[test]
    fn the_zone_section_must_name_one_zone_by_its_soa() {
        assert_eq!(read(&[], &[], &[]), Err(ResponseCode::FormErr));
        let two = [zone(), zone()].concat();
        assert_eq!(read(&two, &[], &[]), Err(ResponseCode::FormErr));
        let a = vec![(name("example.go.id."), RecordType::A, DNSClass::IN)];
        assert_eq!(read(&a, &[], &[]), Err(ResponseCode::FormErr));
        let ch = vec![(name("example.go.id."), RecordType::SOA, DNSClass::CH)];
        assert_eq!(read(&ch, &[], &[]), Err(ResponseCode::FormErr));
        let update = read(&zone(), &[], &[]).unwrap();
        assert_eq!(update.zone, name("example.go.id."));
    }

    #[test]
    fn each_prerequisite_form_is_read_and_the_value_dependent_ones_gathered_by_set() {
        let n = "_acme-challenge.dinkes.example.go.id.";
        let pre = [
            rec(n, DNSClass::ANY, 0, RData::Update0(RecordType::TXT)),
            rec(n, DNSClass::NONE, 0, RData::Update0(RecordType::A)),
            rec(n, DNSClass::ANY, 0, RData::Update0(RecordType::ANY)),
            rec(
                "x.example.go.id.",
                DNSClass::NONE,
                0,
                RData::Update0(RecordType::ANY),
            ),
            rec(n, DNSClass::IN, 0, txt("a")),
            rec(n, DNSClass::IN, 0, txt("b")),
        ];
        let update = read(&zone(), &pre, &[]).unwrap();
        let n = name(n);
        assert_eq!(
            update.prerequisites,
            vec![
                Prerequisite::RrsetExists(n.clone(), RecordType::TXT),
                Prerequisite::RrsetAbsent(n.clone(), RecordType::A),
                Prerequisite::NameInUse(n.clone()),
                Prerequisite::NameNotInUse(name("x.example.go.id.")),
                Prerequisite::RrsetEquals(n.clone(), RecordType::TXT, vec![txt("a"), txt("b")]),
            ]
        );
        assert_eq!(update.prerequisites[0].failure(), ResponseCode::NXRRSet);
        assert_eq!(update.prerequisites[1].failure(), ResponseCode::YXRRSet);
        assert_eq!(update.prerequisites[2].failure(), ResponseCode::NXDomain);
        assert_eq!(update.prerequisites[3].failure(), ResponseCode::YXDomain);
    }

    #[test]
    fn malformed_prerequisites_are_formerr_and_names_outside_the_zone_notzone() {
        let n = "a.example.go.id.";
        let bad = [
            rec(n, DNSClass::ANY, 5, RData::Update0(RecordType::TXT)),
            rec(n, DNSClass::ANY, 0, txt("data")),
            rec(n, DNSClass::NONE, 0, txt("data")),
            rec(n, DNSClass::IN, 0, RData::Update0(RecordType::TXT)),
            rec(n, DNSClass::CH, 0, RData::Update0(RecordType::TXT)),
        ];
        for r in bad {
            assert_eq!(
                read(&zone(), std::slice::from_ref(&r), &[]),
                Err(ResponseCode::FormErr),
                "{r}"
            );
        }
        let outside = rec(
            "a.example.org.",
            DNSClass::ANY,
            0,
            RData::Update0(RecordType::A),
        );
        assert_eq!(read(&zone(), &[outside], &[]), Err(ResponseCode::NotZone));
    }

    #[test]
    fn each_update_form_is_read_and_malformed_ones_refused() {
        let n = "_acme-challenge.dinkes.example.go.id.";
        let ups = [
            rec(n, DNSClass::IN, 60, txt("token")),
            rec(n, DNSClass::ANY, 0, RData::Update0(RecordType::TXT)),
            rec(n, DNSClass::ANY, 0, RData::Update0(RecordType::ANY)),
            rec(n, DNSClass::NONE, 0, txt("token")),
        ];
        let update = read(&zone(), &[], &ups).unwrap();
        let n = name(n);
        assert_eq!(update.operations.len(), 4);
        assert!(matches!(&update.operations[0], Operation::Add(r) if r.ttl == 60));
        assert_eq!(
            update.operations[1],
            Operation::DeleteRrset(n.clone(), RecordType::TXT)
        );
        assert_eq!(update.operations[2], Operation::DeleteName(n.clone()));
        assert!(
            matches!(&update.operations[3], Operation::DeleteRecord(r) if r.dns_class == DNSClass::IN)
        );
        let a = RData::A(A::new(203, 0, 113, 7));
        let bad = [
            rec(
                "a.example.go.id.",
                DNSClass::IN,
                60,
                RData::Update0(RecordType::A),
            ),
            rec(
                "a.example.go.id.",
                DNSClass::ANY,
                60,
                RData::Update0(RecordType::A),
            ),
            rec("a.example.go.id.", DNSClass::ANY, 0, a.clone()),
            rec(
                "a.example.go.id.",
                DNSClass::ANY,
                0,
                RData::Update0(RecordType::AXFR),
            ),
            rec(
                "a.example.go.id.",
                DNSClass::NONE,
                0,
                RData::Update0(RecordType::A),
            ),
            rec("a.example.go.id.", DNSClass::NONE, 60, a.clone()),
            rec("a.example.go.id.", DNSClass::CH, 0, a.clone()),
        ];
        for r in bad {
            assert_eq!(
                read(&zone(), &[], std::slice::from_ref(&r)),
                Err(ResponseCode::FormErr),
                "{r}"
            );
        }
        let outside = rec("example.org.", DNSClass::IN, 60, a);
        assert_eq!(read(&zone(), &[], &[outside]), Err(ResponseCode::NotZone));
    }
}
