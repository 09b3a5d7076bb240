-- One indicator value (metrics.indicators.IndicatorValue.as_row).
INSERT INTO indicator_values (period, facility_id, indicator, numerator, denominator, value, status, detail)
VALUES ($period, $facility_id, $indicator, $numerator, $denominator, $value, $status, $detail)
