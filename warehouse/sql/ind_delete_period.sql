-- Remove a period's indicator values before they are written again (reruns leave the table identical).
DELETE FROM indicator_values WHERE period = $period
