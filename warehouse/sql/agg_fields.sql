-- Period aggregation of the return's fields, per facility and field (staging → indicators layer).
--
-- Parameters
--   $months            VARCHAR[]  the period's months, 'YYYY-MM', in order (metrics.periods.Period.months)
--   $period            VARCHAR    the period code ('2026-09', '2026-Q3', '2026'): baseline rows stored for the
--                                 whole period use it
--   $sum_fields        VARCHAR[]  fields aggregated by sum (flows: revenue, visits)
--   $last_fields       VARCHAR[]  fields taken at the period's last month (stocks: beds, staff)
--   $require_complete  BOOLEAN    true (default in warehouse.compute): a flow needs a non-blank value in EVERY
--                                 month of the period, otherwise it is NULL (= missing); a stock needs the last
--                                 month. false: a flow sums the months it has; a stock takes its latest value.
--
-- Where the figures come from, per facility:
--   1. accepted (current) submissions, month by month, a value the bureau corrected read as corrected; if several accepted returns carry the same field for a
--      facility and month, the latest received wins;
--   2. baseline_values stored per month fill months that have NO accepted return (returns win over baseline);
--   3. baseline_values stored for the whole period code are used only when the facility has neither a return
--      nor a monthly baseline row for any month of the period (e.g. last year's annual figures).
-- Values are cast to DECIMAL(38, 6) before summing so totals are exact (amounts carry 2 decimals).
-- Output: one row per facility × field (every field of $sum_fields/$last_fields), value NULL when missing.
WITH
months AS (
    SELECT unnest($months::VARCHAR[]) AS month
),
period_shape AS (
    SELECT count(*) AS n_months, max(month) AS end_month FROM months
),
fields AS (
    SELECT unnest($sum_fields::VARCHAR[]) AS field, 'sum' AS aggregation
    UNION ALL
    SELECT unnest($last_fields::VARCHAR[]) AS field, 'last' AS aggregation
),
current_submissions AS (
    SELECT submission_id, facility_id, period AS month, received_at
    FROM submissions
    WHERE status = 'accepted'
      AND facility_id IS NOT NULL
      AND period IN (SELECT month FROM months)
),
item_values AS (
    -- typed items (as corrected by the bureau, if so) and items derived from the same return's detail rows
    SELECT rv.submission_id, rv.field, coalesce(c.new_value, rv.value) AS value
    FROM return_values AS rv
    LEFT JOIN latest_corrections AS c USING (submission_id, field)   -- the submitted value stays
    UNION ALL
    SELECT submission_id, field, value FROM derived_values
),
returned AS (
    SELECT s.facility_id, s.month, rv.field, CAST(rv.value AS DECIMAL(38, 6)) AS value
    FROM current_submissions AS s
    JOIN item_values AS rv USING (submission_id)
    QUALIFY row_number() OVER (PARTITION BY s.facility_id, s.month, rv.field
                               ORDER BY s.received_at DESC, s.submission_id DESC) = 1
),
return_months AS (
    SELECT DISTINCT facility_id, month FROM current_submissions
),
baseline_monthly AS (
    SELECT b.facility_id, b.period AS month, b.field, CAST(b.value AS DECIMAL(38, 6)) AS value
    FROM baseline_values AS b
    WHERE b.period IN (SELECT month FROM months)
      -- per item: a return that carries the item (blank included) wins; a month with only another
      -- template's return (e.g. the antibiotic return) still takes the operations items from the baseline
      AND NOT EXISTS (SELECT 1 FROM returned AS r
                      WHERE r.facility_id = b.facility_id AND r.month = b.period AND r.field = b.field)
),
present AS (
    -- one row per facility-month: 'returns' when any current return exists for it, else 'baseline'
    SELECT facility_id, month, 'returns' AS source FROM return_months
    UNION ALL
    SELECT DISTINCT b.facility_id, b.month, 'baseline' AS source FROM baseline_monthly AS b
    WHERE NOT EXISTS (SELECT 1 FROM return_months AS r WHERE r.facility_id = b.facility_id AND r.month = b.month)
),
monthly AS (
    SELECT * FROM returned
    UNION ALL
    SELECT * FROM baseline_monthly
),
grid AS (
    -- every present month × every field, so a field absent from a month's return counts as blank
    SELECT p.facility_id, p.month, p.source, f.field, f.aggregation, m.value
    FROM present AS p
    CROSS JOIN fields AS f
    LEFT JOIN monthly AS m
      ON m.facility_id = p.facility_id AND m.month = p.month AND m.field = f.field
),
per_field AS (
    SELECT g.facility_id, g.field, g.aggregation,
           count(*) AS months_present,
           count(g.value) AS months_with_value,
           sum(g.value) AS total,
           bool_or(g.month = ps.end_month) AS has_end_month,
           max(g.value) FILTER (WHERE g.month = ps.end_month) AS end_value,
           first(g.value ORDER BY g.month DESC) FILTER (WHERE g.value IS NOT NULL) AS latest_value,
           CASE WHEN bool_and(g.source = 'returns') THEN 'returns'
                WHEN bool_and(g.source = 'baseline') THEN 'baseline'
                ELSE 'returns+baseline' END AS source,
           any_value(ps.n_months) AS n_months
    FROM grid AS g
    CROSS JOIN period_shape AS ps
    GROUP BY g.facility_id, g.field, g.aggregation
),
from_months AS (
    SELECT facility_id, field, aggregation,
           CASE
               WHEN aggregation = 'sum' AND $require_complete
                   THEN CASE WHEN months_with_value = n_months THEN total END
               WHEN aggregation = 'sum' THEN total
               WHEN $require_complete THEN CASE WHEN has_end_month THEN end_value END
               ELSE latest_value
           END AS value,
           months_present, n_months, source
    FROM per_field
),
baseline_period_facilities AS (
    SELECT DISTINCT facility_id FROM baseline_values
    WHERE period = $period
      AND facility_id NOT IN (SELECT facility_id FROM present)
),
from_baseline_period AS (
    SELECT bf.facility_id, f.field, f.aggregation, CAST(b.value AS DECIMAL(38, 6)) AS value,
           0 AS months_present, ps.n_months, 'baseline_period' AS source
    FROM baseline_period_facilities AS bf
    CROSS JOIN fields AS f
    CROSS JOIN period_shape AS ps
    LEFT JOIN baseline_values AS b
      ON b.facility_id = bf.facility_id AND b.period = $period AND b.field = f.field
),
final AS (
    SELECT * FROM from_months
    UNION ALL
    SELECT * FROM from_baseline_period
)
SELECT facility_id, field, aggregation, value, months_present, n_months, source
FROM final
ORDER BY facility_id, field
