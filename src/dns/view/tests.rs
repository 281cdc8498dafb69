//! The view's lookups, and its incremental edits against a view built whole.

mod lookups {
    use super::super::*;
    use crate::zone::file;
    use hickory_proto::rr::Name;

    const ZONE: &str = r#"$ORIGIN example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 2026010101 3600 900 1209600 300
@ NS ns1
@ NS ns2
@ A 203.0.113.1
@ MX 10 mail
ns1 A 203.0.113.2
ns2 AAAA 2001:db8::2
mail A 203.0.113.3
www CNAME @
alias CNAME www
loop1 CNAME loop2
loop2 CNAME loop1
out CNAME example.org.
todeleg CNAME www.child
tocut CNAME child
a.b.c A 203.0.113.5
*.wild TXT "wild"
child NS ns.child
child NS ns1
ns.child A 203.0.113.4
"#;

    fn view() -> ZoneView {
        let origin = Name::from_ascii("example.go.id.").unwrap();
        ZoneView::new(&file::parse(ZONE, "t", Some(&origin)).unwrap())
    }

    fn q<'a>(v: &'a ZoneView, name: &str, t: RecordType) -> Answer<'a> {
        let key: &'static [u8] = Box::leak(name_key::key_of(&Name::from_ascii(name).unwrap()));
        v.lookup(key, t, false)
    }

    fn types(sets: &[RRset<'_>]) -> Vec<RecordType> {
        sets.iter().map(|s| s.rtype()).collect()
    }

    #[test]
    fn positive_answer() {
        let v = view();
        let a = q(&v, "ns1.example.go.id.", RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert!(a.authoritative);
        assert_eq!(types(&a.answers), vec![RecordType::A]);
    }

    #[test]
    fn case_insensitive() {
        let v = view();
        let a = q(&v, "NS1.Example.GO.id.", RecordType::A);
        assert_eq!(types(&a.answers), vec![RecordType::A]);
    }

    #[test]
    fn nxdomain_and_nodata_carry_rfc2308_soa() {
        let v = view();
        let a = q(&v, "nope.example.go.id.", RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NXDomain);
        assert_eq!(a.authorities[0].ttl(), 300);
        let a = q(&v, "ns1.example.go.id.", RecordType::TXT);
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert!(a.answers.is_empty());
        assert_eq!(a.authorities[0].rtype(), RecordType::SOA);
        assert_eq!(a.authorities[0].ttl(), 300);
    }

    #[test]
    fn empty_non_terminal_is_nodata() {
        let v = view();
        for name in ["b.c.example.go.id.", "c.example.go.id."] {
            let a = q(&v, name, RecordType::A);
            assert_eq!(a.rcode, ResponseCode::NoError, "{name}");
            assert!(a.answers.is_empty());
        }
    }

    #[test]
    fn cname_chain_followed_and_loops_stop() {
        let v = view();
        let a = q(&v, "alias.example.go.id.", RecordType::A);
        assert_eq!(
            types(&a.answers),
            vec![RecordType::CNAME, RecordType::CNAME, RecordType::A]
        );
        let a = q(&v, "loop1.example.go.id.", RecordType::A);
        assert_eq!(
            types(&a.answers),
            vec![RecordType::CNAME, RecordType::CNAME]
        );
        let a = q(&v, "out.example.go.id.", RecordType::A);
        assert_eq!(types(&a.answers), vec![RecordType::CNAME]);
        assert_eq!(a.rcode, ResponseCode::NoError);
    }

    #[test]
    fn referral_below_cut_with_glue() {
        let v = view();
        for name in ["child.example.go.id.", "deep.www.child.example.go.id."] {
            let a = q(&v, name, RecordType::A);
            assert!(!a.authoritative, "{name}");
            assert!(a.answers.is_empty());
            assert_eq!(types(&a.authorities), vec![RecordType::NS]);
            assert_eq!(types(&a.additionals), vec![RecordType::A, RecordType::A]);
        }
        let a = q(&v, "child.example.go.id.", RecordType::DS);
        assert!(a.authoritative);
    }

    #[test]
    fn cname_into_a_delegation_ends_with_its_referral() {
        // RFC 1034 §4.3.2 step 3b at the end of the chain: the CNAME stays authoritative, the
        // cut's NS and glue follow (as NSD and Knot answer).
        let v = view();
        for name in ["todeleg.example.go.id.", "tocut.example.go.id."] {
            let a = q(&v, name, RecordType::A);
            assert_eq!(a.rcode, ResponseCode::NoError, "{name}");
            assert!(a.authoritative, "{name}");
            assert_eq!(types(&a.answers), vec![RecordType::CNAME], "{name}");
            assert_eq!(types(&a.authorities), vec![RecordType::NS], "{name}");
            assert_eq!(
                a.authorities[0].records()[0].name.to_ascii(),
                "child.example.go.id."
            );
            assert_eq!(types(&a.additionals), vec![RecordType::A, RecordType::A]);
        }
    }

    #[test]
    fn in_domain_glue_comes_first_and_is_required() {
        // child's servers: ns.child (below the cut: required) and ns1 (a sibling: optional).
        let v = view();
        let a = q(&v, "x.child.example.go.id.", RecordType::A);
        assert_eq!(a.required_glue, 1);
        let glue: Vec<String> = Answer::records(&a.additionals)
            .iter()
            .map(|r| r.name.to_ascii())
            .collect();
        assert_eq!(glue, ["ns.child.example.go.id.", "ns1.example.go.id."]);
        // Nothing else is required.
        assert_eq!(
            q(&view(), "example.go.id.", RecordType::NS).required_glue,
            0
        );
    }

    #[test]
    fn ns_answer_glues_every_server() {
        let v = view();
        let a = q(&v, "example.go.id.", RecordType::NS);
        assert_eq!(types(&a.answers), vec![RecordType::NS]);
        assert_eq!(types(&a.additionals), vec![RecordType::A, RecordType::AAAA]);
    }

    #[test]
    fn wildcard_synthesis() {
        let v = view();
        let a = q(&v, "x.y.wild.example.go.id.", RecordType::TXT);
        assert_eq!(types(&a.answers), vec![RecordType::TXT]);
        assert_eq!(
            a.answers[0].records()[0].name.to_ascii(),
            "x.y.wild.example.go.id."
        );
    }

    #[test]
    fn any_is_minimal() {
        let v = view();
        let a = q(&v, "example.go.id.", RecordType::ANY);
        assert_eq!(a.answers.len(), 1);
    }

    #[test]
    fn incremental_changes_keep_structure() {
        let mut v = view();
        let rec = |name: &str, ip: [u8; 4]| {
            Record::from_rdata(
                Name::from_ascii(name).unwrap(),
                60,
                RData::A(hickory_proto::rr::rdata::A::from(std::net::Ipv4Addr::from(
                    ip,
                ))),
            )
        };
        let deep = rec("x.y.z.example.go.id.", [203, 0, 113, 9]);
        v.apply(&ZoneDiff {
            added: vec![deep.clone()],
            ..Default::default()
        });
        assert!(v.contains(&deep));
        assert!(v.name_exists(&LowerName::from(
            Name::from_ascii("y.z.example.go.id.").unwrap()
        )));
        v.apply(&ZoneDiff {
            removed: vec![deep.clone()],
            ..Default::default()
        });
        assert!(!v.name_exists(&LowerName::from(
            Name::from_ascii("z.example.go.id.").unwrap()
        )));
        let a = q(&v, "z.example.go.id.", RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NXDomain);
        // Removing a delegation removes the cut.
        let child_ns: Vec<Record> = v
            .rrset(
                &LowerName::from(Name::from_ascii("child.example.go.id.").unwrap()),
                RecordType::NS,
            )
            .unwrap()
            .records();
        v.apply(&ZoneDiff {
            removed: child_ns,
            ..Default::default()
        });
        let a = q(&v, "ns.child.example.go.id.", RecordType::A);
        assert!(a.authoritative);
        assert_eq!(types(&a.answers), vec![RecordType::A]);
    }
}

mod snapshots {
    use super::super::*;
    use crate::zone::file;
    use hickory_proto::rr::Name;

    fn sorted(view: &ZoneView) -> Vec<String> {
        let mut all: Vec<String> = view.records().map(|r| r.to_string()).collect();
        all.extend(view.soa_record().map(|r| r.to_string()));
        all.sort();
        all
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_view() {
        let origin = Name::from_ascii("example.go.id.").unwrap();
        let text = "$ORIGIN example.go.id.\n$TTL 3600\n@ SOA ns1 hostmaster 7 3600 900 1209600 300\n\
                    @ NS ns1\nns1 A 203.0.113.2\nwww A 203.0.113.3\na.b.c TXT \"deep\"\n\
                    *.wild A 203.0.113.9\nchild NS ns.child\nns.child A 203.0.113.4\n";
        let mut view = ZoneView::new(&file::parse(text, "t", Some(&origin)).unwrap());
        // An edit after the build: the snapshot is of the view as it is.
        view.apply(&ZoneDiff {
            added: vec![Record::from_rdata(
                Name::from_ascii("new.example.go.id.").unwrap(),
                60,
                RData::A(std::net::Ipv4Addr::new(203, 0, 113, 50).into()),
            )],
            ..Default::default()
        });
        let bytes = view.snapshot();
        let back = ZoneView::from_snapshot(&origin, &bytes).unwrap();
        assert_eq!(sorted(&back), sorted(&view));
        assert_eq!(back.record_count(), view.record_count());
        assert_eq!(back.serial(), 7);
        assert_eq!(back.negative_ttl(), 300);
        for name in ["new", "x.wild", "b.c", "nx", "deep.child", "child"] {
            let key =
                name_key::key_of(&Name::from_ascii(format!("{name}.example.go.id.")).unwrap());
            let (a, b) = (
                view.lookup(&key, RecordType::A, false),
                back.lookup(&key, RecordType::A, false),
            );
            assert_eq!(
                (a.rcode, a.authoritative),
                (b.rcode, b.authoritative),
                "{name}"
            );
            assert_eq!(
                Answer::records(&a.answers),
                Answer::records(&b.answers),
                "{name}"
            );
            assert_eq!(
                Answer::records(&a.authorities),
                Answer::records(&b.authorities),
                "{name}"
            );
        }
        // Another zone's, another version's, or cut short: refused, never a panic.
        let other = Name::from_ascii("example.org.").unwrap();
        assert!(ZoneView::from_snapshot(&other, &bytes).is_err());
        assert!(ZoneView::from_snapshot(&origin, b"ranah\x00v\x09").is_err());
        for cut in [0, 8, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                ZoneView::from_snapshot(&origin, &bytes[..cut]).is_err(),
                "{cut}"
            );
        }
    }
}

mod prop {
    //! The incremental view must answer exactly like a view built from scratch from the same
    //! records, whatever the order of changes.
    use super::super::*;
    use crate::zone::file;
    use hickory_proto::rr::Name;
    use hickory_proto::rr::rdata::{A, CNAME, NS};
    use proptest::prelude::*;

    const ZONE: &str =
        "$ORIGIN z.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
    const LABELS: [&str; 4] = ["a", "b", "c", "*"];

    fn name(parts: &[usize]) -> Name {
        let mut s = String::new();
        for p in parts {
            s.push_str(LABELS[*p]);
            s.push('.');
        }
        s.push_str("z.example.");
        Name::from_ascii(&s).unwrap()
    }

    fn record(kind: u8, owner: Name, v: u8) -> Record {
        let data = match kind {
            0 => RData::A(A::from(std::net::Ipv4Addr::new(192, 0, 2, v))),
            1 => RData::NS(NS(Name::from_ascii("ns.z.example.").unwrap())),
            _ => RData::CNAME(CNAME(name(&[usize::from(v % 3)]))),
        };
        Record::from_rdata(owner, 60, data)
    }

    fn op() -> impl Strategy<Value = (bool, u8, Vec<usize>, u8)> {
        (
            any::<bool>(),
            0u8..3,
            proptest::collection::vec(0usize..4, 1..4),
            0u8..3,
        )
    }

    fn base() -> ZoneContent {
        file::parse(ZONE, "t", None).unwrap()
    }

    /// Everything a view holds, in an order of its own: each name with its number of
    /// children, and each set with its TTL and records in their order.
    fn contents(view: &ZoneView) -> (Vec<(Vec<u8>, u32)>, Vec<String>) {
        let mut names: Vec<(Vec<u8>, u32)> = view
            .name_keys()
            .map(|k| (k.to_vec(), view.nodes.get(k).map_or(0, |n| n.children())))
            .collect();
        names.sort();
        let mut sets: Vec<String> = view
            .rrsets()
            .map(|s| {
                let records: Vec<String> = s.records().iter().map(|r| r.data.to_string()).collect();
                format!("{:?} {} {} {:?}", s.owner(), s.rtype(), s.ttl(), records)
            })
            .collect();
        sets.sort();
        (names, sets)
    }

    proptest! {
        /// An unsigned zone's view built from sorted buffers holds what the general builder
        /// makes of the same records, duplicates and TTLs that differ within a set included.
        #[test]
        fn the_unsigned_build_equals_the_general_one(
            extra in proptest::collection::vec((0u8..3, proptest::collection::vec(0usize..4, 1..4), 0u8..3, 0u32..3), 0..60)
        ) {
            let mut content = base();
            for (kind, parts, v, ttl) in extra {
                let mut r = record(kind, name(&parts), v);
                r.ttl = 60 + ttl;
                content.records.push(r);
            }
            let origin_key = name_key::key_of(&content.origin);
            let fast = unsigned_view(&content, &origin_key).expect("an unsigned zone");
            let general = ZoneView::built(&content, &origin_key);
            prop_assert_eq!(fast.record_count(), general.record_count());
            prop_assert_eq!(fast.nodes.len(), general.nodes.len());
            prop_assert_eq!(contents(&fast), contents(&general));
            prop_assert_eq!(fast.serial(), general.serial());
            prop_assert_eq!(fast.negative_ttl(), general.negative_ttl());
        }

        #[test]
        fn incremental_equals_rebuilt(ops in proptest::collection::vec(op(), 1..40)) {
            let mut view = ZoneView::new(&base());
            let mut records: Vec<Record> = base().records;
            for (add, kind, parts, v) in ops {
                let r = record(kind, name(&parts), v);
                let exists = records.iter().any(|x| x.name == r.name && x.data == r.data);
                let diff = if add && !exists {
                    records.push(r.clone());
                    ZoneDiff { added: vec![r], ..Default::default() }
                } else if !add && exists {
                    records.retain(|x| !(x.name == r.name && x.data == r.data));
                    ZoneDiff { removed: vec![r], ..Default::default() }
                } else {
                    continue;
                };
                let mut next = view.clone();
                next.apply(&diff);
                view = next;
            }
            let rebuilt = ZoneView::new(&ZoneContent { records, ..base() });
            prop_assert_eq!(view.record_count(), rebuilt.record_count());
            prop_assert_eq!(view.nodes.len(), rebuilt.nodes.len());
            // Every name that could be asked, every type: the same answer.
            let mut names = vec![Name::from_ascii("z.example.").unwrap()];
            for a in 0..4 { for b in 0..4 { for c in 0..4 {
                names.push(name(&[a]));
                names.push(name(&[a, b]));
                names.push(name(&[a, b, c]));
            }}}
            names.push(name(&[0, 1, 2, 0]));
            for n in &names {
                let q = name_key::key_of(n);
                for t in [RecordType::A, RecordType::NS, RecordType::CNAME, RecordType::TXT, RecordType::ANY] {
                    let (x, y) = (view.lookup(&q, t, false), rebuilt.lookup(&q, t, false));
                    prop_assert_eq!(x.rcode, y.rcode, "{} {}", n, t);
                    prop_assert_eq!(x.authoritative, y.authoritative, "{} {}", n, t);
                    let set = |s: &[RRset<'_>]| {
                        let mut v: Vec<String> = Answer::records(s).iter().map(|r| r.to_string()).collect();
                        v.sort();
                        v
                    };
                    prop_assert_eq!(set(&x.answers), set(&y.answers), "{} {}", n, t);
                    prop_assert_eq!(set(&x.authorities), set(&y.authorities), "{} {}", n, t);
                    prop_assert_eq!(set(&x.additionals), set(&y.additionals), "{} {}", n, t);
                }
            }
        }
    }
}
