-- Review state of every return of a period (not superseded): the latest review event, pending when none.
-- Parameters: $period VARCHAR (YYYY-MM), $facility VARCHAR or NULL for all.
WITH subs AS (
    SELECT submission_id, facility_id, period, template_id, original_name, received_at, status
    FROM submissions
    WHERE coalesce(period, inbox_period) = $period
      AND status IN ('received', 'accepted', 'held', 'rejected')
      AND ($facility IS NULL OR facility_id = $facility)
),
latest AS (
    SELECT submission_id, state, reason, actor, acted_at
    FROM review_events
    QUALIFY row_number() OVER (PARTITION BY submission_id ORDER BY acted_at DESC, event_id DESC) = 1
),
open_counts AS (
    SELECT f.submission_id,
           count(*) FILTER (WHERE f.severity = 'error')   AS open_errors,
           count(*) FILTER (WHERE f.severity = 'warning') AS open_warnings
    FROM findings AS f
    WHERE f.finding_id NOT IN (SELECT finding_id FROM finding_waivers WHERE revoked_at IS NULL)
    GROUP BY f.submission_id
),
final AS (
    SELECT s.*, coalesce(l.state, 'pending') AS review_state, l.reason AS review_reason, l.actor AS reviewer,
           l.acted_at AS reviewed_at, coalesce(o.open_errors, 0) AS open_errors,
           coalesce(o.open_warnings, 0) AS open_warnings
    FROM subs AS s
    LEFT JOIN latest AS l USING (submission_id)
    LEFT JOIN open_counts AS o USING (submission_id)
)
SELECT * FROM final ORDER BY facility_id NULLS LAST, template_id, received_at DESC, submission_id;
