-- Complaints (pengaduan): from applicants or the public, in the standards' four categories,
-- each with its due time in working days; given to someone, answered, closed.
CREATE TABLE complaints (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    -- light, normative, non_supervisory, supervisory.
    category          TEXT    NOT NULL,
    -- received, assigned, answered, closed.
    status            TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    body              TEXT    NOT NULL,
    -- A subdomain or a request number the complaint concerns.
    about             TEXT,
    -- Who complains and where the answer goes (the identity is kept confidential: shown to
    -- the office and auditors only, never put in the audit trail).
    complainant_name  TEXT    NOT NULL,
    complainant_email TEXT    NOT NULL,
    complainant_phone TEXT,
    -- The account that submitted it; empty for the public.
    submitted_by      INTEGER REFERENCES users(id),
    -- The proof of work's challenge, spent once.
    proof             TEXT UNIQUE,
    received_at       TEXT    NOT NULL,
    due_at            TEXT    NOT NULL,
    assigned_to       INTEGER REFERENCES users(id),
    assigned_at       TEXT,
    answer            TEXT,
    answered_at       TEXT,
    answered_by       INTEGER REFERENCES users(id),
    closed_at         TEXT,
    -- When the due time passed without an answer (the office was told, once).
    overdue_at        TEXT
);
CREATE INDEX complaints_received ON complaints (received_at);
CREATE INDEX complaints_open ON complaints (status, due_at);
