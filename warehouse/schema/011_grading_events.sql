-- 011: facts that a scheme's veto (一票否决) and bonus items name, recorded by the bureau per facility and period
-- (e.g. major_safety_incident). Kept for the audit trail; the grading of a method scheme reads those of its period.
CREATE TABLE IF NOT EXISTS grading_events (
    event_id     VARCHAR PRIMARY KEY,
    period       VARCHAR NOT NULL,
    facility_id  VARCHAR NOT NULL,
    code         VARCHAR NOT NULL,           -- the `event:` a veto or bonus item names
    count        INTEGER NOT NULL,
    note         VARCHAR NOT NULL,           -- what happened, with the document it rests on
    actor        VARCHAR NOT NULL,
    recorded_at  TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    revoked_by   VARCHAR,
    revoke_reason VARCHAR
);
