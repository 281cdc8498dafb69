-- no-transaction
-- The yearly confirmation of each name (its agency says it is still in use, who answers for
-- it and what for); and suspensions that no person made (a name left unconfirmed past its
-- grace period is suspended by ranah): `suspended_by` may be NULL.
--
-- SQLite cannot drop a NOT NULL in place: the table is rebuilt, with foreign keys off for the
-- rebuild (records, findings and terms refer to it), as SQLite's documentation describes;
-- this migration therefore runs outside a transaction (ranah backs the store up first).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE suspensions_new (
    id           INTEGER PRIMARY KEY,
    zone         TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    -- NULL: ranah's own, under the office's rules (an unconfirmed name).
    suspended_by INTEGER REFERENCES users(id),
    suspended_at TEXT    NOT NULL,
    lifted_by    INTEGER REFERENCES users(id),
    lifted_at    TEXT
);
INSERT INTO suspensions_new (id, zone, owner, reason, suspended_by, suspended_at, lifted_by, lifted_at)
    SELECT id, zone, owner, reason, suspended_by, suspended_at, lifted_by, lifted_at FROM suspensions;
DROP TABLE suspensions;
ALTER TABLE suspensions_new RENAME TO suspensions;
CREATE INDEX suspensions_owner ON suspensions (zone, owner);

CREATE TABLE name_confirmations (
    owner         TEXT    NOT NULL PRIMARY KEY,
    zone          TEXT    NOT NULL,
    -- The day the yearly confirmation began for the name (its first due day is at least a
    -- notice period later).
    tracked_since TEXT    NOT NULL,
    -- The day the next confirmation is due (YYYY-MM-DD, the office calendar's day).
    due_on        TEXT    NOT NULL,
    confirmed_at  TEXT,
    confirmed_by  INTEGER REFERENCES users(id),
    -- What the agency said at the last confirmation: the person responsible (JSON: name,
    -- email, phone) and what the name is for.
    contact       TEXT,
    purpose       TEXT,
    -- Reminders sent for the confirmation due, as days before ("30,7").
    reminded      TEXT    NOT NULL DEFAULT '',
    -- When the name was marked unconfirmed (the due day passed).
    marked_at     TEXT,
    -- The suspension made when the grace period passed too.
    suspension_id INTEGER REFERENCES suspensions(id)
);
COMMIT;
PRAGMA foreign_key_check;
PRAGMA foreign_keys = ON;
