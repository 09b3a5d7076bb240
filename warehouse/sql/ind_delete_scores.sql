-- Remove a period's scores under one scheme version before they are written again.
DELETE FROM scores WHERE period = $period AND scheme_version = $scheme_version
