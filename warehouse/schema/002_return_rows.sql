-- 002: multi-row tables of returns (抗菌药物消耗, 供应目录, 处方点评表), one row per cell with provenance,
-- like return_values. Names of prescribers and pharmacists arrive here already pseudonymised (a keyed hash
-- per facility); diagnoses stay in this table and never go into bureau-wide outputs.
CREATE TABLE IF NOT EXISTS return_rows (
    submission_id VARCHAR NOT NULL,
    tbl           VARCHAR NOT NULL,            -- table name from the layout
    row_no        INTEGER NOT NULL,            -- the worksheet row the values came from
    field         VARCHAR NOT NULL,
    value         DOUBLE,                      -- numbers, 0/1 flags
    text          VARCHAR,                     -- text, ISO dates, pseudonyms
    raw_text      VARCHAR,                     -- as typed (pseudonymised for personal names)
    sheet         VARCHAR NOT NULL,
    cell          VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,            -- ok / blank / error
    PRIMARY KEY (submission_id, tbl, row_no, field)
);
