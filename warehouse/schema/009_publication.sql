-- 009: assessment runs (draft → review → published), their frozen results, disputes and period locks.
-- The working tables `scores` / `composites` hold the latest scoring of a period under a scheme version and may be
-- recomputed at will; a published run's results are copied into published_scores / published_composites under
-- its label and are never rewritten. A re-score after publication is a new labelled run.

CREATE TABLE IF NOT EXISTS assessment_runs (
    label           VARCHAR PRIMARY KEY,       -- <period>/<scheme_version>/r<n>
    period          VARCHAR NOT NULL,
    scheme_version  VARCHAR NOT NULL,
    seq             INTEGER NOT NULL,          -- n of r<n>: 1, 2, … per period and scheme version
    state           VARCHAR NOT NULL,          -- draft / review / published / superseded (a draft replaced)
    scheme_sha256   VARCHAR NOT NULL,          -- the scheme file as used
    catalog_sha256  VARCHAR NOT NULL,          -- indicator and field catalogs as used
    data_sha256     VARCHAR NOT NULL,          -- the inputs: every current submission (id + sha256) of the period's
                                               -- months, corrections and waivers in force
    result_sha256   VARCHAR NOT NULL,          -- digest of the scores and composites it produced
    n_submissions   INTEGER NOT NULL,
    flow_run_id     VARCHAR,
    created_at      TIMESTAMP NOT NULL,
    reviewed_at     TIMESTAMP,
    published_at    TIMESTAMP,
    published_by    VARCHAR,
    note            VARCHAR
);

CREATE TABLE IF NOT EXISTS assessment_inputs (
    label          VARCHAR NOT NULL,
    submission_id  VARCHAR NOT NULL,
    sha256         VARCHAR NOT NULL,
    facility_id    VARCHAR,
    period         VARCHAR,
    template_id    VARCHAR,
    PRIMARY KEY (label, submission_id)
);

CREATE TABLE IF NOT EXISTS published_scores (
    label          VARCHAR NOT NULL,
    period         VARCHAR NOT NULL,
    scheme_version VARCHAR NOT NULL,
    facility_id    VARCHAR NOT NULL,
    peer_group     VARCHAR NOT NULL,
    indicator      VARCHAR NOT NULL,
    weight         DECIMAL(10, 4),
    effective_weight DECIMAL(10, 4),
    points         DECIMAL(10, 4),
    status         VARCHAR NOT NULL,
    detail         VARCHAR,
    PRIMARY KEY (label, facility_id, indicator)
);

CREATE TABLE IF NOT EXISTS published_composites (
    label          VARCHAR NOT NULL,
    period         VARCHAR NOT NULL,
    scheme_version VARCHAR NOT NULL,
    facility_id    VARCHAR NOT NULL,
    peer_group     VARCHAR NOT NULL,
    composite      DECIMAL(12, 4),
    rank           INTEGER,
    grade          VARCHAR,
    quota_grade    VARCHAR,
    status         VARCHAR NOT NULL,
    reason         VARCHAR,
    PRIMARY KEY (label, facility_id)
);

CREATE TABLE IF NOT EXISTS disputes (
    dispute_id   VARCHAR PRIMARY KEY,
    label        VARCHAR NOT NULL,
    facility_id  VARCHAR NOT NULL,
    indicator    VARCHAR,
    claim        VARCHAR NOT NULL,
    raised_by    VARCHAR NOT NULL,
    raised_at    TIMESTAMP NOT NULL,
    decision     VARCHAR,                    -- NULL while open
    decided_by   VARCHAR,
    decided_at   TIMESTAMP
);

-- Publishing locks a period: later resubmissions for it are held until a reopen with a reason. Rows are never
-- deleted; a reopen stamps the lock.
CREATE TABLE IF NOT EXISTS period_locks (
    period        VARCHAR NOT NULL,
    label         VARCHAR NOT NULL,
    locked_at     TIMESTAMP NOT NULL,
    locked_by     VARCHAR NOT NULL,
    reopened_at   TIMESTAMP,
    reopened_by   VARCHAR,
    reopen_reason VARCHAR,
    PRIMARY KEY (period, label)
);
