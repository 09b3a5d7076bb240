-- Validation, step 1: the template layout as a temp table (one row per header key or data field and
-- layout version), passed in as parallel lists so no layout text is ever spliced into SQL.
CREATE OR REPLACE TEMP TABLE val_layout AS
WITH given AS (
    SELECT unnest($versions) AS version,
           unnest($parts)    AS part,        -- header | field
           unnest($keys)     AS field,       -- header key (facility_code …) or field code
           unnest($sheets)   AS sheet,
           unnest($cells)    AS cell
),
final AS (
    SELECT version, part, field, sheet, cell FROM given
)
SELECT * FROM final;
