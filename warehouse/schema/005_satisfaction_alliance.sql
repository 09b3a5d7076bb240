-- 005: satisfaction scores per facility × survey type × scoring window, and the medical-alliance (医共体) layer.
-- Respondent-level survey rows stay in return_rows; only aggregates (with their counts) are stored here, and every
-- output reads from these tables, so no respondent-level row leaves the warehouse.

CREATE TABLE IF NOT EXISTS satisfaction_scores (
    period          VARCHAR NOT NULL,          -- the assessed period (YYYY-MM, YYYY-Qn, YYYY)
    facility_id     VARCHAR NOT NULL,
    survey          VARCHAR NOT NULL,          -- op / ip / staff
    window_from     VARCHAR NOT NULL,          -- first month of the scoring window
    window_to       VARCHAR NOT NULL,          -- last month of the scoring window
    source          VARCHAR,                   -- survey / platform (the one that scores); NULL when neither
    score           DECIMAL(10, 4),            -- the chosen score, 0–100, rounded half-up at the published decimals
    n               INTEGER,                   -- valid questionnaires (survey) or the platform's valid sample
    status          VARCHAR NOT NULL,          -- ok / small_sample / missing
    reason          VARCHAR,
    survey_score    DECIMAL(10, 4),            -- the respondent-level survey's index (even when not chosen)
    survey_n_received INTEGER,
    survey_n_valid    INTEGER,
    survey_n_incomplete INTEGER,
    survey_n_straight_lined INTEGER,
    survey_n_duplicate INTEGER,
    ci_low          DECIMAL(10, 4),
    ci_high         DECIMAL(10, 4),
    sd              DOUBLE,
    platform_score  DECIMAL(10, 4),
    platform_n      INTEGER,
    unshrunk_score  DECIMAL(10, 4),            -- the score before shrinkage toward the peer mean (NULL when off)
    PRIMARY KEY (period, facility_id, survey)
);

CREATE TABLE IF NOT EXISTS satisfaction_dimensions (
    period      VARCHAR NOT NULL,
    facility_id VARCHAR NOT NULL,
    survey      VARCHAR NOT NULL,
    dimension   VARCHAR NOT NULL,
    n           INTEGER NOT NULL,              -- valid questionnaires that answered the dimension
    mean        DECIMAL(10, 4),                -- NULL when suppressed (n below the suppression size)
    suppressed  BOOLEAN NOT NULL,
    PRIMARY KEY (period, facility_id, survey, dimension)
);

CREATE TABLE IF NOT EXISTS alliance_values (
    period       VARCHAR NOT NULL,
    org_id       VARCHAR NOT NULL,
    indicator    VARCHAR NOT NULL,
    numerator    DOUBLE,
    denominator  DOUBLE,
    value        DECIMAL(18, 4),
    status       VARCHAR NOT NULL,             -- ok / undefined / missing
    detail       VARCHAR,
    PRIMARY KEY (period, org_id, indicator)
);

CREATE TABLE IF NOT EXISTS alliance_contributions (
    period           VARCHAR NOT NULL,
    org_id           VARCHAR NOT NULL,
    indicator        VARCHAR NOT NULL,
    unit_id          VARCHAR NOT NULL,         -- member facility, or the county unit for county-level terms
    role             VARCHAR NOT NULL,         -- 牵头 / 成员 / 县域
    numerator_part   DOUBLE,
    denominator_part DOUBLE,
    months           VARCHAR,                  -- the months the unit was counted (membership and reporting)
    PRIMARY KEY (period, org_id, indicator, unit_id)
);
