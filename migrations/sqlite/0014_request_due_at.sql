-- When the current step's time standard runs out, as the service computed it from the
-- workflow and the calendar (NULL unless in review): lists filter and page overdue requests in
-- SQL. The daemon recomputes it for every request in review at start, so that a changed
-- calendar (a holiday added) takes effect.
ALTER TABLE requests ADD COLUMN due_at TEXT;
CREATE INDEX requests_due ON requests (status, due_at);
