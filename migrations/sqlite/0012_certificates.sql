-- Certificates through ACME. Private keys (the account's and managed certificate keys) are
-- stored sealed with AES-256-GCM under the configured key_encryption_key.
CREATE TABLE acme_accounts (
    directory   TEXT PRIMARY KEY,
    credentials BLOB NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE certificates (
    id              INTEGER PRIMARY KEY,
    -- The fully qualified name, lower case, without the trailing dot.
    name            TEXT    NOT NULL UNIQUE,
    -- The zone's apex, with the trailing dot.
    zone            TEXT    NOT NULL,
    agency_id       INTEGER REFERENCES agencies(id),
    request_id      INTEGER REFERENCES requests(id),
    -- managed: ranah made the key (private_key); csr: the agency's CSR (csr, DER).
    mode            TEXT    NOT NULL CHECK (mode IN ('managed', 'csr')),
    csr             BLOB,
    private_key     BLOB,
    status          TEXT    NOT NULL
                    CHECK (status IN ('pending', 'issued', 'failed', 'revoking', 'revoked')),
    -- The issued chain stays while a renewal is pending, until the new one replaces it.
    chain_pem       TEXT,
    serial          TEXT,
    not_before      TEXT,
    not_after       TEXT,
    issuer          TEXT,
    renew_at        TEXT,
    -- The ACME order in flight, so that a restart resumes it.
    order_url       TEXT,
    -- Bumped by every new order, renewal and withdrawal: the worker writes its outcome only
    -- if the generation it started from is still current (a superseded order changes nothing).
    order_gen       INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    issued_at       TEXT,
    revoked_at      TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX certificates_due ON certificates (status, next_attempt_at);
