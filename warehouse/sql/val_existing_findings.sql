-- Findings other stages already hold for the returns in scope (a validation finding with the same code at
-- the same cell would report the same mistake twice). Every template's returns in scope (val_batch).
SELECT submission_id, code, sheet, cell
FROM findings
WHERE stage <> 'validate'
  AND submission_id IN (SELECT submission_id FROM val_batch);
