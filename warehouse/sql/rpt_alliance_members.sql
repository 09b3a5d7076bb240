-- Members of each alliance whose membership overlaps the period [$period_start, $period_next).
WITH names AS (
    SELECT facility_id, arg_max(name, valid_from) AS name FROM facilities GROUP BY facility_id
)
SELECT m.org_id, m.facility_id, names.name, m.role, m.valid_from, m.valid_to
FROM memberships AS m
LEFT JOIN names USING (facility_id)
WHERE m.org_kind = $org_kind AND m.valid_from < $period_next AND (m.valid_to IS NULL OR m.valid_to > $period_start)
ORDER BY m.org_id, CASE m.role WHEN '牵头' THEN 0 ELSE 1 END, m.facility_id, m.valid_from
