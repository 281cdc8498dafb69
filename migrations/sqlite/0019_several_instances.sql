-- The ranah instances that use this store, each as it last said it was (every few seconds):
-- `ranah status` lists them. One row per instance (a restart takes its row again); the rows
-- of instances gone are kept a day, then pruned.
CREATE TABLE instances (
    id         TEXT    PRIMARY KEY,  -- host name and the API's port
    host       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    dns        TEXT    NOT NULL,     -- the DNS listen addresses
    api        TEXT    NOT NULL,     -- the API's address
    leader     INTEGER NOT NULL,     -- 1 while it runs the background jobs
    serials    TEXT    NOT NULL,     -- a JSON object: each zone's serial served there
    started_at TEXT    NOT NULL,
    seen_at    TEXT    NOT NULL
);
