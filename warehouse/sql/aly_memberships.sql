-- Every 成员关系 row (effective-dated); metrics.alliance decides month by month who counts.
SELECT facility_id, org_id, org_name, org_kind, role, valid_from, valid_to
FROM memberships
ORDER BY org_id, facility_id, valid_from
