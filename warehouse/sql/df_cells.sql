-- Cell-level differences between two versions of a return: fixed items (return_values) by field and table
-- cells (return_rows) by table, worksheet row and column. A cell present in one version only counts as changed.
-- Parameters: $old VARCHAR, $new VARCHAR (submission ids).
WITH
a AS (
    SELECT NULL::VARCHAR AS tbl, NULL::INTEGER AS row_no, field, value, coalesce(raw_text, '') AS txt, sheet, cell
    FROM return_values WHERE submission_id = $old
    UNION ALL
    SELECT tbl, row_no, field, value, coalesce(text, raw_text, ''), sheet, cell
    FROM return_rows WHERE submission_id = $old
),
b AS (
    SELECT NULL::VARCHAR AS tbl, NULL::INTEGER AS row_no, field, value, coalesce(raw_text, '') AS txt, sheet, cell
    FROM return_values WHERE submission_id = $new
    UNION ALL
    SELECT tbl, row_no, field, value, coalesce(text, raw_text, ''), sheet, cell
    FROM return_rows WHERE submission_id = $new
),
final AS (
    SELECT coalesce(b.tbl, a.tbl) AS tbl, coalesce(b.row_no, a.row_no) AS row_no, coalesce(b.field, a.field) AS field,
           a.value AS old_value, a.txt AS old_text, b.value AS new_value, b.txt AS new_text,
           coalesce(b.sheet, a.sheet) AS sheet, coalesce(b.cell, a.cell) AS cell
    FROM a FULL OUTER JOIN b
      ON a.field = b.field AND a.tbl IS NOT DISTINCT FROM b.tbl AND a.row_no IS NOT DISTINCT FROM b.row_no
    WHERE a.value IS DISTINCT FROM b.value
       OR (a.value IS NULL AND b.value IS NULL AND a.txt IS DISTINCT FROM b.txt)
)
SELECT * FROM final
ORDER BY tbl NULLS FIRST, sheet, row_no NULLS FIRST, cell, field;
