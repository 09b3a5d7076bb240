-- The grades of a scored period under one scheme version, as stored by warehouse.compute.score_period
-- (NULL for facilities listed but not graded). Read by warehouse.sensitivity; nothing is written.
-- Parameters: $period VARCHAR, $scheme_version VARCHAR.
SELECT facility_id, grade
FROM composites
WHERE period = $period AND scheme_version = $scheme_version
ORDER BY facility_id
