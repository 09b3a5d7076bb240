-- 007: the grading engine (issue 6). Method schemes publish composites at up to 4 decimals (2026_std), so the
-- composites column widens (rule-points composites keep their 2 decimals as values). grading_stats keeps what
-- lies behind every standardised value (metrics.grading.PeerStats, as published at the method's stat
-- precision), one row per scheme version × period × scope × indicator (kind indicator) or group (kind group).
ALTER TABLE composites ALTER COLUMN composite TYPE DECIMAL(14, 4);
CREATE TABLE IF NOT EXISTS grading_stats (
    period         VARCHAR NOT NULL,
    scheme_version VARCHAR NOT NULL,
    peer_group     VARCHAR NOT NULL,           -- the scope: a peer group, or 全体
    indicator      VARCHAR NOT NULL,           -- indicator code, or group name (kind group)
    kind           VARCHAR NOT NULL,           -- indicator | group
    method         VARCHAR NOT NULL,           -- z | t_score | minmax | percentile_rank
    n              INTEGER NOT NULL,
    standardised   BOOLEAN NOT NULL,
    reason         VARCHAR,
    mean           DECIMAL(38, 12),
    sd             DECIMAL(38, 12),
    sd_kind        VARCHAR,
    min            DECIMAL(38, 12),
    max            DECIMAL(38, 12),
    p_low          DECIMAL(38, 12),            -- winsorisation caps (NULL: no capping)
    p_high         DECIMAL(38, 12),
    cap_rule       VARCHAR,
    n_capped       INTEGER NOT NULL DEFAULT 0,
    stat_decimals  INTEGER NOT NULL,           -- the method's stat precision: how the figures were published
    PRIMARY KEY (period, scheme_version, peer_group, indicator, kind)
);
