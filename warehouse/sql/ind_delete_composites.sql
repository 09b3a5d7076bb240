-- Remove a period's composites under one scheme version before they are written again.
DELETE FROM composites WHERE period = $period AND scheme_version = $scheme_version
