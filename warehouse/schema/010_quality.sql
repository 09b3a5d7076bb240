-- 010: the data-quality review's outliers of a month (warehouse/quality.py), ranked by their effect on the
-- facility's composite and rank. Replaced on every run of the month; the findings they raise (stage quality) live in
-- `findings` and the validation history like any other.
CREATE TABLE IF NOT EXISTS quality_outliers (
    period         VARCHAR NOT NULL,
    facility_id    VARCHAR NOT NULL,
    field          VARCHAR NOT NULL,
    method         VARCHAR NOT NULL,     -- yoy / peer_mad / peer_z / own_history / magnitude / pair
    rule           VARCHAR NOT NULL,     -- pair id or slip label ('' otherwise)
    level          VARCHAR NOT NULL,
    peer_group     VARCHAR,
    value          DOUBLE,
    reference      DOUBLE,
    statistic      DOUBLE,
    peer_n         INTEGER,
    suggested      DOUBLE,
    code           VARCHAR NOT NULL,
    severity       VARCHAR NOT NULL,
    confirmed      BOOLEAN NOT NULL,
    detail_zh      VARCHAR,
    scheme_version VARCHAR,              -- the scheme the impact was measured under (NULL: not measured)
    scored         BOOLEAN,
    composite      DECIMAL(12, 4),
    composite_new  DECIMAL(12, 4),
    delta          DECIMAL(12, 4),
    rank           INTEGER,
    rank_new       INTEGER,
    impact_order   INTEGER,              -- 1 = largest |Δ composite|
    note_zh        VARCHAR,
    PRIMARY KEY (period, facility_id, field, method, rule)
);
