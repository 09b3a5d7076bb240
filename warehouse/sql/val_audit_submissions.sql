-- Audit workbook: the month's returns (not superseded) with their finding counts by severity.
-- A return belongs to the month of its form's 统计期, or of its inbox when the form's period is unknown.
WITH subs AS (
    SELECT submission_id, facility_id, header_code, header_name, original_name, received_at, status
    FROM submissions
    WHERE coalesce(period, inbox_period) = $period
      AND status IN ('received', 'accepted', 'rejected', 'held')
),
counts AS (
    SELECT submission_id,
           count(*) FILTER (WHERE severity = 'error')   AS n_errors,
           count(*) FILTER (WHERE severity = 'warning') AS n_warnings
    FROM findings
    WHERE submission_id IN (SELECT submission_id FROM subs)
    GROUP BY submission_id
),
final AS (
    SELECT s.*, coalesce(c.n_errors, 0) AS n_errors, coalesce(c.n_warnings, 0) AS n_warnings
    FROM subs AS s
    LEFT JOIN counts AS c USING (submission_id)
)
SELECT * FROM final
ORDER BY facility_id NULLS LAST, received_at DESC, submission_id;
