-- Emergency suspensions (defacement, abuse): the name's records leave the zone but stay in the
-- store, marked with the suspension, and come back when it is lifted.
CREATE TABLE suspensions (
    id           INTEGER PRIMARY KEY,
    zone         TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    suspended_by INTEGER NOT NULL REFERENCES users(id),
    suspended_at TEXT    NOT NULL,
    lifted_by    INTEGER REFERENCES users(id),
    lifted_at    TEXT
);
CREATE INDEX suspensions_owner ON suspensions (zone, owner);

ALTER TABLE records ADD COLUMN suspension_id INTEGER REFERENCES suspensions(id);
