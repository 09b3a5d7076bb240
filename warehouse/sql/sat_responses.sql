-- Questionnaires of the satisfaction survey return (JX-MY01) in the scoring window, as columns: one row per
-- questionnaire (table row) of every accepted submission of the scored facilities, in received order (facility,
-- month, table, worksheet row). Read by warehouse/satisfaction.py only; nothing respondent-level leaves the warehouse.
-- Meta cells keep text and number apart (the code turns a number typed into a text cell into its text); an answer
-- cell the parser did not mark `ok` reads as NULL, i.e. blank (its finding is already recorded).
--
-- Parameters
--   $template    VARCHAR    the survey template id (JX-MY01)
--   $months      VARCHAR[]  the window's months
--   $facilities  VARCHAR[]  the facilities scored
-- Placeholder
--   ITEM_COLUMNS (between double underscores, in the select list below): replaced by one
--   `max(value) FILTER (WHERE field = 'qNN' AND status = 'ok') AS qNN` per item code of the questionnaires, written
--   by warehouse.satisfaction.item_columns_sql (codes checked against ^q[0-9]{2}$ before they enter the text;
--   everything else is a parameter)
WITH cells AS (
    SELECT s.facility_id, s.period AS month, r.submission_id, r.tbl, r.row_no, r.field, r.value, r.text, r.status
    FROM submissions AS s
    JOIN return_rows AS r USING (submission_id)
    WHERE s.status = 'accepted'
      AND s.template_id = $template
      AND s.facility_id IS NOT NULL
      AND list_contains($months, s.period)
      AND list_contains($facilities, s.facility_id)
),

questionnaires AS (
    SELECT facility_id, month, submission_id, tbl, row_no,
           max(text)  FILTER (WHERE field = 'respondent_id') AS respondent_text,
           max(value) FILTER (WHERE field = 'respondent_id') AS respondent_value,
           max(text)  FILTER (WHERE field = 'survey_date')   AS date_text,
           max(value) FILTER (WHERE field = 'survey_date')   AS date_value,
           max(text)  FILTER (WHERE field = 'mode')          AS mode_text,
           max(value) FILTER (WHERE field = 'mode')          AS mode_value,
           __ITEM_COLUMNS__
    FROM cells
    GROUP BY facility_id, month, submission_id, tbl, row_no
),

final AS (
    SELECT * FROM questionnaires
)

SELECT * FROM final
ORDER BY facility_id, month, tbl, row_no, submission_id
