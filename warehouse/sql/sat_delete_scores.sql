-- Replace a period's satisfaction scores (a rerun writes the same rows).
DELETE FROM satisfaction_scores WHERE period = $period
