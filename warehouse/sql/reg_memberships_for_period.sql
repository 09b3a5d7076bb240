-- Memberships whose validity overlaps the month [$month_start, $month_end) (valid_to exclusive); per
-- facility + organisation the row valid on the month's last day wins, else the latest-starting one.
WITH overlapping AS (
    SELECT *,
           (valid_from < $month_end AND (valid_to IS NULL OR valid_to >= $month_end)) AS on_last_day
    FROM memberships
    WHERE valid_from < $month_end
      AND (valid_to IS NULL OR valid_to > $month_start)
),
final AS (
    SELECT facility_id, org_id, org_name, org_kind, role, valid_from, valid_to
    FROM overlapping
    QUALIFY row_number() OVER (PARTITION BY facility_id, org_id ORDER BY on_last_day DESC, valid_from DESC) = 1
)
SELECT * FROM final ORDER BY org_id, facility_id;
