-- The journal is read from a serial on (IXFR, and an instance following another's changes on
-- a shared store, at every change): the change that left that serial is found by this index,
-- not by reading every change of the zone.
CREATE INDEX zone_changes_before ON zone_changes (zone_id, serial_before, id);
