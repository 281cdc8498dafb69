-- Records made through the Cloudflare-compatible API: the id that API gives each record (kept
-- when its content changes, so that a portal that stored it can change or delete it again),
-- and the user (an integration's token) that wrote it. Rows written before carry no id: it is
-- derived from their owner, type and data when they are read.
ALTER TABLE records ADD COLUMN api_id TEXT;
ALTER TABLE records ADD COLUMN user_id INTEGER;
CREATE INDEX records_api_id ON records (zone_id, api_id);
