-- Values an analyst confirmed as correct for a month (outlier_confirmations, schema 008): an outlier on exactly
-- this value no longer warns; a changed value warns again.
--
-- Parameters
--   $period  VARCHAR  the month (YYYY-MM)
SELECT DISTINCT facility_id, period, field, value_text
FROM outlier_confirmations
WHERE period = $period
ORDER BY facility_id, field, value_text
