-- 008: the bureau's review of submissions and the auditor's trail. Every table here is append-only except
-- outlier_confirmations' revocation columns: nothing an analyst records is ever deleted.

-- A submission's review state is the latest event for it (none yet = pending 待审).
CREATE TABLE IF NOT EXISTS review_events (
    event_id      VARCHAR PRIMARY KEY,
    submission_id VARCHAR NOT NULL,
    facility_id   VARCHAR,
    period        VARCHAR,
    template_id   VARCHAR,
    state         VARCHAR NOT NULL,          -- pending 待审 / approved 通过 / returned 退回
    reason        VARCHAR,
    finding_ids   VARCHAR[],                 -- the findings that caused a return (退回)
    actor         VARCHAR NOT NULL,
    acted_at      TIMESTAMP NOT NULL
);

-- A waived finding stays in `findings` and in the history; it no longer blocks indicators nor a return's approval.
CREATE TABLE IF NOT EXISTS finding_waivers (
    waiver_id     VARCHAR PRIMARY KEY,
    finding_id    VARCHAR NOT NULL,          -- stable across reruns (code + location)
    submission_id VARCHAR,
    facility_id   VARCHAR,
    period        VARCHAR,
    code          VARCHAR NOT NULL,
    sheet         VARCHAR,
    cell          VARCHAR,
    field         VARCHAR,
    reason        VARCHAR NOT NULL,
    actor         VARCHAR NOT NULL,
    acted_at      TIMESTAMP NOT NULL,
    revoked_at    TIMESTAMP,
    revoked_by    VARCHAR,
    revoke_reason VARCHAR
);

-- A correction the bureau records for a submitted value: the submitted value stays in return_values; indicators
-- read the latest correction instead (warehouse/sql/agg_fields.sql), and explain shows both.
CREATE TABLE IF NOT EXISTS value_corrections (
    correction_id VARCHAR PRIMARY KEY,
    submission_id VARCHAR NOT NULL,
    facility_id   VARCHAR,
    period        VARCHAR,
    field         VARCHAR NOT NULL,
    sheet         VARCHAR,
    cell          VARCHAR,
    old_value     DOUBLE,
    old_text      VARCHAR,
    new_value     DOUBLE NOT NULL,
    reason        VARCHAR NOT NULL,
    actor         VARCHAR NOT NULL,
    acted_at      TIMESTAMP NOT NULL
);

-- An outlier an analyst confirmed as correct: it stays in the record and stops warning for that value.
CREATE TABLE IF NOT EXISTS outlier_confirmations (
    confirmation_id VARCHAR PRIMARY KEY,
    facility_id   VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    field         VARCHAR NOT NULL,
    value_text    VARCHAR NOT NULL,          -- the confirmed value as text: a changed value warns again
    reason        VARCHAR NOT NULL,
    actor         VARCHAR NOT NULL,
    acted_at      TIMESTAMP NOT NULL
);

-- Validation history: one row per validation of a run, and every finding as it stood after that validation.
CREATE TABLE IF NOT EXISTS validation_runs (
    run_id        VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    recorded_at   TIMESTAMP NOT NULL,
    n_submissions INTEGER NOT NULL,
    n_findings    INTEGER NOT NULL,
    n_errors      INTEGER NOT NULL,
    n_warnings    INTEGER NOT NULL,
    PRIMARY KEY (run_id, period)
);

CREATE TABLE IF NOT EXISTS findings_history (
    run_id        VARCHAR NOT NULL,
    recorded_at   TIMESTAMP NOT NULL,
    finding_id    VARCHAR NOT NULL,
    period        VARCHAR,
    facility_id   VARCHAR,
    submission_id VARCHAR,
    stage         VARCHAR NOT NULL,
    code          VARCHAR NOT NULL,
    severity      VARCHAR NOT NULL,
    file          VARCHAR,
    sheet         VARCHAR,
    cell          VARCHAR,
    field         VARCHAR,
    value         VARCHAR,
    expected      VARCHAR,
    message_zh    VARCHAR NOT NULL,
    fix_zh        VARCHAR,
    rule_id       VARCHAR
);
