-- Replace the facility registry with the validated rows of one registry file (registered as
-- _reg_facilities_in by warehouse.registry.import_registry). Sorted so reruns give identical tables.
DELETE FROM facilities;

INSERT INTO facilities
WITH src AS (
    SELECT * FROM _reg_facilities_in
),
final AS (
    SELECT CAST(facility_id AS VARCHAR)         AS facility_id,
           CAST(valid_from AS DATE)             AS valid_from,
           CAST(valid_to AS DATE)               AS valid_to,
           CAST(name AS VARCHAR)                AS name,
           CAST(uscc AS VARCHAR)                AS uscc,
           CAST(tier AS VARCHAR)                AS tier,
           CAST(grade AS VARCHAR)               AS grade,
           CAST(ftype AS VARCHAR)               AS ftype,
           CAST(specialty AS VARCHAR)           AS specialty,
           CAST(county AS VARCHAR)              AS county,
           CAST(peer_group_override AS VARCHAR) AS peer_group_override,
           CAST(contact_name AS VARCHAR)        AS contact_name,
           CAST(contact_phone AS VARCHAR)       AS contact_phone,
           CAST(source_file AS VARCHAR)         AS source_file,
           CAST(source_row AS INTEGER)          AS source_row
    FROM src
)
SELECT * FROM final ORDER BY facility_id, valid_from;
