-- Zones, their records and the change journal.
--
-- Names are stored lower-case, absolute, with the trailing dot. Record data is kept twice: as
-- uncompressed wire bytes (`rdata`, what the server loads and the identity of a record within
-- its set) and as master-file text (`data`, for people and the API).

CREATE TABLE zones (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    soa_ttl       INTEGER NOT NULL,
    soa_mname     TEXT    NOT NULL,
    soa_rname     TEXT    NOT NULL,
    soa_serial    INTEGER NOT NULL,
    soa_refresh   INTEGER NOT NULL,
    soa_retry     INTEGER NOT NULL,
    soa_expire    INTEGER NOT NULL,
    soa_minimum   INTEGER NOT NULL,
    -- The master file the zone was first imported from, and its SHA-256 at that time, so that
    -- a later edit of the file can be noticed and reported.
    source_file   TEXT,
    source_sha256 TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE records (
    id          INTEGER PRIMARY KEY,
    zone_id     INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    owner       TEXT    NOT NULL,
    rtype       INTEGER NOT NULL,
    ttl         INTEGER NOT NULL,
    rdata       BLOB    NOT NULL,
    data        TEXT    NOT NULL,
    -- Provenance: the agency and the request that created the record; NULL for records that
    -- existed before ranah (imported from a zone file).
    agency_id   INTEGER,
    request_id  INTEGER,
    created_at  TEXT    NOT NULL,
    UNIQUE (zone_id, owner, rtype, rdata)
);
CREATE INDEX records_owner ON records (zone_id, owner);

-- One row per serial change: what moved the zone from serial_before to serial_after.
CREATE TABLE zone_changes (
    id            INTEGER PRIMARY KEY,
    zone_id       INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    serial_before INTEGER NOT NULL,
    serial_after  INTEGER NOT NULL,
    changed_at    TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    agency_id     INTEGER,
    request_id    INTEGER
);
CREATE INDEX zone_changes_serial ON zone_changes (zone_id, serial_after);

-- The records each change removed ('del') and added ('add'), in order: IXFR reads these.
CREATE TABLE zone_change_records (
    change_id INTEGER NOT NULL REFERENCES zone_changes(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    op        TEXT    NOT NULL CHECK (op IN ('del', 'add')),
    owner     TEXT    NOT NULL,
    rtype     INTEGER NOT NULL,
    ttl       INTEGER NOT NULL,
    rdata     BLOB    NOT NULL,
    PRIMARY KEY (change_id, seq)
);
