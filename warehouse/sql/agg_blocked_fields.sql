-- Fields blocked for a period: an error-severity finding names the field on a current (accepted) submission
-- of any month of the period. Indicators reading a blocked field get status data_error. A finding the bureau
-- waived (finding_waivers, not revoked) or whose field it corrected (value_corrections) blocks nothing.
-- Parameters: $months VARCHAR[] — the period's months, 'YYYY-MM'.
WITH
current_submissions AS (
    SELECT submission_id, facility_id
    FROM submissions
    WHERE status = 'accepted'
      AND facility_id IS NOT NULL
      AND period IN (SELECT unnest($months::VARCHAR[]))
),
final AS (
    SELECT DISTINCT s.facility_id, f.field
    FROM findings AS f
    JOIN current_submissions AS s USING (submission_id)
    WHERE f.severity = 'error'
      AND f.field IS NOT NULL
      AND f.finding_id NOT IN (SELECT finding_id FROM finding_waivers WHERE revoked_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM value_corrections AS c
                      WHERE c.submission_id = f.submission_id AND c.field = f.field)
)
SELECT * FROM final ORDER BY facility_id, field
