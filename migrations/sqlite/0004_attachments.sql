-- Files attached to requests (the request letter, the recommendation). The bytes live under
-- <data_dir>/attachments/<sha256>; the store keeps what they are and their hash.
CREATE TABLE attachments (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    kind        TEXT    NOT NULL CHECK (kind IN ('letter', 'recommendation')),
    sha256      TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    uploaded_by INTEGER NOT NULL REFERENCES users(id),
    uploaded_at TEXT    NOT NULL
);
CREATE INDEX attachments_request ON attachments (request_id, kind);
