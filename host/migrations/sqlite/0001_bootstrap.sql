-- Instance-wide settings (e.g. the id of this installation). Keep in step with postgres/0001.
CREATE TABLE casebridge_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
