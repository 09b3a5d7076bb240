-- Feedback, step 1: a month's current returns of registry facilities that carry findings (one feedback workbook
-- each) and where their archived bytes are. "The month's returns" as in the audit workbook
-- (val_audit_findings.sql): superseded returns are left out, except one filed for this month whose 统计期 names
-- another month — its hospital still has to correct it.
WITH subs AS (
    SELECT s.submission_id, s.facility_id, s.template_id, s.received_at, s.sha256
    FROM submissions AS s
    WHERE s.facility_id IS NOT NULL
      AND (coalesce(s.period, s.inbox_period) = $period OR s.inbox_period = $period)
      AND (s.status <> 'superseded' OR (s.inbox_period = $period AND s.period IS DISTINCT FROM s.inbox_period))
),
final AS (
    SELECT s.submission_id, s.facility_id, s.template_id, s.received_at, b.stored_path
    FROM subs AS s
    JOIN archive_blobs AS b USING (sha256)
    WHERE EXISTS (SELECT 1 FROM findings AS f WHERE f.submission_id = s.submission_id)
)
SELECT * FROM final
ORDER BY facility_id, template_id NULLS LAST, received_at, submission_id;
