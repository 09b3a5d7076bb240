-- Digest of every input of a period's scoring: the current submissions of its months (id + sha256), the bureau's
-- corrections and the waivers in force, and the baseline values of the period and of the same months last year.
-- Parameters: $months VARCHAR[], $base_months VARCHAR[], $period VARCHAR, $base_period VARCHAR.
WITH parts AS (
    SELECT 'S|' || submission_id || '|' || sha256 AS line FROM submissions
    WHERE status = 'accepted' AND list_contains($months || $base_months, period)
    UNION ALL
    SELECT 'C|' || correction_id FROM value_corrections WHERE list_contains($months || $base_months, period)
    UNION ALL
    SELECT 'W|' || waiver_id FROM finding_waivers
    WHERE revoked_at IS NULL AND list_contains($months || $base_months, period)
    UNION ALL
    SELECT 'B|' || facility_id || '|' || period || '|' || field || '|' || coalesce(CAST(value AS VARCHAR), '')
    FROM baseline_values
    WHERE list_contains($months || $base_months, period) OR period IN ($period, $base_period)
)
SELECT sha256(coalesce(string_agg(line, chr(10) ORDER BY line), '')), count(*) FILTER (WHERE line LIKE 'S|%')
FROM parts;
