-- A served zone's view as of one serial, written now and then by the daemon, so that a restart
-- reads one value and replays the journal since it instead of decoding every record. Only a
-- cache: without it (or when it does not join the journal) the zone loads from its records.
CREATE TABLE zone_snapshots (
    zone_id       INTEGER PRIMARY KEY REFERENCES zones(id) ON DELETE CASCADE,
    serial        INTEGER NOT NULL,
    -- Records in the store (records not suspended, and DNSSEC records) when it was taken: a
    -- restart checks that the journal since accounts for every record added or removed.
    store_records INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    taken_at      TEXT    NOT NULL
);
