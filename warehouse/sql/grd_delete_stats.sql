-- Remove a period's grading statistics under one scheme version before they are written again.
DELETE FROM grading_stats WHERE period = $period AND scheme_version = $scheme_version
