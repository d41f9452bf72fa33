-- Users (assignees, authors, key owners) and API keys. Keep in step with postgres/0150.
-- Keys are stored as SHA-256 hex digests; the clear values are shown once, at creation.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    handle     TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    email      TEXT,
    -- identities on ticketing backends, for assignee sync (JSON object, e.g. {"jira_account_id": "…"})
    identities TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    api_key_hash TEXT NOT NULL UNIQUE,
    app_key_hash TEXT NOT NULL UNIQUE,
    -- comma-separated scope names (see api::auth::Scope)
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
