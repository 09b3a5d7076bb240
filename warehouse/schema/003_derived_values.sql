-- 003: items derived from a return's detail rows (fields_derived.yaml), recomputed by the compute stage.
-- Provenance: the table and the worksheet row range they were computed from, and how (e.g. the DDD table).
CREATE TABLE IF NOT EXISTS derived_values (
    submission_id VARCHAR NOT NULL,
    field         VARCHAR NOT NULL,
    value         DOUBLE,
    sheet         VARCHAR NOT NULL,
    cell          VARCHAR NOT NULL,             -- the row range, e.g. G6:G125
    detail        VARCHAR,                      -- e.g. 'DDD表 2026；未折算 2 行'
    PRIMARY KEY (submission_id, field)
);
