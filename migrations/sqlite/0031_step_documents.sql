-- The documents the workflow's steps make (the handover minutes, the confirmation letter, a
-- template of the office's own) are kept with the request's files under their template's name:
-- a kind is any such name, no longer one of three. SQLite cannot change a CHECK constraint in
-- place: the table is rebuilt (nothing refers to it).
CREATE TABLE attachments_new (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    kind        TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 64 AND kind NOT GLOB '*[^a-z0-9_]*'),
    sha256      TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    uploaded_by INTEGER NOT NULL REFERENCES users(id),
    uploaded_at TEXT    NOT NULL
);
INSERT INTO attachments_new SELECT * FROM attachments;
DROP TABLE attachments;
ALTER TABLE attachments_new RENAME TO attachments;
CREATE INDEX attachments_request ON attachments (request_id, kind);
