-- Validation, step 3c: empty tables for the values a few row rules take from Python (metrics.prescribing /
-- metrics.ddd), filled by expectations/lookups.py before the generated SELECT joins them.
--   val_codes     a 存在问题（代码） text → official codes and unrecognised tokens
--   val_products  a consumption row's product (period year + typed columns) → DDD status, reason, route known
--   val_adequacy  a review return → rows counted, rows required, adequate, the reason in Chinese
CREATE OR REPLACE TEMP TABLE val_codes (
    text      VARCHAR PRIMARY KEY,
    n_codes   INTEGER NOT NULL,
    n_unknown INTEGER NOT NULL,
    unknown   VARCHAR
);
CREATE OR REPLACE TEMP TABLE val_products (
    year        INTEGER NOT NULL,
    name        VARCHAR NOT NULL,
    atc         VARCHAR NOT NULL,
    form        VARCHAR NOT NULL,
    strength    VARCHAR NOT NULL,
    pack_unit   VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,          -- ok / not_covered / out_of_scope (metrics.ddd.engine)
    reason      VARCHAR,
    route_known INTEGER                    -- 1 when the form text maps to a route, NULL when the form is blank
);
CREATE OR REPLACE TEMP TABLE val_adequacy (
    rule_id       VARCHAR NOT NULL,
    submission_id VARCHAR NOT NULL,
    sampled       INTEGER NOT NULL,
    required      INTEGER,
    adequate      INTEGER NOT NULL,
    reason        VARCHAR NOT NULL
);
