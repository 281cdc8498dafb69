-- The ranah instances that use this store, each as it last said it was (every few seconds):
-- `ranah status` lists them. One row per instance (a restart takes its row again); the rows
-- of instances gone are kept a day, then pruned.
CREATE TABLE instances (
    id         TEXT COLLATE "C" PRIMARY KEY,  -- host name and the API's port
    host       TEXT COLLATE "C" NOT NULL,
    version    TEXT COLLATE "C" NOT NULL,
    dns        TEXT COLLATE "C" NOT NULL,     -- the DNS listen addresses
    api        TEXT COLLATE "C" NOT NULL,     -- the API's address
    leader     BIGINT NOT NULL,               -- 1 while it runs the background jobs
    serials    TEXT COLLATE "C" NOT NULL,     -- a JSON object: each zone's serial served there
    started_at TEXT COLLATE "C" NOT NULL,
    seen_at    TEXT COLLATE "C" NOT NULL
);

-- Files the requests refer to (letters, response letters, files of queued messages), by the
-- SHA-256 of their bytes. On SQLite they are files under the data directory; instances that
-- share a PostgreSQL store keep them here, so that each reads what another received.
CREATE TABLE stored_files (
    sha256     TEXT COLLATE "C" PRIMARY KEY,
    data       BYTEA NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
