-- DNSSEC: each zone's keys (the private half sealed with the key-encryption key) and the
-- times of their lives, and each zone's signing state.
CREATE TABLE dnssec_keys (
    id           INTEGER PRIMARY KEY,
    zone_id      INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    role         TEXT    NOT NULL CHECK (role IN ('csk', 'ksk', 'zsk')),
    algorithm    INTEGER NOT NULL,
    tag          INTEGER NOT NULL,
    -- The DNSKEY record data, for status and checks without opening the private key.
    dnskey       BLOB    NOT NULL,
    private_key  BLOB    NOT NULL,
    -- Unix seconds.
    created_at   INTEGER NOT NULL,
    published_at INTEGER,
    active_at    INTEGER,
    retired_at   INTEGER,
    submitted_at INTEGER,
    ds_seen_at   INTEGER,
    removed_at   INTEGER
);
CREATE INDEX dnssec_keys_zone ON dnssec_keys (zone_id);

CREATE TABLE dnssec_zones (
    zone_id           INTEGER PRIMARY KEY REFERENCES zones(id) ON DELETE CASCADE,
    -- The serial at which ranah's signer last left the zone's signatures right; a change
    -- made without it (an import, a restore) leaves it behind, and the daemon re-signs what
    -- the journal says changed since.
    signed_serial     INTEGER,
    -- When the delete CDS went out (the zone is being unsigned).
    unsigning_since   INTEGER,
    -- The parent's DS as last seen.
    parent_checked_at INTEGER,
    parent_key_ids    TEXT,
    parent_none_since INTEGER
);

-- The records the signer makes (RRSIG, NSEC, NSEC3, NSEC3PARAM, DNSKEY, CDS, CDNSKEY): served
-- and journaled with the zone, but not the office's data, so kept apart from `records`
-- (which every listing, ownership and suspension reads).
CREATE TABLE dnssec_records (
    id       INTEGER PRIMARY KEY,
    zone_id  INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    owner    TEXT    NOT NULL,
    rtype    INTEGER NOT NULL,
    ttl      INTEGER NOT NULL,
    rdata    BLOB    NOT NULL,
    UNIQUE (zone_id, owner, rtype, rdata)
);
