-- Read model: catalogue imports, as GET /v1/imports/{id} serves them. Each row is the
-- newest `import.updated` snapshot; `version` is the import aggregate's version.

CREATE TABLE imports (
    import_id     uuid PRIMARY KEY,
    source        text        NOT NULL,
    mode          text        NOT NULL,
    state         text        NOT NULL,
    counters      jsonb       NOT NULL,
    failures      jsonb       NOT NULL DEFAULT '[]',
    error         text,
    requested_at  timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    version       bigint      NOT NULL
);

CREATE INDEX imports_requested_at ON imports (requested_at DESC);
