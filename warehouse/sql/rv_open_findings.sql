-- Findings of one submission that are not waived (an active waiver has revoked_at NULL), errors first.
-- Parameters: $submission_id VARCHAR.
WITH waived AS (
    SELECT DISTINCT finding_id FROM finding_waivers WHERE revoked_at IS NULL
),
final AS (
    SELECT f.finding_id, f.code, f.severity, f.sheet, f.cell, f.field
    FROM findings AS f
    WHERE f.submission_id = $submission_id
      AND f.finding_id NOT IN (SELECT finding_id FROM waived)
)
SELECT * FROM final
ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, sheet, cell, code, finding_id;
