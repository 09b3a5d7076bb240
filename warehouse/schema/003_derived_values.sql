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

-- How each consumption row of an antibiotic return was counted (or why not): the pharmacists' audit of AUD.
CREATE TABLE IF NOT EXISTS ddd_lines (
    submission_id  VARCHAR NOT NULL,
    row_no         INTEGER NOT NULL,
    generic_name   VARCHAR,
    form_route     VARCHAR,
    strength       VARCHAR,
    pack_unit      VARCHAR,
    qty_inpatient  DOUBLE,
    status         VARCHAR NOT NULL,            -- ok / not_covered / out_of_scope
    reason         VARCHAR,
    atc            VARCHAR,
    route          VARCHAR,
    ddd            DOUBLE,
    ddd_unit       VARCHAR,
    ddd_table      VARCHAR,
    ddds_inpatient DOUBLE,
    PRIMARY KEY (submission_id, row_no)
);
