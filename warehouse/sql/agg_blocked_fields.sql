-- Fields blocked for a period: an error-severity finding names the field on a current (accepted) submission
-- of any month of the period. Indicators reading a blocked field get status data_error.
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
)
SELECT * FROM final ORDER BY facility_id, field
