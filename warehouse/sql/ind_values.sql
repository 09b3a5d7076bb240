-- The indicator values of a period, as written by warehouse.compute.compute_period.
-- Parameters: $period VARCHAR.
SELECT facility_id, indicator, numerator, denominator, value, status, detail
FROM indicator_values
WHERE period = $period
ORDER BY facility_id, indicator
