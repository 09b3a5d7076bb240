-- A period frozen by publication: returns received for its months after publishing are held (kept, validated,
-- fed back to the hospital, but neither current nor scored) until the period is reopened with a reason.
-- Parameters: $ids VARCHAR[] — the submissions of this run.
UPDATE submissions AS s
SET status = 'held'
WHERE list_contains($ids, s.submission_id)
  AND s.status IN ('received', 'accepted')
  AND EXISTS (SELECT 1 FROM period_locks AS l
              JOIN assessment_runs AS r USING (label)
              WHERE l.reopened_at IS NULL AND l.period = s.period)
  AND NOT EXISTS (SELECT 1 FROM assessment_inputs AS i
                  JOIN period_locks AS l USING (label)
                  WHERE l.reopened_at IS NULL AND i.submission_id = s.submission_id);
