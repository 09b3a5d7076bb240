-- The distinct (table, field) pairs of the satisfaction survey return (JX-MY01) in the scoring window, so that a
-- field no questionnaire knows (a layout ahead of questionnaires.yaml) stops the scoring instead of vanishing
-- from the pivot in sat_responses.sql.
--
-- Parameters
--   $template    VARCHAR    the survey template id (JX-MY01)
--   $months      VARCHAR[]  the window's months
--   $facilities  VARCHAR[]  the facilities scored
SELECT DISTINCT r.tbl, r.field
FROM submissions AS s
JOIN return_rows AS r USING (submission_id)
WHERE s.status = 'accepted'
  AND s.template_id = $template
  AND s.facility_id IS NOT NULL
  AND list_contains($months, s.period)
  AND list_contains($facilities, s.facility_id)
ORDER BY r.tbl, r.field
