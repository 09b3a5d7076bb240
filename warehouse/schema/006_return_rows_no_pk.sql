-- 006: return_rows without its PRIMARY KEY. Maintaining the key's ART index was about two thirds of the load
-- stage at the rx size (≈ 17 M cells; bench N=1000 --rx) and most of the warehouse file. (submission_id, tbl,
-- row_no, field) stays unique by construction: load_batch deletes a submission's rows and inserts them again in
-- one transaction, and the reader yields each (table, worksheet row, field) once.
CREATE TABLE return_rows_new (
    submission_id VARCHAR NOT NULL,
    tbl           VARCHAR NOT NULL,
    row_no        INTEGER NOT NULL,
    field         VARCHAR NOT NULL,
    value         DOUBLE,
    text          VARCHAR,
    raw_text      VARCHAR,
    sheet         VARCHAR NOT NULL,
    cell          VARCHAR NOT NULL,
    status        VARCHAR NOT NULL
);
INSERT INTO return_rows_new SELECT * FROM return_rows;
DROP TABLE return_rows;
ALTER TABLE return_rows_new RENAME TO return_rows;
