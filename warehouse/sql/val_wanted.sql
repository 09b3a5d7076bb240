-- Validation, step 3a: the table cells some rule reads, as (table, column) pairs ($tbls/$fields: parallel
-- lists from the validated rules), for the val_rows view.
CREATE OR REPLACE TEMP TABLE val_wanted AS
SELECT unnest($tbls) AS tbl, unnest($fields) AS field;
