-- Returns of a template that has no validation suite yet are judged on their parse findings alone:
-- attributed to a registry facility → accepted, otherwise rejected. Returns with a suite are left to it.
UPDATE submissions
SET status = CASE WHEN facility_id IS NULL THEN 'rejected' ELSE 'accepted' END
WHERE status = 'received' AND parsed AND template_id IS NOT NULL
  AND NOT list_contains($validated_templates, template_id);
