-- Replace, step 2: insert the new validation findings (registered frame val_new_findings).
INSERT INTO findings BY NAME
SELECT * FROM val_new_findings;
