-- Within each facility + period + template, the latest received non-rejected return is current;
-- older ones become `superseded` (kept, pointing at their successor). Held/rejected rows are untouched.
-- A return whose 统计期 disagrees with the period it was filed for (folder or run) never displaces one
-- that agrees: a mislabelled October file must not silently replace that hospital's real September return.
WITH candidates AS (
    SELECT submission_id, facility_id, period, template_id, received_at,
           coalesce(period = inbox_period, TRUE) AS filed_for_period
    FROM submissions
    WHERE status IN ('received', 'accepted', 'superseded')
      AND facility_id IS NOT NULL AND period IS NOT NULL AND template_id IS NOT NULL
),
ranked AS (
    SELECT submission_id,
           row_number() OVER w AS rn,
           first_value(submission_id) OVER w AS latest_id
    FROM candidates
    WINDOW w AS (PARTITION BY facility_id, period, template_id
                 ORDER BY filed_for_period DESC, received_at DESC, submission_id DESC)
),
final AS (
    SELECT submission_id, rn, latest_id FROM ranked
)
UPDATE submissions AS s
SET status = CASE WHEN f.rn = 1 THEN (CASE WHEN s.status = 'superseded' THEN 'accepted' ELSE s.status END)
                  ELSE 'superseded' END,
    superseded_by = CASE WHEN f.rn = 1 THEN NULL ELSE f.latest_id END
FROM final AS f
WHERE s.submission_id = f.submission_id;
