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
    for label in name.iter() {
        // Labels are at most 63 bytes, so the length fits.
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out.into_boxed_slice()
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
        // Malformed keys never panic.
        assert_eq!(parent(b"\x09ab"), None);
        assert_eq!(label_count(b""), 0);
    }
}
