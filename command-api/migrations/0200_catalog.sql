-- The catalogue write model and catalogue imports.

-- A release's state is the snapshot last published as `release.upserted` (without
-- its id). Comparing a recomputed snapshot with it tells whether anything changed.
CREATE TABLE releases (
    id           uuid PRIMARY KEY,
    version      bigint      NOT NULL CHECK (version > 0),
    snapshot     jsonb       NOT NULL,
    needs_review boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- External ids, for merging upstream rows into releases. One id of one source belongs
-- to at most one release.
CREATE TABLE release_external_ids (
    source     text NOT NULL,
    value      text NOT NULL,
    release_id uuid NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    PRIMARY KEY (source, value)
);
CREATE INDEX release_external_ids_release ON release_external_ids (release_id);

-- Every upstream row (a title in one translation) merged into a release, normalised.
CREATE TABLE upstream_materials (
    material_id    text PRIMARY KEY,
    release_id     uuid        NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    translation_id bigint      NOT NULL,
    content        jsonb       NOT NULL,
    imported_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upstream_materials_release ON upstream_materials (release_id);

-- The video sources of one translation of a release: the snapshot last published as
-- `release.sources_upserted`.
CREATE TABLE release_sources (
    release_id     uuid   NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    translation_id bigint NOT NULL,
    snapshot       jsonb  NOT NULL,
    PRIMARY KEY (release_id, translation_id)
);

CREATE TABLE imports (
    id           uuid PRIMARY KEY,
    version      bigint      NOT NULL CHECK (version > 0),
    source       text        NOT NULL,
    mode         text        NOT NULL,
    state        text        NOT NULL,
    filters      jsonb       NOT NULL DEFAULT '{}',
    since        timestamptz,
    counters     jsonb       NOT NULL,
    failures     jsonb       NOT NULL DEFAULT '[]',
    error        text,
    checkpoint   timestamptz,
    requested_by uuid,
    requested_at timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz
);

-- Commands that arrive over Kafka (at least once) are applied once: the id is
-- recorded in the transaction that applies the command.
CREATE TABLE processed_commands (
    command_id   uuid PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
