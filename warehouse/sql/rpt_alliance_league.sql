-- 医共体排名: one row per alliance scored under the alliance scheme, with its name, lead and member count.
WITH cur AS (
    SELECT * FROM composites WHERE period = $period AND scheme_version = $scheme
),
prev AS (
    SELECT facility_id, rank AS prev_rank FROM composites
    WHERE period = $prev_period AND scheme_version = $scheme AND status = 'scored'
),
names AS (
    SELECT facility_id, arg_max(name, valid_from) AS name FROM facilities GROUP BY facility_id
),
members AS (
    -- memberships in force on the period's last day
    SELECT org_id, any_value(org_name) AS org_name,
           count(*) AS n_members,
           min(facility_id) FILTER (WHERE role = '牵头') AS lead_id
    FROM memberships
    WHERE valid_from <= $period_end AND (valid_to IS NULL OR valid_to > $period_end)
    GROUP BY org_id
)
SELECT cur.facility_id AS org_id, coalesce(m.org_name, (SELECT any_value(org_name) FROM memberships x
                                                        WHERE x.org_id = cur.facility_id)) AS org_name,
       m.lead_id, names.name AS lead_name, m.n_members, cur.composite, cur.rank, cur.grade, cur.quota_grade,
       cur.status, cur.reason, prev.prev_rank
FROM cur
LEFT JOIN members AS m ON m.org_id = cur.facility_id
LEFT JOIN names ON names.facility_id = m.lead_id
LEFT JOIN prev ON prev.facility_id = cur.facility_id
ORDER BY cur.status DESC, cur.rank NULLS LAST, cur.facility_id
