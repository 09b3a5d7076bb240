-- One facility's composite, rank and grades (metrics.scoring.CompositeRow.as_row).
INSERT INTO composites (period, scheme_version, facility_id, peer_group, composite, rank, grade, quota_grade,
                        status, reason)
VALUES ($period, $scheme_version, $facility_id, $peer_group, $composite, $rank, $grade, $quota_grade,
        $status, $reason)
