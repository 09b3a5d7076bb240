-- 满意度维度 sheet: dimension means per facility and survey type (NULL when suppressed).
WITH names AS (
    SELECT facility_id, arg_max(name, valid_from) AS name FROM facilities GROUP BY facility_id
)
SELECT d.facility_id, names.name, d.survey, d.dimension, d.n, d.mean, d.suppressed
FROM satisfaction_dimensions AS d
LEFT JOIN names USING (facility_id)
WHERE d.period = $period
ORDER BY d.facility_id, CASE d.survey WHEN 'op' THEN 0 WHEN 'ip' THEN 1 ELSE 2 END, d.dimension
