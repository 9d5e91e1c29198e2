-- cipulse schema, version 1.
--
-- Keys are GitHub's own ids, so agent reports, webhooks and the poller describe the same rows and
-- merge by upsert. Every table that holds pipeline data carries repo_id in its key, so that the
-- schema can be distributed by repository (Citus) without a redesign.
-- Times are timestamptz (UTC); NULL means "not known".

-- Order of job, step and run states: status only ever moves forward (a late in_progress event
-- after completed does not reopen anything).
CREATE FUNCTION cipulse_status_rank(s text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE s WHEN 'completed' THEN 3 WHEN 'in_progress' THEN 2 WHEN NULL THEN 0 ELSE 1 END $$;

CREATE TABLE repositories (
    -- GitHub's repository id. A repository registered by name before any data arrived gets a
    -- provisional negative id, replaced by the real one (ON UPDATE CASCADE) when it is learnt.
    id              bigint PRIMARY KEY,
    full_name       text NOT NULL UNIQUE,
    server_url      text NOT NULL DEFAULT 'https://github.com',
    -- Webhook secret for X-Hub-Signature-256 (HMAC needs the secret itself, so it is stored as is;
    -- it is never returned by the API after registration).
    webhook_secret  text,
    -- Per-repository GitHub token for the poller (optional; never returned by the API).
    github_token    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE repositories_provisional_id_seq;

CREATE TABLE workflows (
    repo_id     bigint NOT NULL REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    -- GitHub's workflow id when known; otherwise a stable negative id derived from the path.
    id          bigint NOT NULL,
    name        text,
    path        text,
    state       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, id)
);
CREATE UNIQUE INDEX workflows_path_idx ON workflows (repo_id, path) WHERE path IS NOT NULL;

-- One row per run attempt: re-runs keep the run id and bump run_attempt.
CREATE TABLE workflow_runs (
    repo_id         bigint NOT NULL REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    run_id          bigint NOT NULL,
    run_attempt     integer NOT NULL CHECK (run_attempt >= 1),
    workflow_id     bigint,
    run_number      bigint,
    name            text,
    event           text,
    status          text,
    conclusion      text,
    head_branch     text,
    head_sha        text,
    actor           text,
    html_url        text,
    created_at      timestamptz,
    run_started_at  timestamptz,
    updated_at      timestamptz,
    -- When the attempt concluded (set when status becomes completed; the window key of metrics).
    completed_at    timestamptz,
    -- Which sources have described this attempt: 'agent', 'webhook', 'poller'.
    sources         text[] NOT NULL DEFAULT '{}',
    inserted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, run_id, run_attempt)
);
CREATE INDEX workflow_runs_run_idx ON workflow_runs (run_id, run_attempt);
CREATE INDEX workflow_runs_completed_idx ON workflow_runs (repo_id, workflow_id, completed_at);
CREATE INDEX workflow_runs_created_idx ON workflow_runs (repo_id, created_at DESC, run_id DESC);

CREATE TABLE jobs (
    repo_id       bigint NOT NULL,
    job_id        bigint NOT NULL,
    run_id        bigint NOT NULL,
    run_attempt   integer NOT NULL,
    name          text,
    status        text,
    conclusion    text,
    created_at    timestamptz,
    started_at    timestamptz,
    completed_at  timestamptz,
    runner_name   text,
    runner_os     text,
    runner_arch   text,
    labels        text[],
    html_url      text,
    sources       text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (repo_id, job_id),
    FOREIGN KEY (repo_id, run_id, run_attempt)
        REFERENCES workflow_runs (repo_id, run_id, run_attempt) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX jobs_run_idx ON jobs (repo_id, run_id, run_attempt);
CREATE INDEX jobs_job_idx ON jobs (job_id);

CREATE TABLE steps (
    repo_id       bigint NOT NULL,
    job_id        bigint NOT NULL,
    number        integer NOT NULL,
    name          text,
    status        text,
    conclusion    text,
    started_at    timestamptz,
    completed_at  timestamptz,
    PRIMARY KEY (repo_id, job_id, number),
    FOREIGN KEY (repo_id, job_id) REFERENCES jobs (repo_id, job_id) ON UPDATE CASCADE ON DELETE CASCADE
);

-- Log tails: one row per job and step (step_number 0: the job as a whole).
CREATE TABLE logs (
    repo_id        bigint NOT NULL,
    job_id         bigint NOT NULL,
    step_number    integer NOT NULL DEFAULT 0,
    content        text NOT NULL,
    original_size  bigint,
    truncated      boolean NOT NULL DEFAULT false,
    exit_code      integer,
    source         text NOT NULL DEFAULT 'agent',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, job_id, step_number),
    FOREIGN KEY (repo_id, job_id) REFERENCES jobs (repo_id, job_id) ON UPDATE CASCADE ON DELETE CASCADE
);

-- Reports already stored, by the agent's report id (idempotency of retries and spool replays).
CREATE TABLE reports (
    report_id      text PRIMARY KEY,
    repo_id        bigint NOT NULL,
    run_id         bigint NOT NULL,
    run_attempt    integer NOT NULL,
    agent_version  text,
    mode           text,
    jobs           integer NOT NULL DEFAULT 0,
    steps          integer NOT NULL DEFAULT 0,
    logs           integer NOT NULL DEFAULT 0,
    received_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    delivery_id  text PRIMARY KEY,
    event        text NOT NULL,
    action       text,
    repo_id      bigint,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Ingest, admin and read tokens, stored as SHA-256 hex of the token (tokens are random, 238 bits).
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    token_hash   text NOT NULL UNIQUE,
    kind         text NOT NULL CHECK (kind IN ('ingest', 'admin', 'read')),
    repo_id      bigint REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE notification_channels (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('slack', 'email', 'teams', 'webhook')),
    -- Destination (webhook URL, e-mail addresses); secret: never returned by the API.
    target      text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_rules (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('failure', 'flapping', 'regression', 'slow_build')),
    -- Scope: NULL matches everything.
    repo_id         bigint REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    workflow_id     bigint,
    branch          text,
    -- Parameters by kind: failures/runs/minutes (flapping), threshold (regression: success rate
    -- 0..1; slow_build: seconds), window_s (regression, slow_build).
    params          jsonb NOT NULL DEFAULT '{}',
    channel_ids     bigint[] NOT NULL DEFAULT '{}',
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id            bigserial PRIMARY KEY,
    rule_id       bigint REFERENCES alert_rules(id) ON DELETE SET NULL,
    kind          text NOT NULL,
    repo_id       bigint NOT NULL REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    workflow_id   bigint,
    branch        text,
    run_id        bigint,
    run_attempt   integer,
    -- What the alert is about; one open alert per key (no storms).
    condition_key text NOT NULL,
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    summary       text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    opened_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz
);
CREATE UNIQUE INDEX alerts_open_idx ON alerts (condition_key) WHERE state = 'open';
CREATE INDEX alerts_repo_idx ON alerts (repo_id, opened_at DESC);

-- Outbox of deliveries: every notification is written here first and sent with retries.
CREATE TABLE notifications (
    id            bigserial PRIMARY KEY,
    alert_id      bigint REFERENCES alerts(id) ON DELETE CASCADE,
    channel_id    bigint NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    payload       jsonb NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE state = 'pending';

-- Poller state per repository and URL (ETags, resume points of backfills).
CREATE TABLE poller_state (
    repo_id      bigint NOT NULL REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    key          text NOT NULL,
    etag         text,
    value        text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, key)
);
