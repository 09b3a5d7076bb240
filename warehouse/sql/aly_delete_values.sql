-- Replace a period's alliance indicator values (a rerun writes the same rows).
DELETE FROM alliance_values WHERE period = $period
