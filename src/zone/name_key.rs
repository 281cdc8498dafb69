//! Names as lookup keys: the lower-cased wire form (`\x03www\x07example\x00`).
//!
//! In this form a name's parent is a suffix of its bytes, so walking up the tree (closest
//! encloser, delegation points, the zone a name falls in) slices the key instead of building
//! new names, and hashing it is one pass over a few bytes.

use hickory_proto::rr::Name;

/// A name's lookup key.
pub type Key = Box<[u8]>;

/// The key of `name` (lower-cased; the name is taken as absolute).
pub fn key_of(name: &Name) -> Key {
    let mut out = Vec::with_capacity(name.len() + 2);
    write_key(name, &mut out);
    out.into_boxed_slice()
}

/// [`key_of`] into `out` (cleared first): a loop over many names reuses one buffer, and
/// copies a key only where it keeps it.
pub fn write_key(name: &Name, out: &mut Vec<u8>) {
    out.clear();
    for label in name.iter() {
        // Labels are at most 63 bytes, so the length fits.
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
}

/// The parent of a key, or `None` for the root.
pub fn parent(key: &[u8]) -> Option<&[u8]> {
    let len = usize::from(*key.first()?);
    if len == 0 {
        return None;
    }
    key.get(1 + len..)
}

/// Number of labels (the root has none).
pub fn label_count(mut key: &[u8]) -> usize {
    let mut n = 0;
    while let Some(p) = parent(key) {
        n += 1;
        key = p;
    }
    n
}

/// The key of `*.<name>`.
pub fn wildcard_of(key: &[u8]) -> Key {
    let mut out = Vec::with_capacity(key.len() + 2);
    out.extend_from_slice(&[1, b'*']);
    out.extend_from_slice(key);
    out.into_boxed_slice()
}

/// Whether `key` is `zone` or below it.
pub fn is_within(key: &[u8], zone: &[u8]) -> bool {
    let mut k = key;
    loop {
        if k.len() == zone.len() {
            return k == zone;
        }
        if k.len() < zone.len() {
            return false;
        }
        match parent(k) {
            Some(p) => k = p,
            None => return false,
        }
    }
}

/// The NSEC3 hash of the name with this key (RFC 5155 §5: SHA-1 over the name's canonical wire
/// form, which the key is, and the salt, then again `iterations` times).
pub fn nsec3_hash(key: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    let mut digest: [u8; 20] = Sha1::new()
        .chain_update(key)
        .chain_update(salt)
        .finalize()
        .into();
    for _ in 0..iterations {
        digest = Sha1::new()
            .chain_update(digest)
            .chain_update(salt)
            .finalize()
            .into();
    }
    digest
}

/// A key that sorts as names sort in DNSSEC's canonical order (RFC 4034 §6.1): labels from
/// the root down, each compared as lower-cased bytes, a shorter label before a longer one it
/// begins. Each label is written with its bytes 0 and 1 escaped (`1 b`) and ends with a 0, so
/// that comparing these keys byte by byte compares the labels.
pub fn canonical(key: &[u8]) -> Box<[u8]> {
    let mut labels = Vec::new();
    let mut k = key;
    while let Some(p) = parent(k) {
        labels.push(&k[1..k.len() - p.len()]);
        k = p;
    }
    let mut out = Vec::with_capacity(key.len() + labels.len());
    for label in labels.iter().rev() {
        for &b in *label {
            if b <= 1 {
                out.push(1);
            }
            out.push(b);
        }
        out.push(0);
    }
    out.into_boxed_slice()
}

/// The name of a key (`None` for a malformed key).
pub fn to_name(key: &[u8]) -> Option<Name> {
    let mut labels = Vec::new();
    let mut k = key;
    while let Some(p) = parent(k) {
        labels.push(&k[1..k.len() - p.len()]);
        k = p;
    }
    Name::from_labels(labels).ok()
}

/// The first label of a key (without its length), if it has one.
pub fn first_label(key: &[u8]) -> Option<&[u8]> {
    let len = usize::from(*key.first()?);
    key.get(1..1 + len).filter(|l| !l.is_empty())
}

/// The ancestor of `key` one label below `encloser` (RFC 5155's "next closer name"); `key`
/// itself when it is one label below.
pub fn next_closer<'k>(key: &'k [u8], encloser: &[u8]) -> &'k [u8] {
    let mut k = key;
    while let Some(p) = parent(k) {
        if p.len() <= encloser.len() {
            return k;
        }
        k = p;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_parents() {
        let k = key_of(&Name::from_ascii("WWW.Example.go.id.").unwrap());
        assert_eq!(&*k, b"\x03www\x07example\x02go\x02id\x00");
        let p = parent(&k).unwrap();
        assert_eq!(p, b"\x07example\x02go\x02id\x00");
        assert_eq!(label_count(&k), 4);
        assert_eq!(parent(b"\x00"), None);
        assert_eq!(&*wildcard_of(p), b"\x01*\x07example\x02go\x02id\x00");
        assert!(is_within(&k, p));
        assert!(is_within(p, p));
        assert!(!is_within(p, &k));
        let other = key_of(&Name::from_ascii("xample.go.id.").unwrap());
        assert!(!is_within(&k, &other));
        // Canonical order (RFC 4034 §6.1's example, in part).
        let order = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "z.a.example.",
            "zabc.a.example.",
            "z.example.",
            "*.z.example.",
        ];
        let mut keys: Vec<Box<[u8]>> = order
            .iter()
            .map(|n| canonical(&key_of(&Name::from_ascii(n).unwrap())))
            .collect();
        keys.sort();
        let sorted: Vec<Box<[u8]>> = order
            .iter()
            .map(|n| canonical(&key_of(&Name::from_ascii(n).unwrap())))
            .collect();
        // "*" (0x2a) sorts before letters, so *.z.example. comes right after z.example.
        assert_eq!(keys, sorted);
        // The RFC 5155 appendix A example: H(example) = 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.
        let h = nsec3_hash(
            &key_of(&Name::from_ascii("example.").unwrap()),
            &[0xaa, 0xbb, 0xcc, 0xdd],
            12,
        );
        assert_eq!(
            data_encoding::BASE32HEX_NOPAD
                .encode(&h)
                .to_ascii_lowercase(),
            "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"
        );
        assert_eq!(next_closer(&k, p), &k[..]);
        assert_eq!(next_closer(&k, b"\x02id\x00"), b"\x02go\x02id\x00");
        // Malformed keys never panic.
        assert_eq!(parent(b"\x09ab"), None);
        assert_eq!(label_count(b""), 0);
    }
}
