-- Values the outlier review of a month reads (metrics.quality.outliers.detect), one row per facility × month × field.
--
-- Parameters
--   $months  VARCHAR[]  the month under review, its previous months and the calendar-adjusted month last year
--                       (metrics.quality.outliers.review_months)
--   $fields  VARCHAR[]  the reviewed fields (key fields and the fields of pair rules)
--
-- Where the figures come from, per facility and month (the same precedence as agg_fields.sql):
--   1. accepted (current) submissions, a value the bureau corrected read as corrected; if several carry the same field for a facility and month, the latest
--      received wins;
--   2. baseline_values stored per month (last year's months) fill an item no accepted return carries; a return
--      that carries the item blank wins over the baseline (the month then has no value for it).
-- Blank values are left out: the review compares numbers only.
WITH
months AS (
    SELECT unnest($months::VARCHAR[]) AS month
),
fields AS (
    SELECT unnest($fields::VARCHAR[]) AS field
),
current_submissions AS (
    SELECT submission_id, facility_id, period AS month, received_at
    FROM submissions
    WHERE status = 'accepted'
      AND facility_id IS NOT NULL
      AND period IN (SELECT month FROM months)
),
returned AS (
    SELECT s.facility_id, s.month, rv.field, coalesce(c.new_value, rv.value) AS value
    FROM current_submissions AS s
    JOIN return_values AS rv USING (submission_id)
    LEFT JOIN latest_corrections AS c ON c.submission_id = rv.submission_id AND c.field = rv.field
    WHERE rv.field IN (SELECT field FROM fields)
    QUALIFY row_number() OVER (PARTITION BY s.facility_id, s.month, rv.field
                               ORDER BY s.received_at DESC, s.submission_id DESC) = 1
),
baseline AS (
    SELECT b.facility_id, b.period AS month, b.field, b.value
    FROM baseline_values AS b
    WHERE b.period IN (SELECT month FROM months)
      AND b.field IN (SELECT field FROM fields)
      AND NOT EXISTS (SELECT 1 FROM returned AS r
                      WHERE r.facility_id = b.facility_id AND r.month = b.period AND r.field = b.field)
),
final AS (
    SELECT facility_id, month AS period, field, value, 'returns' AS source FROM returned
    UNION ALL
    SELECT facility_id, month AS period, field, value, 'baseline' AS source FROM baseline
)
SELECT facility_id, period, field, value, source
FROM final
WHERE value IS NOT NULL
ORDER BY facility_id, period, field
