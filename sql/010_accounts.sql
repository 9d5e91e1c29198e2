-- cipulse schema, version 10: accounts and access (issue 12: local users, sessions, roles,
-- personal API tokens, audit log). store/auth.c holds the one policy that reads these tables.
--
--   users          people who sign in: local accounts (argon2id password hash) and, later,
--                  GitHub sign-in (github_id / github_login); role viewer | maintainer | admin
--   sessions       server-side sessions of the dashboard (cookie cipulse_session): only the
--                  SHA-256 of the session id is stored; idle expiry (last_seen_at) and absolute
--                  expiry (expires_at); revoked at sign-out
--   api_tokens     grows personal tokens (kind 'personal'): owner, scope read | write, name,
--                  expiry
--   audit_log      every change made through the API by a maintainer or an admin

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    display_name  text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('viewer', 'maintainer', 'admin')),
    -- argon2id encoded hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash); NULL: no password
    -- (a GitHub-only account)
    password_hash text,
    github_id     bigint UNIQUE,
    github_login  text,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);

CREATE TABLE sessions (
    id            bigserial PRIMARY KEY,
    id_hash       text NOT NULL UNIQUE,     -- SHA-256 hex of the cookie's value
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,            -- X-CSRF-Token of cookie-authenticated writes
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,     -- absolute expiry
    revoked_at    timestamptz,
    remote_addr   text,
    user_agent    text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_kind_check;
ALTER TABLE api_tokens
    ADD CONSTRAINT api_tokens_kind_check CHECK (kind IN ('ingest', 'admin', 'read', 'personal')),
    ADD COLUMN owner_id   bigint REFERENCES users(id) ON DELETE CASCADE,
    ADD COLUMN scope      text CHECK (scope IN ('read', 'write')),
    ADD COLUMN name       text,
    ADD COLUMN expires_at timestamptz,
    -- A personal token belongs to a user and has a scope; the other kinds have neither.
    ADD CONSTRAINT api_tokens_personal_check
        CHECK ((kind = 'personal') = (owner_id IS NOT NULL AND scope IS NOT NULL));
CREATE INDEX api_tokens_owner_idx ON api_tokens (owner_id) WHERE owner_id IS NOT NULL;

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    -- who: a username, "token:<id>" for a personal or stored token, "admin-token" for
    -- CIPULSE_ADMIN_TOKEN
    actor       text NOT NULL,
    actor_kind  text NOT NULL CHECK (actor_kind IN ('user', 'token', 'config_token')),
    action      text NOT NULL,              -- e.g. silence.create, user.update
    target      text NOT NULL DEFAULT '',
    before      jsonb,                      -- secrets redacted
    after       jsonb,
    remote_addr text
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at DESC);
