-- Agencies (OPD), users, their roles (each optionally for a period: acting officials) and API
-- tokens (only a hash is stored).

CREATE TABLE agencies (
    id         INTEGER PRIMARY KEY,
    code       TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    email      TEXT,
    agency_id  INTEGER REFERENCES agencies(id),
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT    NOT NULL
);

CREATE TABLE user_roles (
    user_id     INTEGER NOT NULL REFERENCES users(id),
    role        TEXT    NOT NULL,
    -- Inclusive dates in the calendar's time zone; NULL = open-ended.
    valid_from  TEXT,
    valid_until TEXT,
    UNIQUE (user_id, role, valid_from, valid_until)
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    -- SHA-256 of the token, hex. The token itself is shown once and never stored.
    token_hash  TEXT    NOT NULL UNIQUE,
    -- The token's first characters, to recognise it in listings.
    prefix      TEXT    NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    created_at  TEXT    NOT NULL
);
