-- Signing in to the web console: local passwords (argon2id) with a lockout, accounts that come
-- from the office's single sign-on, browser sessions, and the sign-ins in progress with the
-- provider.

-- The PHC string of an argon2id hash; NULL: the user has no password (single sign-on or API
-- tokens only).
ALTER TABLE users ADD COLUMN password_hash TEXT;
-- Failed password sign-ins since the last success, and the end of a lockout.
ALTER TABLE users ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;
-- `issuer sub` of an account made by single sign-on: the provider's stable id, whatever the
-- user name claim says later.
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    -- SHA-256 of the cookie's value, hex; the value itself is never stored.
    token_hash   TEXT    NOT NULL UNIQUE,
    -- The form token of this session (CSRF): random, compared in constant time.
    csrf         TEXT    NOT NULL,
    -- `password` or `oidc`.
    method       TEXT    NOT NULL,
    -- The provider's ID token, for RP-initiated logout (`id_token_hint`).
    id_token     TEXT,
    -- The provider's refresh token, while the session lives: the provider is asked with it
    -- whether the person may stay signed in (console.oidc.recheck_minutes). Cleared at the end.
    refresh_token TEXT,
    -- When the provider was last asked (or the sign-in).
    checked_at   TEXT,
    client       TEXT,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    ended_at     TEXT,
    -- `logout`, `idle`, `expired`, `disabled`, `unmapped`.
    end_reason   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, ended_at);

-- A sign-in sent to the provider and not yet back: the state (hashed), the nonce and the PKCE
-- verifier it must come back with, and the browser it was started in (a cookie, hashed). Used
-- once; kept until it expires so that a replay is recognised.
CREATE TABLE sign_in_attempts (
    state_hash   TEXT    PRIMARY KEY,
    browser_hash TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    pkce_verifier TEXT   NOT NULL,
    created_at   TEXT    NOT NULL,
    used_at      TEXT
);
CREATE INDEX sign_in_attempts_created ON sign_in_attempts (created_at);
