-- Replace alliance memberships (医共体/专科联盟/医院集团/医联体) with the validated rows of one registry
-- file (registered as _reg_memberships_in by warehouse.registry.import_registry).
DELETE FROM memberships;

INSERT INTO memberships
WITH src AS (
    SELECT * FROM _reg_memberships_in
),
final AS (
    SELECT CAST(facility_id AS VARCHAR) AS facility_id,
           CAST(org_id AS VARCHAR)      AS org_id,
           CAST(org_name AS VARCHAR)    AS org_name,
           CAST(org_kind AS VARCHAR)    AS org_kind,
           CAST(role AS VARCHAR)        AS role,
           CAST(valid_from AS DATE)     AS valid_from,
           CAST(valid_to AS DATE)       AS valid_to
    FROM src
)
SELECT * FROM final ORDER BY facility_id, org_id, valid_from;
