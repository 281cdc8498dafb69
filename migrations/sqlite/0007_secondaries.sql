-- The SOA records a change moved from and to (uncompressed RDATA), so that IXFR sends them
-- exactly; NULL for changes journaled before this migration (IXFR then uses the current SOA
-- with the change's serials).
ALTER TABLE zone_changes ADD COLUMN soa_before BLOB;
ALTER TABLE zone_changes ADD COLUMN soa_after BLOB;
ALTER TABLE zone_changes ADD COLUMN soa_ttl INTEGER;

-- What the daemon last saw of each secondary, for `ranah status` and the API. One row per
-- zone and secondary (named by its NOTIFY address); rewritten as things happen.
CREATE TABLE secondary_state (
    zone                  TEXT    NOT NULL,
    secondary             TEXT    NOT NULL,
    served_serial         INTEGER,
    polled_at             TEXT,
    poll_error            TEXT,
    last_notify_at        TEXT,
    last_notify_serial    INTEGER,
    last_notify_result    TEXT,
    last_transfer_at      TEXT,
    last_transfer_kind    TEXT,
    last_transfer_serial  INTEGER,
    PRIMARY KEY (zone, secondary)
);
