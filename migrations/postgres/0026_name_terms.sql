-- A name given for a time (an event's site, a project's): its last day, who set it, and how
-- far its ending has gone: the notices sent (days before: 30, 7, 1), the suspension at the
-- end, the removal after the grace period.
CREATE TABLE name_terms (
    owner         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    zone          TEXT COLLATE "C" NOT NULL,
    -- The last day the name is served (YYYY-MM-DD, the office calendar's time zone).
    ends_on       TEXT COLLATE "C" NOT NULL,
    -- The agency that held the name when the date was set: another holder ends nothing.
    agency_id     BIGINT REFERENCES agencies(id),
    set_by        BIGINT NOT NULL REFERENCES users(id),
    set_at        TEXT COLLATE "C" NOT NULL,
    -- The notices sent, as days before the end, comma-separated ("30,7").
    notified      TEXT COLLATE "C" NOT NULL DEFAULT '',
    suspension_id BIGINT REFERENCES suspensions(id),
    removed_at    TEXT COLLATE "C"
);
