-- At most one open request (in review or returned) per name: the submission checks this in
-- its transaction, and the index makes it hold against any writer. Two simultaneous
-- submissions for one new name were both accepted before.
--
-- A database may hold such twins from before: the later ones are marked with the request that
-- holds the name (their state and history are left as they are, to be decided by the office),
-- so that the index can be made; new requests are never marked.
ALTER TABLE requests ADD COLUMN duplicate_of INTEGER REFERENCES requests(id);
UPDATE requests
SET duplicate_of = (
    SELECT MIN(o.id) FROM requests o
    WHERE o.zone = requests.zone AND o.name = requests.name
      AND o.status IN ('in_review', 'returned')
)
WHERE status IN ('in_review', 'returned')
  AND id > (
    SELECT MIN(o.id) FROM requests o
    WHERE o.zone = requests.zone AND o.name = requests.name
      AND o.status IN ('in_review', 'returned')
  );
DROP INDEX requests_name;
CREATE UNIQUE INDEX requests_open_name ON requests (zone, name, COALESCE(duplicate_of, 0))
    WHERE status IN ('in_review', 'returned');
CREATE INDEX requests_name ON requests (zone, name);
