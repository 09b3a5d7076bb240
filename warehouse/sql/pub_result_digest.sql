-- Digest of the working results of a period under a scheme version (scores and composites as stored).
-- Parameters: $period VARCHAR, $scheme VARCHAR.
WITH parts AS (
    SELECT concat_ws('|', 'S', facility_id, peer_group, indicator, CAST(weight AS VARCHAR),
                     CAST(effective_weight AS VARCHAR), CAST(points AS VARCHAR), status, detail) AS line
    FROM scores WHERE period = $period AND scheme_version = $scheme
    UNION ALL
    SELECT concat_ws('|', 'C', facility_id, peer_group, CAST(composite AS VARCHAR), CAST(rank AS VARCHAR), grade,
                     quota_grade, status, reason)
    FROM composites WHERE period = $period AND scheme_version = $scheme
)
SELECT sha256(coalesce(string_agg(line, chr(10) ORDER BY line), '')) FROM parts;
