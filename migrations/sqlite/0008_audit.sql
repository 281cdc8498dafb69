-- The audit trail: append-only and hash-chained (see src/domain/audit.rs and docs/audit.md).
-- Each event is written in the same transaction as the change it records.
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    role      TEXT,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    summary   TEXT NOT NULL,   -- a JSON object
    note      TEXT,
    client    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target);
CREATE INDEX audit_events_actor ON audit_events (actor);

-- Events are never changed or removed. (An intruder with the file can drop these triggers;
-- the hash chain and its copies outside the database catch that.)
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
