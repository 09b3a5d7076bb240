-- 满意度 sheet: each assessed facility's satisfaction per survey type (aggregates only; suppressed values are NULL).
WITH names AS (
    SELECT facility_id, arg_max(name, valid_from) AS name FROM facilities GROUP BY facility_id
)
SELECT s.facility_id, names.name, s.survey, s.window_from, s.window_to, s.source, s.score, s.n, s.status, s.reason,
       s.survey_score, s.survey_n_received, s.survey_n_valid, s.survey_n_incomplete, s.survey_n_straight_lined,
       s.survey_n_duplicate, s.ci_low, s.ci_high, s.platform_score, s.platform_n, s.unshrunk_score
FROM satisfaction_scores AS s
LEFT JOIN names USING (facility_id)
WHERE s.period = $period
ORDER BY s.facility_id, CASE s.survey WHEN 'op' THEN 0 WHEN 'ip' THEN 1 ELSE 2 END
