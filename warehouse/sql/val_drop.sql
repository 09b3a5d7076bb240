-- Validation temp tables (and the val_rows view), dropped after a run.
DROP VIEW IF EXISTS val_rows;
DROP TABLE IF EXISTS val_wanted;
DROP TABLE IF EXISTS val_codes;
DROP TABLE IF EXISTS val_products;
DROP TABLE IF EXISTS val_adequacy;
DROP TABLE IF EXISTS val_batch;
DROP TABLE IF EXISTS val_values;
DROP TABLE IF EXISTS val_scope;
DROP TABLE IF EXISTS val_layout;
