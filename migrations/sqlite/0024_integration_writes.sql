-- A request opened by a write through the Cloudflare-compatible API keeps the write itself
-- (JSON: the record it removes, the record it adds with the id the API answered): approved, it
-- is provisioned as that change on the name as it stands then, so that what changed at the
-- name meanwhile is kept. NULL for every other request (provisioned as its whole set).
ALTER TABLE requests ADD COLUMN integration_write TEXT;
