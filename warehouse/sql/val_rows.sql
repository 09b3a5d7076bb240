-- Validation, step 3b: the table cells (return_rows) of every return in scope that some rule reads, with
-- what the rules may read: v for numbers and 0/1 flags, t for text, ISO dates and problem codes — both NULL
-- when blank or already reported by the parser (status error), so every rule reading such a cell skips that
-- row; blank_zero reads as 0. A view (the cells of 1,000 returns × 1,000 rows are 15 million rows), over
-- val_wanted (the table.column pairs the rules read, val_wanted.sql) and val_scope.
CREATE OR REPLACE TEMP VIEW val_rows AS
WITH final AS (
    SELECT r.submission_id, r.tbl, r.row_no, r.field, r.sheet, r.cell, r.status,
           CASE r.status WHEN 'ok' THEN r.value WHEN 'blank_zero' THEN coalesce(r.value, 0) END AS v,
           CASE WHEN r.status = 'ok' THEN r.text END AS t
    FROM return_rows AS r
    JOIN val_wanted AS w ON w.tbl = r.tbl AND w.field = r.field
    WHERE r.submission_id IN (SELECT submission_id FROM val_scope)
)
SELECT * FROM final;
