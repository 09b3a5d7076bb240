-- 001: core tables of the warehouse. Layers: registry → raw (submissions, return_values) →
-- findings → indicator_values → scores / composites. `runs` is the only table a rerun appends to.

CREATE TABLE IF NOT EXISTS facilities (
    facility_id        VARCHAR NOT NULL,      -- internal id (机构编码) assigned by the bureau
    valid_from         DATE    NOT NULL,
    valid_to           DATE,                  -- exclusive; NULL = open
    name               VARCHAR NOT NULL,
    uscc               VARCHAR,               -- 统一社会信用代码 (may be shared by campuses)
    tier               VARCHAR NOT NULL,      -- 三级/二级/一级/基层
    grade              VARCHAR,               -- 甲/乙/丙/未定级
    ftype              VARCHAR NOT NULL,      -- 综合/中医/中西医结合/民族医/专科/妇幼保健院/乡镇卫生院/社区卫生服务中心
    specialty          VARCHAR,
    county             VARCHAR,
    peer_group_override VARCHAR,
    contact_name       VARCHAR,
    contact_phone      VARCHAR,
    source_file        VARCHAR,
    source_row         INTEGER,
    PRIMARY KEY (facility_id, valid_from)
);

CREATE TABLE IF NOT EXISTS memberships (
    facility_id  VARCHAR NOT NULL,
    org_id       VARCHAR NOT NULL,
    org_name     VARCHAR NOT NULL,
    org_kind     VARCHAR NOT NULL,            -- 医共体/专科联盟/医院集团/医联体
    role         VARCHAR NOT NULL,            -- 牵头/成员
    valid_from   DATE    NOT NULL,
    valid_to     DATE,
    PRIMARY KEY (facility_id, org_id, valid_from)
);

CREATE TABLE IF NOT EXISTS archive_blobs (
    sha256       VARCHAR PRIMARY KEY,
    size_bytes   BIGINT  NOT NULL,
    stored_path  VARCHAR NOT NULL              -- relative to the archive dir, content-addressed
);

CREATE TABLE IF NOT EXISTS submissions (
    submission_id    VARCHAR PRIMARY KEY,      -- derived from sha256 + original name: stable across reruns
    sha256           VARCHAR NOT NULL,
    original_name    VARCHAR NOT NULL,
    inbox_period     VARCHAR,                  -- the period the run was started for
    facility_id      VARCHAR,                  -- NULL when the file could not be attributed
    period           VARCHAR,                  -- from the form's 统计期 (YYYY-MM)
    template_id      VARCHAR,
    template_version VARCHAR,
    received_at      TIMESTAMP NOT NULL,
    received_source  VARCHAR NOT NULL,         -- manifest / mtime
    status           VARCHAR NOT NULL,         -- received / rejected / accepted / superseded / held
    superseded_by    VARCHAR,
    header_name      VARCHAR,                  -- 填报单位 as typed
    header_code      VARCHAR,                  -- 机构编码 as typed
    header_period    VARCHAR,                  -- 统计期 as typed
    folder_period    VARCHAR,                  -- period named by the inbox subfolder, if any
    parsed           BOOLEAN NOT NULL DEFAULT FALSE  -- values and parse findings loaded
);

CREATE TABLE IF NOT EXISTS return_values (
    submission_id VARCHAR NOT NULL,
    field         VARCHAR NOT NULL,
    value         DOUBLE,                      -- NULL when blank or unparseable
    raw_text      VARCHAR,
    sheet         VARCHAR NOT NULL,
    cell          VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,            -- ok / blank / blank_zero / error
    PRIMARY KEY (submission_id, field)
);

CREATE TABLE IF NOT EXISTS baseline_values (
    facility_id VARCHAR NOT NULL,
    period      VARCHAR NOT NULL,
    field       VARCHAR NOT NULL,
    value       DOUBLE,
    source_file VARCHAR,
    sheet       VARCHAR,
    cell        VARCHAR,
    PRIMARY KEY (facility_id, period, field)
);

CREATE TABLE IF NOT EXISTS findings (
    finding_id    VARCHAR PRIMARY KEY,
    period        VARCHAR,
    facility_id   VARCHAR,
    submission_id VARCHAR,
    stage         VARCHAR NOT NULL,
    code          VARCHAR NOT NULL,
    severity      VARCHAR NOT NULL,
    file          VARCHAR,
    sheet         VARCHAR,
    cell          VARCHAR,
    field         VARCHAR,
    value         VARCHAR,
    expected      VARCHAR,
    message_zh    VARCHAR NOT NULL,
    fix_zh        VARCHAR,
    rule_id       VARCHAR
);

CREATE TABLE IF NOT EXISTS indicator_values (
    period       VARCHAR NOT NULL,             -- YYYY-MM, YYYY-Qn or YYYY
    facility_id  VARCHAR NOT NULL,
    indicator    VARCHAR NOT NULL,
    numerator    DOUBLE,
    denominator  DOUBLE,
    value        DECIMAL(18, 4),               -- rounded half-up at the indicator's precision
    status       VARCHAR NOT NULL,             -- ok / undefined (zero denominator) / missing / data_error / no_base
    detail       VARCHAR,
    PRIMARY KEY (period, facility_id, indicator)
);

CREATE TABLE IF NOT EXISTS scores (
    period         VARCHAR NOT NULL,
    scheme_version VARCHAR NOT NULL,
    facility_id    VARCHAR NOT NULL,
    peer_group     VARCHAR NOT NULL,
    indicator      VARCHAR NOT NULL,
    weight         DECIMAL(10, 4),
    effective_weight DECIMAL(10, 4),
    points         DECIMAL(10, 4),
    status         VARCHAR NOT NULL,           -- scored / redistributed / zero / not_scored
    detail         VARCHAR,
    PRIMARY KEY (period, scheme_version, facility_id, indicator)
);

CREATE TABLE IF NOT EXISTS composites (
    period         VARCHAR NOT NULL,
    scheme_version VARCHAR NOT NULL,
    facility_id    VARCHAR NOT NULL,
    peer_group     VARCHAR NOT NULL,
    composite      DECIMAL(10, 2),
    rank           INTEGER,
    grade          VARCHAR,
    quota_grade    VARCHAR,
    status         VARCHAR NOT NULL,           -- scored / not_scored
    reason         VARCHAR,
    PRIMARY KEY (period, scheme_version, facility_id)
);

CREATE TABLE IF NOT EXISTS runs (
    run_id       VARCHAR PRIMARY KEY,
    period       VARCHAR NOT NULL,
    inbox        VARCHAR,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    status       VARCHAR NOT NULL,
    counts       JSON
);
