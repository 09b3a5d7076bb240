-- Every registry unit (facility or county) with its latest tier and county: which return it files and where it is.
SELECT facility_id, arg_max(tier, valid_from) AS tier, arg_max(county, valid_from) AS county
FROM facilities
GROUP BY facility_id
ORDER BY facility_id
