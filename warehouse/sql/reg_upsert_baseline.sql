-- Upsert baseline figures (registered as _baseline_in by warehouse.baseline.import_baseline): a value for
-- the same facility + period + field replaces the stored one; values not in the file are kept.
INSERT OR REPLACE INTO baseline_values
WITH src AS (
    SELECT * FROM _baseline_in
),
final AS (
    SELECT CAST(facility_id AS VARCHAR) AS facility_id,
           CAST(period AS VARCHAR)      AS period,
           CAST(field AS VARCHAR)       AS field,
           CAST(value AS DOUBLE)        AS value,
           CAST(source_file AS VARCHAR) AS source_file,
           CAST(sheet AS VARCHAR)       AS sheet,
           CAST(cell AS VARCHAR)        AS cell
    FROM src
)
SELECT * FROM final ORDER BY facility_id, period, field;
