"""Data quality beyond single-return rules: outliers and consistency over time and across peers, completeness
and timeliness of the expected returns."""
