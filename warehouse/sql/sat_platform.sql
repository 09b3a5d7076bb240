-- The satisfaction platform's figures (JX-MY02) received for the scoring window, per facility, month and field;
-- fields with an error finding on their submission are left out (an out-of-range score is not used).
--
-- Parameters
--   $template  VARCHAR    the platform template id (JX-MY02)
--   $months    VARCHAR[]  the window's months
SELECT s.facility_id, s.period AS month, rv.field, rv.value
FROM submissions AS s
JOIN return_values AS rv USING (submission_id)
WHERE s.status = 'accepted'
  AND s.template_id = $template
  AND s.facility_id IS NOT NULL
  AND list_contains($months, s.period)
  AND rv.value IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM findings AS f
                  WHERE f.submission_id = s.submission_id AND f.field = rv.field AND f.severity = 'error')
ORDER BY s.facility_id, s.period, rv.field
