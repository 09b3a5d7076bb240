-- Replace, step 3: a return in scope (any template, val_batch) is rejected when it carries a submission-level
-- error ($reject_codes, e.g. facility-unknown), else accepted. Superseded/held returns are never in scope.
UPDATE submissions AS s
SET status = CASE WHEN EXISTS (SELECT 1 FROM findings AS f
                               WHERE f.submission_id = s.submission_id AND f.severity = 'error'
                                 AND list_contains($reject_codes, f.code))
                  THEN 'rejected' ELSE 'accepted' END
WHERE s.submission_id IN (SELECT submission_id FROM val_batch)
  AND s.status IN ('received', 'accepted', 'rejected');
