-- Read model of the catalogue, shaped for the query API: one row per release for
-- lists and details, its episodes with numeric ordering, and its video sources
-- grouped by translation. Every row keeps the release's aggregate version of the
-- newest event applied to it; the catalog-projector ignores anything not newer.

CREATE TABLE releases (
    release_id        uuid PRIMARY KEY,
    version           bigint      NOT NULL,
    -- A deleted release stays as a tombstone so that a late, older upsert cannot
    -- bring it back; every query filters on it.
    deleted           boolean     NOT NULL DEFAULT false,
    kind              text        NOT NULL DEFAULT 'tv',
    status            text        NOT NULL DEFAULT 'announced',
    main_title        text        NOT NULL DEFAULT '',
    titles            jsonb       NOT NULL DEFAULT '[]',
    external_ids      jsonb       NOT NULL DEFAULT '{}',
    year              integer,
    airing_year       integer,
    airing_season     text,
    genres            text[]      NOT NULL DEFAULT '{}',
    age_rating        text,
    description       text,
    poster_url        text,
    episodes_total    integer,
    episodes_aired    integer,
    next_episode_at   timestamptz,
    score             double precision,
    popularity        bigint,
    translations      jsonb       NOT NULL DEFAULT '[]',
    translation_kinds text[]      NOT NULL DEFAULT '{}',
    teams             text[]      NOT NULL DEFAULT '{}',
    needs_review      boolean     NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    projected_at      timestamptz NOT NULL DEFAULT now(),
    -- Sort keys without NULLs, so keyset pagination compares plain values; unknown
    -- values sort as the lowest.
    sort_popularity   bigint GENERATED ALWAYS AS (coalesce(popularity, -1)) STORED,
    sort_score        double precision GENERATED ALWAYS AS (coalesce(score, -1)) STORED,
    sort_year         integer GENERATED ALWAYS AS (coalesce(year, 0)) STORED,
    sort_title        text GENERATED ALWAYS AS (lower(main_title)) STORED
);

CREATE INDEX releases_popularity ON releases (sort_popularity, release_id) WHERE NOT deleted;
CREATE INDEX releases_score ON releases (sort_score, release_id) WHERE NOT deleted;
CREATE INDEX releases_year ON releases (sort_year, release_id) WHERE NOT deleted;
CREATE INDEX releases_updated ON releases (updated_at, release_id) WHERE NOT deleted;
CREATE INDEX releases_title ON releases (sort_title COLLATE "C", release_id) WHERE NOT deleted;
CREATE INDEX releases_genres ON releases USING gin (genres) WHERE NOT deleted;
CREATE INDEX releases_teams ON releases USING gin (teams) WHERE NOT deleted;

-- Episodes of a release, replaced whole by each newer `release.upserted`. The number
-- is `numeric` so that 0 and 6.5 are kept and 10 sorts after 9; `number_text` keeps
-- the spelling the source used.
CREATE TABLE release_episodes (
    release_id  uuid    NOT NULL,
    season      integer NOT NULL,
    number      numeric NOT NULL,
    number_text text    NOT NULL,
    title       text,
    recap       boolean NOT NULL DEFAULT false,
    filler      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (release_id, season, number)
);

-- The video sources of one translation of a release, as the newest
-- `release.sources_upserted` (or `release.sources_removed`, which leaves `removed`)
-- described them. `version` is the release's aggregate version of that event.
CREATE TABLE release_sources (
    release_id        uuid    NOT NULL,
    translation_id    bigint  NOT NULL,
    version           bigint  NOT NULL,
    removed           boolean NOT NULL DEFAULT false,
    translation_title text    NOT NULL DEFAULT '',
    translation_kind  text    NOT NULL DEFAULT 'voice',
    team              text,
    quality           text,
    camrip            boolean NOT NULL DEFAULT false,
    blocked_countries text[]  NOT NULL DEFAULT '{}',
    blocked_seasons   jsonb   NOT NULL DEFAULT '[]',
    sources           jsonb   NOT NULL DEFAULT '[]',
    PRIMARY KEY (release_id, translation_id)
);
