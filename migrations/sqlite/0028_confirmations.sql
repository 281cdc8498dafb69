-- The yearly confirmation of each name: its agency says it is still in use, who answers for it
-- and what for; the reminders, the mark and the suspension when it does not.
CREATE TABLE name_confirmations (
    owner         TEXT    NOT NULL PRIMARY KEY,
    zone          TEXT    NOT NULL,
    -- The agency that held the name when its confirmation began: another holder starts over.
    agency_id     INTEGER REFERENCES agencies(id),
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
