-- Sessions: refresh tokens, grouped in families. A login starts a family; every
-- refresh rotates the token within it. Only the SHA-256 of a token is stored, so a
-- leaked table cannot be replayed.

CREATE TABLE refresh_tokens (
    token_hash  bytea       PRIMARY KEY,
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id),
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    -- Set when the token was exchanged for its successor; presenting it again is reuse.
    rotated_at  timestamptz,
    -- Set when the whole family was revoked (logout, reuse, password change).
    revoked_at  timestamptz
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_active ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
