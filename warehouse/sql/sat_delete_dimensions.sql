-- Replace a period's satisfaction dimension means (a rerun writes the same rows).
DELETE FROM satisfaction_dimensions WHERE period = $period
