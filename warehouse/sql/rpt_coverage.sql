-- Per expected facility: whether a current return exists for every month of the period, how many
-- were rejected, and its composite status. $months is the list of YYYY-MM months of the period.
WITH expected AS (
    SELECT facility_id, name, peer_group FROM _expected
),
subs AS (
    SELECT facility_id,
           count(DISTINCT period) FILTER (WHERE status = 'accepted') AS months_accepted,
           count(*) FILTER (WHERE status = 'rejected') AS rejected
    FROM submissions
    WHERE list_contains($months, period)
    GROUP BY facility_id
),
mislabelled AS (
    -- returns filed for one of the period's months whose 统计期 names another month
    SELECT facility_id, min(period) AS stated_period
    FROM submissions
    WHERE list_contains($months, inbox_period) AND period <> inbox_period AND facility_id IS NOT NULL
    GROUP BY facility_id
),
comp AS (
    SELECT facility_id, status, reason FROM composites WHERE period = $period AND scheme_version = $scheme
),
final AS (
    SELECT e.facility_id, e.name, e.peer_group,
           coalesce(s.months_accepted, 0) AS months_accepted, coalesce(s.rejected, 0) AS rejected,
           c.status AS composite_status, c.reason, m.stated_period
    FROM expected e
    LEFT JOIN subs s USING (facility_id)
    LEFT JOIN mislabelled m USING (facility_id)
    LEFT JOIN comp c USING (facility_id)
)
SELECT * FROM final ORDER BY facility_id;
