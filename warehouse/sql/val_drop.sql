-- Validation temp tables, dropped after a run.
DROP TABLE IF EXISTS val_values;
DROP TABLE IF EXISTS val_scope;
DROP TABLE IF EXISTS val_layout;
