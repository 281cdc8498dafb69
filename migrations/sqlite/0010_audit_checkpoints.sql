-- Signed checkpoints of the audit trail's head (daily, and at the end of each reported month):
-- Ed25519 signatures over a documented text (docs/audit.md), with the public key, so that a
-- head can be shown to have existed at that time. Append-only, like the events.
CREATE TABLE audit_checkpoints (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('daily', 'monthly')),
    label      TEXT NOT NULL,      -- the date (YYYY-MM-DD) or the month (YYYY-MM)
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    signed_at  TEXT NOT NULL,
    public_key TEXT NOT NULL,      -- hex
    signature  TEXT NOT NULL,      -- hex
    UNIQUE (kind, label)
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
