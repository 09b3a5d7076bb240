-- Alliance memberships (effective-dated, valid_to exclusive) overlapping [$span_start, $span_end).
WITH overlapping AS (
    SELECT facility_id, org_id, org_name, org_kind, role, valid_from, valid_to
    FROM memberships
    WHERE valid_from < $span_end
      AND (valid_to IS NULL OR valid_to > $span_start)
),
final AS (
    SELECT * FROM overlapping
)
SELECT * FROM final ORDER BY facility_id, org_id, valid_from;
