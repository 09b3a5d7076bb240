-- 012: the bureau's latest correction of each corrected value (value_corrections keeps every one). Indicators
-- (agg_fields.sql), the outlier review (qa_values.sql) and explain read values through it.
CREATE OR REPLACE VIEW latest_corrections AS
SELECT submission_id, field, new_value, actor, acted_at, reason, correction_id
FROM value_corrections
QUALIFY row_number() OVER (PARTITION BY submission_id, field ORDER BY acted_at DESC, correction_id DESC) = 1;
