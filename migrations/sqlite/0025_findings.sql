-- The oversight checker's findings: what it found wrong with a name (a dangling CNAME, a lame
-- delegation, gambling spam on the page...), one open finding per name and kind, first and
-- last seen, with the evidence of the last check; resolved when a check finds it clear.
CREATE TABLE findings (
    id            INTEGER PRIMARY KEY,
    zone          TEXT    NOT NULL,
    -- Absolute, lower case, with the final dot (as records.owner).
    owner         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    -- What was asked and what came back, at the last check that found it.
    evidence      TEXT    NOT NULL,
    first_seen    TEXT    NOT NULL,
    last_seen     TEXT    NOT NULL,
    resolved_at   TEXT,
    -- The suspension an admin made from this finding.
    suspension_id INTEGER REFERENCES suspensions(id)
);
CREATE UNIQUE INDEX findings_open ON findings (owner, kind) WHERE resolved_at IS NULL;
CREATE INDEX findings_by_owner ON findings (owner, id);

-- When each name was last checked (a run takes the least recently checked first), and when
-- its site last answered on 80 or 443 (a site that stops answering is a finding; a name that
-- never answered there is no site).
CREATE TABLE name_checks (
    owner      TEXT NOT NULL PRIMARY KEY,
    zone       TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    web_seen_at TEXT
);
