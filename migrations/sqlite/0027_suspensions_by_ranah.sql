-- no-transaction
-- Suspensions that no person made (a name left unconfirmed past its grace period is
-- suspended by ranah itself): `suspended_by` may be NULL. And at most one active suspension
-- per name, which the store now enforces.
--
-- SQLite cannot drop a NOT NULL in place: the table is rebuilt, with foreign keys off for the
-- rebuild (records, findings and terms refer to it), as SQLite's documentation describes.
-- Outside a transaction (ranah backs the store up first); every step may run again, should
-- the process stop between the commit and the migration's record.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE IF EXISTS suspensions_new;
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
CREATE INDEX IF NOT EXISTS suspensions_owner ON suspensions (zone, owner);
-- Two suspensions made at once for one name (possible before): the first holds the records;
-- the later ones held nothing and are closed.
UPDATE suspensions SET lifted_at = suspended_at
    WHERE lifted_at IS NULL AND id NOT IN
        (SELECT MIN(id) FROM suspensions WHERE lifted_at IS NULL GROUP BY zone, owner);
CREATE UNIQUE INDEX IF NOT EXISTS suspensions_active ON suspensions (zone, owner)
    WHERE lifted_at IS NULL;
COMMIT;
PRAGMA foreign_keys = ON;
