-- The submitted cell of every facility × field of a month: where an outlier finding sits.
--
-- Parameters
--   $period  VARCHAR  the month (YYYY-MM)
--
-- One row per facility × field: the accepted submission that wins for that month (latest received, as in
-- agg_fields.sql), its file name as received, and the field's sheet and cell.
WITH
current_submissions AS (
    SELECT submission_id, facility_id, original_name, received_at
    FROM submissions
    WHERE status = 'accepted'
      AND facility_id IS NOT NULL
      AND period = $period
),
final AS (
    SELECT s.facility_id, rv.field, s.submission_id, s.original_name AS file, rv.sheet, rv.cell
    FROM current_submissions AS s
    JOIN return_values AS rv USING (submission_id)
    QUALIFY row_number() OVER (PARTITION BY s.facility_id, rv.field
                               ORDER BY s.received_at DESC, s.submission_id DESC) = 1
)
SELECT * FROM final ORDER BY facility_id, field
