-- Messages waiting to be sent (emails and webhook calls), written in the same transaction
-- as the change they announce, so that a mail server outage loses nothing and never blocks
-- the change. A sender in the daemon delivers them with retries.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    -- An attached file: its SHA-256 under the data directory's attachments/, and its name.
    attachment_sha256 TEXT,
    attachment_name   TEXT,
    request_id      INTEGER,
    created_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    sent_at         TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);
