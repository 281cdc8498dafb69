-- Owners given to names that existed before ranah (`ranah subdomain assign`): who got which
-- name when. Kept for oversight; the audit trail will take these over.
CREATE TABLE name_assignments (
    id          INTEGER PRIMARY KEY,
    zone        TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    agency_id   INTEGER NOT NULL REFERENCES agencies(id),
    previous    INTEGER REFERENCES agencies(id),
    assigned_at TEXT    NOT NULL,
    source      TEXT    NOT NULL
);
