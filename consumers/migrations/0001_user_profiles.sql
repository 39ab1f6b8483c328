-- Read model: public user profiles, as the query API serves them.
-- `version` is the user aggregate's version of the newest event applied; older or
-- repeated events are ignored by comparing against it.

CREATE TABLE user_profiles (
    user_id       uuid PRIMARY KEY,
    username      text        NOT NULL,
    role          text        NOT NULL,
    registered_at timestamptz NOT NULL,
    version       bigint      NOT NULL,
    projected_at  timestamptz NOT NULL DEFAULT now()
);
