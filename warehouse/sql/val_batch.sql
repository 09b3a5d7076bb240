-- Validation, step 4: remember the returns of this template's scope; the findings of every template's returns
-- are replaced and their statuses settled together at the end (val_delete_findings, val_set_status).
CREATE TEMP TABLE IF NOT EXISTS val_batch (submission_id VARCHAR PRIMARY KEY, template_id VARCHAR);
INSERT OR IGNORE INTO val_batch
SELECT submission_id, $template_id FROM val_scope;
