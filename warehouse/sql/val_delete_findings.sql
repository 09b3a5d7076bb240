-- Replace, step 1: drop the previous validation findings of the returns in scope (every template's, val_batch).
DELETE FROM findings
WHERE stage = 'validate'
  AND submission_id IN (SELECT submission_id FROM val_batch);
