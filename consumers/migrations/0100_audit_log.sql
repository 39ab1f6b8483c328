-- Read model: the audit trail of moderator and administrator commands, for
-- GET /v1/admin/audit. Entries are immutable; audit_id (UUIDv7) orders them by time
-- and is the keyset of the pagination.

CREATE TABLE audit_log (
    audit_id    uuid        PRIMARY KEY,
    actor_id    uuid,
    actor_role  text,
    action      text        NOT NULL,
    target      text        NOT NULL,
    request_id  text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    projected_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_actor ON audit_log (actor_id, audit_id);
CREATE INDEX audit_log_action ON audit_log (action, audit_id);
CREATE INDEX audit_log_target ON audit_log (target, audit_id);
CREATE INDEX audit_log_recorded_at ON audit_log (recorded_at);
