-- Publish: copy the working results of the run's period and scheme version into the published tables under the
-- run's label (never rewritten afterwards), and record the inputs it used.
-- Parameters: $label VARCHAR, $period VARCHAR, $scheme VARCHAR, $months VARCHAR[].
INSERT INTO published_scores
SELECT $label, period, scheme_version, facility_id, peer_group, indicator, weight, effective_weight, points, status,
       detail
FROM scores WHERE period = $period AND scheme_version = $scheme;
INSERT INTO published_composites
SELECT $label, period, scheme_version, facility_id, peer_group, composite, rank, grade, quota_grade, status, reason
FROM composites WHERE period = $period AND scheme_version = $scheme;
INSERT INTO assessment_inputs
SELECT $label, submission_id, sha256, facility_id, period, template_id
FROM submissions WHERE status = 'accepted' AND list_contains($months, period);
