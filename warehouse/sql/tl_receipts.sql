-- Every receipt (all versions, rejected ones included) attributed to a facility and a template whose month lies in
-- [$first_month, $last_month] (YYYY-MM text compares in calendar order). The month is the form's 统计期, else the
-- period the inbox folder named.
WITH receipts AS (
    SELECT submission_id, facility_id, template_id, COALESCE(period, folder_period) AS period,
           received_at, status, superseded_by, original_name
    FROM submissions
    WHERE facility_id IS NOT NULL
      AND template_id IS NOT NULL
),
final AS (
    SELECT * FROM receipts
    WHERE period BETWEEN $first_month AND $last_month
)
SELECT * FROM final ORDER BY facility_id, template_id, period, received_at, submission_id;
