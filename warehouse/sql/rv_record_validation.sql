-- Keep the validation history: one validation_runs row for (run, period) and a copy of every finding of the
-- period as it stood after this validation. A rerun of the same run id replaces its own rows only.
-- Parameters: $run_id VARCHAR, $period VARCHAR, $recorded_at TIMESTAMP.
DELETE FROM findings_history WHERE run_id = $run_id AND period = $period;
DELETE FROM validation_runs WHERE run_id = $run_id AND period = $period;
INSERT INTO findings_history
SELECT $run_id, $recorded_at, finding_id, period, facility_id, submission_id, stage, code, severity, file, sheet,
       cell, field, value, expected, message_zh, fix_zh, rule_id
FROM findings WHERE period = $period;
INSERT INTO validation_runs
SELECT $run_id, $period, $recorded_at,
       (SELECT count(*) FROM submissions WHERE coalesce(period, inbox_period) = $period),
       count(*), count(*) FILTER (WHERE severity = 'error'), count(*) FILTER (WHERE severity = 'warning')
FROM findings WHERE period = $period;
