-- Feedback, step 3: how many facilities a peer statistic of the month could rest on — per peer group and field,
-- the facilities of the group with an accepted return for the month holding a value for the field (field NULL:
-- the facilities of the group with any accepted return). Peer groups come from the registry
-- (warehouse.compute.facility_peer_groups) as two parallel lists.
WITH grp AS (
    SELECT unnest($facility_ids) AS facility_id, unnest($groups) AS peer_group
),
accepted AS (
    SELECT s.submission_id, s.facility_id
    FROM submissions AS s
    WHERE s.status = 'accepted' AND s.period = $period
),
by_field AS (
    SELECT g.peer_group, v.field, count(DISTINCT a.facility_id) AS n
    FROM accepted AS a
    JOIN grp AS g USING (facility_id)
    JOIN return_values AS v USING (submission_id)
    WHERE v.value IS NOT NULL
    GROUP BY g.peer_group, v.field
),
by_group AS (
    SELECT g.peer_group, CAST(NULL AS VARCHAR) AS field, count(DISTINCT a.facility_id) AS n
    FROM accepted AS a
    JOIN grp AS g USING (facility_id)
    GROUP BY g.peer_group
),
final AS (
    SELECT * FROM by_field
    UNION ALL
    SELECT * FROM by_group
)
SELECT * FROM final
ORDER BY peer_group, field NULLS FIRST;
