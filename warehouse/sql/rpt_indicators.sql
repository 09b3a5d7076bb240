-- Indicator values and points per facility for the period (points NULL where not scored).
WITH iv AS (
    SELECT facility_id, indicator, value, status, detail FROM indicator_values WHERE period = $period
),
sc AS (
    SELECT facility_id, indicator, points, weight, effective_weight, status AS score_status
    FROM scores WHERE period = $period AND scheme_version = $scheme
),
final AS (
    SELECT coalesce(iv.facility_id, sc.facility_id) AS facility_id,
           coalesce(iv.indicator, sc.indicator) AS indicator,
           iv.value, iv.status, iv.detail, sc.points, sc.weight, sc.effective_weight, sc.score_status
    FROM iv FULL OUTER JOIN sc ON iv.facility_id = sc.facility_id AND iv.indicator = sc.indicator
)
SELECT * FROM final ORDER BY facility_id, indicator;
