-- The yearly confirmation of each name: its agency says it is still in use, who answers for it
-- and what for; the reminders, the mark and the suspension when it does not.
CREATE TABLE name_confirmations (
    owner         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    zone          TEXT COLLATE "C" NOT NULL,
    -- The agency that held the name when its confirmation began: another holder starts over.
    agency_id     BIGINT REFERENCES agencies(id),
    -- The day the yearly confirmation began for the name (its first due day is at least a
    -- notice period later).
    tracked_since TEXT COLLATE "C" NOT NULL,
    -- The day the next confirmation is due (YYYY-MM-DD, the office calendar's day).
    due_on        TEXT COLLATE "C" NOT NULL,
    confirmed_at  TEXT COLLATE "C",
    confirmed_by  BIGINT REFERENCES users(id),
    -- What the agency said at the last confirmation: the person responsible (JSON: name,
    -- email, phone) and what the name is for.
    contact       TEXT COLLATE "C",
    purpose       TEXT COLLATE "C",
    -- Reminders sent for the confirmation due, as days before ("30,7").
    reminded      TEXT COLLATE "C" NOT NULL DEFAULT '',
    -- When the name was marked unconfirmed (the due day passed).
    marked_at     TEXT COLLATE "C",
    -- The suspension made when the grace period passed too.
    suspension_id BIGINT REFERENCES suspensions(id)
);
