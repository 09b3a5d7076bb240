-- One indicator's points for a facility (metrics.scoring.ScoreRow.as_row).
INSERT INTO scores (period, scheme_version, facility_id, peer_group, indicator, weight, effective_weight, points,
                    status, detail)
VALUES ($period, $scheme_version, $facility_id, $peer_group, $indicator, $weight, $effective_weight, $points,
        $status, $detail)
