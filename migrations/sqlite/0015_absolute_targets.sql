-- Host names in requested MX and CNAME values are read as in a master file from this version
-- on: without a trailing dot they are relative to the zone (`10 portal` is portal.<zone>.).
-- Requests still open were submitted when such a name was read as absolute: give their names
-- the trailing dot they were read with, so that their approval publishes what was asked.
UPDATE requests
SET records = (
    SELECT json_group_array(
        CASE
            WHEN upper(json_extract(r.value, '$.type')) IN ('MX', 'CNAME')
                 AND rtrim(json_extract(r.value, '$.value')) NOT LIKE '%.'
            THEN json_set(r.value, '$.value', rtrim(json_extract(r.value, '$.value')) || '.')
            ELSE json(r.value)
        END)
    FROM json_each(requests.records) AS r
)
WHERE status IN ('in_review', 'returned') AND json_valid(records);
