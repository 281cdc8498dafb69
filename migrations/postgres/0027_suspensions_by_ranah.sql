-- Suspensions that no person made (a name left unconfirmed past its grace period is
-- suspended by ranah itself): `suspended_by` may be NULL. And at most one active suspension
-- per name, which the store now enforces.
ALTER TABLE suspensions ALTER COLUMN suspended_by DROP NOT NULL;
-- Two suspensions made at once for one name (possible before): the first holds the records;
-- the later ones held nothing and are closed.
UPDATE suspensions SET lifted_at = suspended_at
    WHERE lifted_at IS NULL AND id NOT IN
        (SELECT MIN(id) FROM suspensions WHERE lifted_at IS NULL GROUP BY zone, owner);
CREATE UNIQUE INDEX suspensions_active ON suspensions (zone, owner) WHERE lifted_at IS NULL;
