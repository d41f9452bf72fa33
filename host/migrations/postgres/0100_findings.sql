-- Security findings (Datadog Security Findings schema). Keep in step with sqlite/0100.
-- `attributes` holds the schema attributes object as ingested (JSON text); `tags` a JSON array
-- of `key:value` strings. The indexed columns are copies of attributes used to filter and sort.
-- `workflow.integrations` and `workflow.automations` are never stored here: they are computed
-- from cases, ticket links and rules when a finding is read.
CREATE TABLE findings (
    id                   TEXT PRIMARY KEY,
    finding_type         TEXT NOT NULL,
    severity             TEXT NOT NULL,
    status               TEXT NOT NULL,
    title                TEXT NOT NULL,
    resource_id          TEXT,
    detection_changed_at BIGINT NOT NULL,
    first_seen_at        BIGINT NOT NULL,
    last_seen_at         BIGINT NOT NULL,
    mute_expire_at       BIGINT,
    attributes           TEXT NOT NULL,
    tags                 TEXT NOT NULL,
    ingested_at          BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX findings_by_detection ON findings (detection_changed_at, id);
CREATE INDEX findings_by_type ON findings (finding_type);
CREATE INDEX findings_mute_expiry ON findings (mute_expire_at);
