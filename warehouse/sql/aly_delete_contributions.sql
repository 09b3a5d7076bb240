-- Replace a period's alliance contributions (a rerun writes the same rows).
DELETE FROM alliance_contributions WHERE period = $period
