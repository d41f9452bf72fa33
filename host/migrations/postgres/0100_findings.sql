-- Security findings (Datadog Security Findings schema). Keep in step with sqlite/0100.
-- `attributes` holds the schema attributes object (JSON text) with `status` as of the last
-- write; `tags` a JSON array of `key:value` strings. The other columns are copies used to
-- filter, sort and sweep. `workflow.integrations` and `workflow.automations` are never stored
-- here: they are computed from cases, ticket links and rules when a finding is read.
-- `source_status` is the status the scanner last reported (never 'muted'); `mute_expire_at` is
-- set only while a mute with an expiry is in force; `api_overrides` (JSON) remembers when mute and
-- assignee were last set through the API; `version` increases on every write (optimistic
-- concurrency between replicas). Ids sort bytewise on both engines (the paging cursor relies on it).
CREATE TABLE findings (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    finding_type         TEXT NOT NULL,
    severity             TEXT NOT NULL,
    status               TEXT NOT NULL,
    source_status        TEXT NOT NULL,
    title                TEXT NOT NULL,
    resource_id          TEXT,
    detection_changed_at BIGINT NOT NULL,
    first_seen_at        BIGINT NOT NULL,
    last_seen_at         BIGINT NOT NULL,
    mute_expire_at       BIGINT,
    attributes           TEXT NOT NULL,
    tags                 TEXT NOT NULL,
    api_overrides        TEXT NOT NULL DEFAULT '{}',
    version              BIGINT NOT NULL,
    ingested_at          BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX findings_by_detection ON findings (detection_changed_at, id);
CREATE INDEX findings_by_type ON findings (finding_type, detection_changed_at);
CREATE INDEX findings_by_severity ON findings (severity, detection_changed_at);
CREATE INDEX findings_by_resource ON findings (resource_id);
CREATE INDEX findings_mute_expiry ON findings (status, mute_expire_at);
