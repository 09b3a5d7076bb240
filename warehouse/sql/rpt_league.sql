-- League rows for the ranked report: one row per facility assessed in the period under the scheme,
-- with the previous period's rank in the same peer group for the rank change.
WITH cur AS (
    SELECT * FROM composites WHERE period = $period AND scheme_version = $scheme
),
prev AS (
    SELECT facility_id, peer_group, rank AS prev_rank FROM composites
    WHERE period = $prev_period AND scheme_version = $scheme AND status = 'scored'
),
names AS (
    SELECT facility_id, arg_max(name, valid_from) AS name FROM facilities GROUP BY facility_id
),
final AS (
    SELECT cur.peer_group, cur.facility_id, names.name, cur.composite, cur.rank, cur.grade, cur.quota_grade,
           cur.status, cur.reason, prev.prev_rank
    FROM cur
    LEFT JOIN names USING (facility_id)
    LEFT JOIN prev ON prev.facility_id = cur.facility_id AND prev.peer_group = cur.peer_group
)
SELECT * FROM final
ORDER BY peer_group, status DESC, rank NULLS LAST, facility_id;
