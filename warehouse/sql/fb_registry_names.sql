-- Feedback guard: every registry code and every name it has carried (any validity), so a feedback workbook can be
-- checked for another facility's code or name before it is written.
SELECT DISTINCT facility_id, name
FROM facilities
ORDER BY facility_id, name;
