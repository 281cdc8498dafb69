-- A name given for a time (an event's site, a project's): its last day, who set it, and how
-- far its ending has gone: the notices sent (days before: 30, 7, 1), the suspension at the
-- end, the removal after the grace period.
CREATE TABLE name_terms (
    owner         TEXT NOT NULL PRIMARY KEY,
    zone          TEXT NOT NULL,
    -- The last day the name is served (YYYY-MM-DD, the office calendar's time zone).
    ends_on       TEXT NOT NULL,
    -- The agency that held the name when the date was set: another holder ends nothing.
    agency_id     INTEGER REFERENCES agencies(id),
    set_by        INTEGER NOT NULL REFERENCES users(id),
    set_at        TEXT NOT NULL,
    -- The notices sent, as days before the end, comma-separated ("30,7").
    notified      TEXT NOT NULL DEFAULT '',
    suspension_id INTEGER REFERENCES suspensions(id),
    removed_at    TEXT
);
