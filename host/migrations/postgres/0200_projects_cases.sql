-- Projects, cases, their timelines, finding links and ticket links. Keep in step with sqlite/0200.
--
-- Invariants enforced here:
-- - a case key `<PROJECT KEY>-<n>` is unique and never handed out twice: numbers come from
--   `case_key_counters`, keyed by project *key*, which survives case and project deletion;
-- - a finding is linked to at most one case per project (primary key of `finding_cases`); every
--   transaction that changes a project's links first locks that project's row (projects in id
--   order), so link changers of one project never deadlock on case rows;
-- - timestamps are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE projects (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    project_key               TEXT NOT NULL UNIQUE,
    -- ProjectSettings minus the integration slots (JSON object)
    settings                  TEXT NOT NULL DEFAULT '{}',
    -- integration slots (JSON objects or NULL when not configured)
    jira_settings             TEXT,
    servicenow_settings       TEXT,
    case_management_settings  TEXT,
    enabled_custom_case_types TEXT NOT NULL DEFAULT '[]',
    team_uuid                 TEXT,
    created_by                TEXT,
    created_at                BIGINT NOT NULL,
    modified_at               BIGINT NOT NULL
);

-- Next case number per project key; rows are never deleted.
CREATE TABLE case_key_counters (
    project_key TEXT PRIMARY KEY,
    next_number BIGINT NOT NULL
);

CREATE TABLE cases (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects (id),
    case_number     BIGINT NOT NULL,
    case_key        TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    priority        TEXT NOT NULL,
    case_type       TEXT NOT NULL,
    type_id         TEXT NOT NULL,
    creation_source TEXT NOT NULL,
    assignee_id     TEXT REFERENCES users (id),
    -- custom attributes {key: [string]} (JSON object)
    attributes      TEXT NOT NULL DEFAULT '{}',
    created_by      TEXT,
    modified_by     TEXT,
    created_at      BIGINT NOT NULL,
    modified_at     BIGINT,
    closed_at       BIGINT,
    archived_at     BIGINT,
    -- per-case sequences (bumped with UPDATE … RETURNING under the row lock):
    -- positions of timeline cells, and of linked findings
    event_seq       BIGINT NOT NULL DEFAULT 0,
    link_seq        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cases_by_project ON cases (project_id, case_number);
CREATE INDEX cases_by_created ON cases (created_at, id);
CREATE INDEX cases_by_assignee ON cases (assignee_id);

-- Custom attribute values, one row per (case, key, value), so search filters stay portable SQL.
-- Always rewritten together with cases.attributes.
CREATE TABLE case_attribute_values (
    case_id    TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    attr_key   TEXT NOT NULL,
    attr_value TEXT NOT NULL,
    PRIMARY KEY (case_id, attr_key, attr_value)
);
CREATE INDEX case_attribute_values_by_value ON case_attribute_values (attr_key, attr_value);

CREATE TABLE case_timeline (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    cell_type   TEXT NOT NULL,
    -- JSON object: {"message": …} for comments, event details otherwise
    content     TEXT NOT NULL,
    author_id   TEXT,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT,
    deleted_at  BIGINT
);
CREATE UNIQUE INDEX case_timeline_by_case ON case_timeline (case_id, seq);

CREATE TABLE finding_cases (
    finding_id  TEXT NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    case_id     TEXT NOT NULL REFERENCES cases (id),
    seq         BIGINT NOT NULL,
    attached_by TEXT,
    attached_at BIGINT NOT NULL,
    PRIMARY KEY (finding_id, project_id)
);
CREATE INDEX finding_cases_by_case ON finding_cases (case_id, seq);

-- A case's ticket on an external backend. Detached links (case deleted, project deleted) keep
-- their row with case_id NULL and detached_at set, so the sync engine can tell what happened.
CREATE TABLE ticket_links (
    id              TEXT PRIMARY KEY,
    case_id         TEXT REFERENCES cases (id),
    backend         TEXT NOT NULL,
    account         TEXT,
    external_id     TEXT,
    external_key    TEXT,
    url             TEXT,
    table_name      TEXT,
    creation_status TEXT NOT NULL,
    error_message   TEXT,
    remote_status   TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    detached_at     BIGINT
);
CREATE UNIQUE INDEX ticket_links_one_per_backend ON ticket_links (case_id, backend);
CREATE INDEX ticket_links_by_external ON ticket_links (backend, external_key);
