-- The sync outbox: every remote effect (create ticket, update, transition, comment, …) is a row
-- written in the same transaction as the domain change that caused it. Keep in step with
-- postgres/0400. Timestamps are milliseconds since the Unix epoch; JSON is TEXT.
--
-- Ordering: effects of one (integration_id, ordering_key) apply in seq order. seq comes from
-- sync_ordering_keys.last_seq, bumped by the enqueueing transaction, so concurrent enqueuers of
-- one key are serialized by that row and seq order is commit order.
CREATE TABLE sync_ordering_keys (
    integration_id    TEXT NOT NULL,
    ordering_key      TEXT NOT NULL,
    last_seq          BIGINT NOT NULL,
    -- per-key "not before" (e.g. Jira per-issue write limit); 0 = none
    not_before        BIGINT NOT NULL DEFAULT 0,
    not_before_reason TEXT,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (integration_id, ordering_key)
);

CREATE TABLE sync_outbox (
    id               TEXT PRIMARY KEY,
    integration_id   TEXT NOT NULL,
    ordering_key     TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    -- travels to the backend so a create whose outcome is unknown can be adopted, not repeated
    correlation_key  TEXT,
    -- pending | in_flight | done | failed | cancelled
    state            TEXT NOT NULL,
    -- executor calls so far (never reset)
    attempts         BIGINT NOT NULL DEFAULT 0,
    -- attempts that failed transiently or with an unknown outcome since the last admin retry
    failures         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    -- "<worker>/<claim nonce>": unique per claim, the fence every settlement checks
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    -- done | rate_limited | transient | unauthorized | not_found | invalid_config | rejected |
    -- lease_expired | interrupted | cancelled
    last_outcome     TEXT,
    last_error       TEXT,
    -- what the executor reported on success (JSON)
    result           TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    completed_at     BIGINT,
    UNIQUE (integration_id, ordering_key, seq)
);

-- Heads of keys and their predecessors: only unfinished rows matter for ordering.
CREATE INDEX sync_outbox_unfinished_by_key ON sync_outbox (integration_id, ordering_key, seq)
    WHERE state IN ('pending', 'in_flight');
-- Claim scan: due rows first.
CREATE INDEX sync_outbox_due ON sync_outbox (next_attempt_at)
    WHERE state IN ('pending', 'in_flight');
-- Admin listing and health.
CREATE INDEX sync_outbox_by_integration_state ON sync_outbox (integration_id, state, created_at);
CREATE INDEX sync_outbox_by_created ON sync_outbox (created_at, id);

-- Per-integration gate, shared by every replica: paused (credentials refused, destination
-- misconfigured, or an admin) and the "not before" instant a backend-wide Retry-After set.
CREATE TABLE sync_integrations (
    integration_id     TEXT PRIMARY KEY,
    paused_at          BIGINT,
    paused_outcome     TEXT,
    paused_reason      TEXT,
    not_before         BIGINT NOT NULL DEFAULT 0,
    not_before_reason  TEXT,
    last_error_outcome TEXT,
    last_error         TEXT,
    last_error_at      BIGINT,
    updated_at         BIGINT NOT NULL
);
