-- Each member's (and the county's) share of every alliance indicator's numerator and denominator.
WITH names AS (
    SELECT facility_id, arg_max(name, valid_from) AS name FROM facilities GROUP BY facility_id
)
SELECT c.org_id, c.indicator, c.unit_id, names.name, c.role, c.numerator_part, c.denominator_part, c.months
FROM alliance_contributions AS c
LEFT JOIN names ON names.facility_id = c.unit_id
WHERE c.period = $period
ORDER BY c.org_id, c.indicator, CASE c.role WHEN '牵头' THEN 0 WHEN '成员' THEN 1 ELSE 2 END, c.unit_id
