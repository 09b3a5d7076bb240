-- The versions of a facility's returns for one month, per template, oldest first (rejected files carry no
-- values and are not versions). Parameters: $facility VARCHAR, $period VARCHAR (YYYY-MM).
SELECT submission_id, template_id, original_name, sha256, received_at, status,
       row_number() OVER (PARTITION BY template_id ORDER BY received_at, submission_id) AS version
FROM submissions
WHERE facility_id = $facility AND period = $period AND status <> 'rejected' AND parsed
ORDER BY template_id, version;
