-- Registry rows (every effective-dated row, valid_to exclusive) overlapping [$span_start, $span_end): the facts
-- expected returns are judged from (metrics/quality/timeliness.py decides open-for-the-whole-period per month).
WITH overlapping AS (
    SELECT facility_id, valid_from, valid_to, name, tier, ftype, county, contact_name, contact_phone
    FROM facilities
    WHERE valid_from < $span_end
      AND (valid_to IS NULL OR valid_to > $span_start)
),
final AS (
    SELECT * FROM overlapping
)
SELECT * FROM final ORDER BY facility_id, valid_from;
