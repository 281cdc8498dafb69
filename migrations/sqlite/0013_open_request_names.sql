-- At most one open request (in review or returned) per name: the submission checks this in
-- its transaction, and the index makes it hold against any writer. Two simultaneous
-- submissions for one new name were both accepted before.
DROP INDEX requests_name;
CREATE UNIQUE INDEX requests_open_name ON requests (zone, name)
    WHERE status IN ('in_review', 'returned');
CREATE INDEX requests_name ON requests (zone, name);
