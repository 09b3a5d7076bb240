-- Load, table cells: one batch of table cells (the frame registered as _load_rows, repeated strings as categoricals)
-- into return_rows. The cell reference is the column letter followed by the worksheet row, put together here
-- instead of once per cell in Python.
INSERT INTO return_rows
SELECT CAST(submission_id AS VARCHAR), CAST(tbl AS VARCHAR), row_no, CAST(field AS VARCHAR), value, text, raw_text,
       CAST(sheet AS VARCHAR), CAST(col AS VARCHAR) || CAST(row_no AS VARCHAR), CAST(status AS VARCHAR)
FROM _load_rows
