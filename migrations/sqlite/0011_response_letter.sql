-- The response letter (Surat Tanggapan) that ranah makes is kept with the request's other
-- files. SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE attachments_new (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    kind        TEXT    NOT NULL CHECK (kind IN ('letter', 'recommendation', 'response_letter')),
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
