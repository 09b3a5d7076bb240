-- Feedback, step 2: every finding of the listed returns, with the facility it belongs to and whether the bureau
-- waived it (a waiver counts until revoked: finding_waivers.revoked_at IS NULL).
WITH final AS (
    SELECT f.finding_id, f.submission_id, coalesce(f.facility_id, s.facility_id) AS facility_id, f.stage, f.code,
           f.severity, f.sheet, f.cell, f.field, f.value, f.expected, f.message_zh, f.fix_zh, f.rule_id,
           EXISTS (SELECT 1 FROM finding_waivers AS w
                   WHERE w.finding_id = f.finding_id AND w.revoked_at IS NULL) AS waived
    FROM findings AS f
    JOIN submissions AS s USING (submission_id)
    WHERE list_contains($ids, f.submission_id)
)
SELECT * FROM final
ORDER BY submission_id, sheet NULLS FIRST, cell, code, finding_id;
