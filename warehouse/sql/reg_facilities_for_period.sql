-- Facilities whose validity overlaps the month [$month_start, $month_end) — valid_to is exclusive.
-- When several rows of one facility overlap the month, the row valid on the month's last day wins,
-- else the latest-starting one (a facility closed mid-month keeps its last row).
WITH overlapping AS (
    SELECT *,
           (valid_from < $month_end AND (valid_to IS NULL OR valid_to >= $month_end)) AS on_last_day
    FROM facilities
    WHERE valid_from < $month_end
      AND (valid_to IS NULL OR valid_to > $month_start)
),
final AS (
    SELECT facility_id, valid_from, valid_to, name, uscc, tier, grade, ftype, specialty, county,
           peer_group_override, contact_name, contact_phone, source_file, source_row
    FROM overlapping
    QUALIFY row_number() OVER (PARTITION BY facility_id ORDER BY on_last_day DESC, valid_from DESC) = 1
)
SELECT * FROM final ORDER BY facility_id;
