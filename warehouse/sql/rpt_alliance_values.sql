-- Alliance indicator values with their points under the alliance scheme.
SELECT v.org_id, v.indicator, v.numerator, v.denominator, v.value, v.status, v.detail, s.points, s.weight,
       s.status AS score_status
FROM alliance_values AS v
LEFT JOIN scores AS s ON s.period = v.period AND s.scheme_version = $scheme AND s.facility_id = v.org_id
                     AND s.indicator = v.indicator
WHERE v.period = $period
ORDER BY v.org_id, v.indicator
