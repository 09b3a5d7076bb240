-- Respondent-level rows of the satisfaction survey return (JX-MY01) for the scoring window: one row per
-- questionnaire (table row) of every accepted submission, its cells as parallel lists. Read by
-- warehouse/satisfaction.py only; nothing respondent-level leaves the warehouse.
--
-- Parameters
--   $template  VARCHAR    the survey template id (JX-MY01)
--   $months    VARCHAR[]  the window's months
SELECT s.facility_id, s.period AS month, r.tbl, r.row_no,
       list(r.field ORDER BY r.field)  AS fields,
       list(r.value ORDER BY r.field)  AS vals,
       list(r.text ORDER BY r.field)   AS texts,
       list(r.status ORDER BY r.field) AS statuses
FROM submissions AS s
JOIN return_rows AS r USING (submission_id)
WHERE s.status = 'accepted'
  AND s.template_id = $template
  AND s.facility_id IS NOT NULL
  AND list_contains($months, s.period)
GROUP BY s.facility_id, s.period, r.submission_id, r.tbl, r.row_no
ORDER BY s.facility_id, s.period, r.tbl, r.row_no
