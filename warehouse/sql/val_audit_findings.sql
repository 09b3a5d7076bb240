-- Audit workbook: every finding of the month's returns (form period or inbox period = $period),
-- superseded returns excluded — except a return filed for this month whose 统计期 names another month: it
-- lost to that month's real return, but its hospital still has to correct it, so its findings stay visible.
-- The return's header as typed is kept for returns of unknown facilities.
WITH subs AS (
    SELECT submission_id, facility_id, header_code, header_name, original_name
    FROM submissions
    WHERE (coalesce(period, inbox_period) = $period OR inbox_period = $period)
      AND (status <> 'superseded' OR (inbox_period = $period AND period IS DISTINCT FROM inbox_period))
),
final AS (
    SELECT f.finding_id, f.code, f.severity, f.stage, f.sheet, f.cell, f.field, f.value, f.expected,
           f.message_zh, f.fix_zh, f.rule_id,
           coalesce(f.facility_id, s.facility_id) AS facility_id,
           s.header_code, s.header_name, coalesce(f.file, s.original_name) AS file, s.submission_id
    FROM findings AS f
    JOIN subs AS s USING (submission_id)
)
SELECT * FROM final
ORDER BY facility_id NULLS LAST, header_code, file, submission_id,
         CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, sheet, cell, code, finding_id;
