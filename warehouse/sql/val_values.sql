-- Validation, step 3: every data field of every return in scope, with its provenance and the value the
-- rules may read: NULL when blank, absent or already reported by the parser (status error), so every rule
-- reading such a cell is skipped; blank_zero reads as 0. Needs val_layout and val_scope.
CREATE OR REPLACE TEMP TABLE val_values AS
WITH final AS (
    SELECT s.submission_id,
           l.field,
           coalesce(rv.sheet, l.sheet)      AS sheet,
           coalesce(rv.cell, l.cell)        AS cell,
           coalesce(rv.status, 'absent')    AS status,
           CASE rv.status WHEN 'ok' THEN rv.value
                          WHEN 'blank_zero' THEN coalesce(rv.value, 0) END AS v
    FROM val_scope AS s
    JOIN val_layout AS l ON l.version = s.layout_version AND l.part = 'field'
    LEFT JOIN return_values AS rv ON rv.submission_id = s.submission_id AND rv.field = l.field
)
SELECT * FROM final;
