-- TSIG keys for dynamic update (RFC 2136): an agency's key answers ACME challenges for the
-- names the agency holds; a key without an agency has what the configuration grants it.
CREATE TABLE update_keys (
    id          INTEGER PRIMARY KEY,
    -- The key's name as both sides write it, lower case, without the final dot.
    name        TEXT    NOT NULL UNIQUE,
    -- `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    algorithm   TEXT    NOT NULL,
    -- The secret, sealed (AES-256-GCM) with the key encryption key, bound to the name.
    secret      BLOB    NOT NULL,
    agency_id   INTEGER REFERENCES agencies(id),
    created_at  TEXT    NOT NULL,
    revoked_at  TEXT,
    last_used_at TEXT
);
