-- Subdomain requests and their history.

CREATE TABLE requests (
    id                         INTEGER PRIMARY KEY,
    kind                       TEXT    NOT NULL CHECK (kind IN ('create', 'change', 'delete')),
    zone                       TEXT    NOT NULL,
    name                       TEXT    NOT NULL,
    agency_id                  INTEGER NOT NULL REFERENCES agencies(id),
    submitted_by               INTEGER NOT NULL REFERENCES users(id),
    registered_by_front_office INTEGER NOT NULL,
    -- The requested records as JSON: [{"type", "value", "ttl"}].
    records                    TEXT    NOT NULL,
    -- {"name", "email", "phone"}
    contact                    TEXT    NOT NULL,
    purpose                    TEXT    NOT NULL,
    recommendation_ref         TEXT,
    certificate                INTEGER NOT NULL,
    workflow                   TEXT    NOT NULL,
    status                     TEXT    NOT NULL
                               CHECK (status IN ('in_review', 'returned', 'completed', 'rejected', 'withdrawn')),
    step                       INTEGER,
    step_started_at            TEXT    NOT NULL,
    returned_at                TEXT,
    letter_attached            INTEGER NOT NULL DEFAULT 0,
    -- Incremented by every event; an update names the version it was decided on.
    version                    INTEGER NOT NULL,
    created_at                 TEXT    NOT NULL,
    updated_at                 TEXT    NOT NULL
);
CREATE INDEX requests_name ON requests (zone, name);
CREATE INDEX requests_status ON requests (status, agency_id);

-- Every action on a request, in order. Append-only.
CREATE TABLE request_events (
    request_id INTEGER NOT NULL REFERENCES requests(id),
    seq        INTEGER NOT NULL,
    at         TEXT    NOT NULL,
    actor_id   INTEGER REFERENCES users(id),
    action     TEXT    NOT NULL,
    step       TEXT,
    note       TEXT,
    reason     TEXT,
    PRIMARY KEY (request_id, seq)
);

CREATE TRIGGER request_events_append_only_update BEFORE UPDATE ON request_events
BEGIN
    SELECT RAISE(ABORT, 'request history is append-only');
END;
CREATE TRIGGER request_events_append_only_delete BEFORE DELETE ON request_events
BEGIN
    SELECT RAISE(ABORT, 'request history is append-only');
END;
