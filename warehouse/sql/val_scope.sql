-- Validation, step 2: the returns in scope — current (received/accepted, or rejected by an earlier
-- validation) parsed returns of the period(s) and/or listed ids — with what the submission-level rules need:
-- the layout version to anchor on and the registry name(s) valid in the return's month.
-- Needs val_layout. Returns rejected upstream (ingest/parse) are not re-judged here.
CREATE OR REPLACE TEMP TABLE val_scope AS
WITH picked AS (
    SELECT s.submission_id, s.facility_id, s.period, s.inbox_period, s.header_name, s.header_code,
           s.original_name, s.status, s.template_version
    FROM submissions AS s
    WHERE s.template_id = $template_id  -- each template has a suite of its own (one scope per template)
      AND ($any_period OR list_contains($periods, s.period) OR list_contains($periods, s.inbox_period))
      AND ($any_id OR list_contains($ids, s.submission_id))
      AND (s.status IN ('received', 'accepted')
           OR (s.status = 'rejected' AND EXISTS (
                   SELECT 1 FROM findings AS f
                   WHERE f.submission_id = s.submission_id AND f.stage = 'validate'
                     AND list_contains($reject_codes, f.code))))
      AND EXISTS (SELECT 1 FROM return_values AS rv WHERE rv.submission_id = s.submission_id)
),
dated AS (
    SELECT p.*,
           CAST(try_strptime(coalesce(p.period, p.inbox_period) || '-01', '%Y-%m-%d') AS DATE) AS month_start,
           CASE WHEN p.template_version IN (SELECT version FROM val_layout) THEN p.template_version
                ELSE $default_version END AS layout_version
    FROM picked AS p
),
registry AS (
    -- registry rows overlapping the month; the row valid on the month's last day wins for the expected
    -- name (as in reg_facilities_for_period.sql), but any name valid in the month is accepted
    SELECT d.submission_id, f.name,
           row_number() OVER (PARTITION BY d.submission_id
                              ORDER BY (f.valid_to IS NULL OR f.valid_to >= d.month_start + INTERVAL 1 MONTH) DESC,
                                       f.valid_from DESC) AS rn
    FROM dated AS d
    JOIN facilities AS f
      ON f.facility_id = d.facility_id
     AND f.valid_from < d.month_start + INTERVAL 1 MONTH
     AND (f.valid_to IS NULL OR f.valid_to > d.month_start)
),
names AS (
    SELECT r.submission_id,
           max(r.name) FILTER (WHERE r.rn = 1) AS registry_name,
           -- whitespace-normalised comparison (ASCII, no-break and ideographic spaces removed)
           bool_or(regexp_replace(r.name, '[\s\x{00A0}\x{3000}]+', '', 'g')
                   = regexp_replace(coalesce(d.header_name, ''), '[\s\x{00A0}\x{3000}]+', '', 'g')) AS name_matches
    FROM registry AS r
    JOIN dated AS d USING (submission_id)
    GROUP BY r.submission_id
),
final AS (
    SELECT d.submission_id, d.facility_id, d.period, d.inbox_period, d.header_name, d.header_code,
           d.original_name, d.status, d.layout_version, n.registry_name, n.name_matches,
           coalesce(d.period, d.inbox_period) AS finding_period
    FROM dated AS d
    LEFT JOIN names AS n USING (submission_id)
)
SELECT * FROM final;
