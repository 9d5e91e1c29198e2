-- cipulse schema, version 4: the alert engine (collector/alert/, issue 10).
--
-- Evaluation of the `failure` rule happens inside the writer's own transaction: the store appends
-- `SELECT cipulse_alert_eval(...)` to the transaction of every report that describes a completed
-- run, whoever sent it (agent, webhook, poller, backfill). The alert row and its outbox rows are
-- therefore committed together with the run, or not at all, and several collectors agree through
-- the unique open-alert index (alerts_open_idx): the same failure arriving from three sources, or
-- at two collectors at once, opens one alert and queues one message per channel.
--
-- The outbox (notifications) is drained by the collectors' senders: a committed insert wakes them
-- through NOTIFY cipulse_outbox; each message is claimed with FOR UPDATE SKIP LOCKED and a lease
-- (leased_until), so a collector that dies mid-send hands it on when the lease ends. Messages of
-- one channel go out one at a time in the order they were queued (an open before its resolve).

ALTER TABLE repositories ADD COLUMN default_branch text;

-- First line of the head commit's message (webhook and API head_commit.message).
ALTER TABLE workflow_runs ADD COLUMN head_message text;

ALTER TABLE notification_channels
    -- Per-channel secret of generic webhooks (X-Cipulse-Signature-256); never returned.
    ADD COLUMN secret text,
    -- 'env': created from the collector's settings at start-up (CIPULSE_SLACK_WEBHOOK_URL, ...);
    -- these are the channels of the default rule.
    ADD COLUMN origin text NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'env'));

ALTER TABLE alert_rules
    ADD COLUMN severity text NOT NULL DEFAULT 'critical'
        CHECK (severity IN ('critical', 'warning', 'info'));

ALTER TABLE alerts
    ADD COLUMN severity text NOT NULL DEFAULT 'critical',
    -- Runs that kept the condition true while open (1: the run that opened it).
    ADD COLUMN run_count integer NOT NULL DEFAULT 1,
    ADD COLUMN last_run_id bigint,
    ADD COLUMN last_run_attempt integer,
    -- The run that resolved it.
    ADD COLUMN resolved_run_id bigint,
    ADD COLUMN resolved_run_attempt integer,
    -- When a message about it was last queued; NULL: nobody was told (history, no channel).
    ADD COLUMN notified_at timestamptz,
    ADD COLUMN acked_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Silences (POST /api/v1/silences): alerts in scope still open and resolve, but their messages
-- are queued as 'silenced' (kept for the record, never sent) while the silence lasts.
CREATE TABLE silences (
    id          bigserial PRIMARY KEY,
    -- Scope: NULL matches everything.
    repo_id     bigint REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    workflow_id bigint,
    branch      text,
    kind        text CHECK (kind IN ('failure', 'flapping', 'regression', 'slow_build')),
    until       timestamptz NOT NULL,
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX silences_until_idx ON silences (until);

ALTER TABLE notifications DROP CONSTRAINT notifications_state_check;
ALTER TABLE notifications
    ADD CONSTRAINT notifications_state_check
        CHECK (state IN ('pending', 'sent', 'failed', 'silenced')),
    ADD COLUMN event text NOT NULL DEFAULT 'open'
        CHECK (event IN ('open', 'repeat', 'resolve', 'test')),
    -- A sender is delivering it until then (a sender that died hands it on afterwards).
    ADD COLUMN leased_until timestamptz,
    -- HTTP status (or SMTP reply code) of the last attempt.
    ADD COLUMN last_status integer;
-- One open and one resolve message per alert and channel, whatever happens.
CREATE UNIQUE INDEX notifications_once_idx ON notifications (alert_id, channel_id, event)
    WHERE event IN ('open', 'resolve');
-- The head of each channel's queue.
CREATE INDEX notifications_channel_idx ON notifications (channel_id, id) WHERE state = 'pending';
CREATE INDEX notifications_alert_idx ON notifications (alert_id);

CREATE FUNCTION cipulse_outbox_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cipulse_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER notifications_notify AFTER INSERT ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_outbox_notify();

-- Queues one message per enabled channel of `chans` (returns how many will be sent). Under a
-- silence the rows are written as 'silenced' and the alert counts as not notified.
CREATE FUNCTION cipulse_alert_queue(p_alert bigint, p_event text, p_chans bigint[],
                                    p_run_id bigint, p_run_attempt integer) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    n      integer;
    hushed boolean;
BEGIN
    SELECT EXISTS (SELECT 1 FROM silences s JOIN alerts a ON a.id = p_alert
                    WHERE s.until > now() AND (s.repo_id IS NULL OR s.repo_id = a.repo_id)
                      AND (s.workflow_id IS NULL OR s.workflow_id = a.workflow_id)
                      AND (s.branch IS NULL OR s.branch = a.branch)
                      AND (s.kind IS NULL OR s.kind = a.kind))
      INTO hushed;
    INSERT INTO notifications (alert_id, channel_id, event, payload, state)
    SELECT p_alert, c.id, p_event,
           jsonb_build_object('event', p_event, 'run_id', p_run_id, 'run_attempt', p_run_attempt),
           CASE WHEN hushed THEN 'silenced' ELSE 'pending' END
      FROM notification_channels c
     WHERE c.id = ANY (p_chans) AND c.enabled
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 AND NOT hushed THEN
        UPDATE alerts SET notified_at = now() WHERE id = p_alert;
    END IF;
    RETURN CASE WHEN hushed THEN 0 ELSE n END;
END $$;

-- Opens the alert of condition p_key with run r, or counts r on the open one. Queues the open
-- message when it opens (and p_page), or a reminder when repeat_interval_s has passed. Returns
-- the number of messages queued.
CREATE FUNCTION cipulse_alert_fire(p_rule bigint, p_kind text, p_severity text, p_params jsonb,
                                   p_chans bigint[], p_key text, r workflow_runs,
                                   p_page boolean, p_summary text) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    a_id   bigint;
    a_new  boolean;
    a_told timestamptz;
    rep    double precision;
BEGIN
    INSERT INTO alerts AS a (rule_id, kind, severity, repo_id, workflow_id, branch, run_id,
                             run_attempt, last_run_id, last_run_attempt, condition_key, summary,
                             details)
    VALUES (p_rule, p_kind, p_severity, r.repo_id, r.workflow_id, r.head_branch, r.run_id,
            r.run_attempt, r.run_id, r.run_attempt, p_key, p_summary,
            jsonb_build_object('conclusion', r.conclusion, 'head_sha', r.head_sha,
                               'html_url', r.html_url))
    ON CONFLICT (condition_key) WHERE state = 'open' DO UPDATE SET
        run_count = a.run_count + CASE WHEN a.last_run_id = EXCLUDED.last_run_id
            AND a.last_run_attempt = EXCLUDED.last_run_attempt THEN 0 ELSE 1 END,
        last_run_id = EXCLUDED.last_run_id, last_run_attempt = EXCLUDED.last_run_attempt,
        workflow_id = EXCLUDED.workflow_id, updated_at = now()
    RETURNING a.id, (a.xmax = 0), a.notified_at INTO a_id, a_new, a_told;
    IF NOT p_page THEN
        RETURN 0;
    ELSIF a_new THEN
        RETURN cipulse_alert_queue(a_id, 'open', p_chans, r.run_id, r.run_attempt);
    ELSIF jsonb_typeof(p_params -> 'repeat_interval_s') = 'number' THEN
        -- Alertmanager's repeat_interval: remind while it stays broken.
        rep := (p_params ->> 'repeat_interval_s')::double precision;
        IF a_told IS NULL OR a_told < now() - make_interval(secs => rep) THEN
            RETURN cipulse_alert_queue(a_id, 'repeat', p_chans, r.run_id, r.run_attempt);
        END IF;
    END IF;
    RETURN 0;
END $$;

-- Resolves the open alert of condition p_key with run r; only the channels that were told it
-- broke are told it is fixed. Returns the number of messages queued.
CREATE FUNCTION cipulse_alert_clear(p_key text, r workflow_runs, p_page boolean)
    RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    a_id   bigint;
    a_told timestamptz;
BEGIN
    UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_run_id = r.run_id,
           resolved_run_attempt = r.run_attempt, updated_at = now()
     WHERE condition_key = p_key AND state = 'open'
    RETURNING id, notified_at INTO a_id, a_told;
    IF NOT FOUND OR NOT p_page OR a_told IS NULL THEN
        RETURN 0;
    END IF;
    RETURN cipulse_alert_queue(a_id, 'resolve',
        ARRAY(SELECT n.channel_id FROM notifications n
               WHERE n.alert_id = a_id AND n.event IN ('open', 'repeat')
                 AND n.state <> 'silenced'),
        r.run_id, r.run_attempt);
END $$;

-- Evaluates the `failure` and `flapping` rules for one run attempt that completed; returns the
-- number of messages queued. Rules match by scope (NULL matches all; branch '@default' is the
-- repository's default branch). When no rule exists at all, the default rule applies: failure on
-- the default branch, to every channel configured from the environment. Runs that completed more
-- than p_max_age_s seconds ago update alert state but queue nothing ("history does not page").
--
-- failure: the run concluded failure or timed_out (params.conclusions) -> open; success -> resolve.
-- flapping: at least params.failures failures among the last params.runs decided runs, or within
-- params.minutes before this run (10 runs when neither is given) -> open; resolves when that no
-- longer holds and this run succeeded.
CREATE FUNCTION cipulse_alert_eval(p_repo bigint, p_run bigint, p_attempt integer,
                                   p_max_age_s double precision) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    r      workflow_runs;
    def    text;
    rule   record;
    key    text;
    page   boolean;
    bad    text[];
    queued integer := 0;
    wf_key text;
    need   integer;
    nruns  integer;
    mins   double precision;
    f_runs integer;
    f_mins integer;
BEGIN
    SELECT * INTO r FROM workflow_runs
     WHERE repo_id = p_repo AND run_id = p_run AND run_attempt = p_attempt;
    IF NOT FOUND OR r.status IS DISTINCT FROM 'completed' OR NOT r.is_latest
       OR r.conclusion IS NULL OR r.completed_at IS NULL THEN
        RETURN 0;
    END IF;
    -- A later run of the same workflow and branch has decided already: this one is history for
    -- alert state (a late delivery, a backfill of older runs).
    IF EXISTS (SELECT 1 FROM workflow_runs x
                WHERE x.repo_id = p_repo AND x.workflow_id IS NOT DISTINCT FROM r.workflow_id
                  AND x.head_branch IS NOT DISTINCT FROM r.head_branch AND x.is_latest
                  AND x.completed_at > r.completed_at
                  AND x.conclusion IN ('success', 'failure', 'timed_out')) THEN
        RETURN 0;
    END IF;
    SELECT default_branch INTO def FROM repositories WHERE id = p_repo;
    -- The workflow by path where known: an agent knows the path before anyone knows GitHub's
    -- workflow id (a provisional id, replaced later), and both must name the same condition.
    SELECT COALESCE(w.path, w.id::text) INTO wf_key FROM workflows w
     WHERE w.repo_id = p_repo AND w.id = r.workflow_id;
    wf_key := COALESCE(wf_key, r.workflow_id::text, '0');
    page := r.completed_at >= now() - make_interval(secs => p_max_age_s);
    FOR rule IN
        SELECT a.id, a.kind, a.severity, a.params, a.channel_ids
          FROM alert_rules a
         WHERE a.enabled AND a.kind IN ('failure', 'flapping')
           AND (a.repo_id IS NULL OR a.repo_id = p_repo)
           AND (a.workflow_id IS NULL OR a.workflow_id = r.workflow_id)
           AND (a.branch IS NULL OR a.branch = r.head_branch
                OR (a.branch = '@default' AND r.head_branch = def))
        UNION ALL
        SELECT NULL::bigint, 'failure', 'critical', '{}'::jsonb,
               ARRAY(SELECT c.id FROM notification_channels c WHERE c.origin = 'env' ORDER BY c.id)
         WHERE NOT EXISTS (SELECT 1 FROM alert_rules) AND r.head_branch = def
    LOOP
        key := rule.kind || ':' || COALESCE(rule.id::text, 'default') || ':' || p_repo || ':'
               || wf_key || ':' || COALESCE(r.head_branch, '');
        IF rule.kind = 'failure' THEN
            IF jsonb_typeof(rule.params -> 'conclusions') = 'array' THEN
                bad := ARRAY(SELECT jsonb_array_elements_text(rule.params -> 'conclusions'));
            ELSE
                bad := ARRAY['failure', 'timed_out'];
            END IF;
            IF r.conclusion = ANY (bad) THEN
                queued := queued + cipulse_alert_fire(rule.id, 'failure', rule.severity,
                    rule.params, rule.channel_ids, key, r, page,
                    COALESCE(r.name, 'workflow') || ' ' || r.conclusion || ' on '
                        || COALESCE(r.head_branch, '?'));
            ELSIF r.conclusion = 'success' THEN
                queued := queued + cipulse_alert_clear(key, r, page);
            END IF;
            CONTINUE;
        END IF;
        -- flapping
        need := (rule.params ->> 'failures')::integer;
        nruns := (rule.params ->> 'runs')::integer;
        mins := (rule.params ->> 'minutes')::double precision;
        IF nruns IS NULL AND mins IS NULL THEN
            nruns := 10;
        END IF;
        SELECT count(*) FILTER (WHERE d.conclusion IN ('failure', 'timed_out')) INTO f_runs
          FROM (SELECT x.conclusion FROM workflow_runs x
                 WHERE x.repo_id = p_repo AND x.workflow_id IS NOT DISTINCT FROM r.workflow_id
                   AND x.head_branch IS NOT DISTINCT FROM r.head_branch AND x.is_latest
                   AND x.completed_at <= r.completed_at
                   AND x.conclusion IN ('success', 'failure', 'timed_out')
                 ORDER BY x.completed_at DESC LIMIT COALESCE(nruns, 0)) d;
        SELECT count(*) INTO f_mins FROM workflow_runs x
         WHERE mins IS NOT NULL AND x.repo_id = p_repo
           AND x.workflow_id IS NOT DISTINCT FROM r.workflow_id
           AND x.head_branch IS NOT DISTINCT FROM r.head_branch AND x.is_latest
           AND x.completed_at <= r.completed_at
           AND x.completed_at > r.completed_at - make_interval(secs => mins * 60)
           AND x.conclusion IN ('failure', 'timed_out');
        IF f_runs >= need OR f_mins >= need THEN
            queued := queued + cipulse_alert_fire(rule.id, 'flapping', rule.severity, rule.params,
                rule.channel_ids, key, r, page,
                COALESCE(r.name, 'workflow') || ' flapping on ' || COALESCE(r.head_branch, '?')
                    || ': ' || GREATEST(f_runs, f_mins) || ' failures');
        ELSIF r.conclusion = 'success' THEN
            queued := queued + cipulse_alert_clear(key, r, page);
        END IF;
    END LOOP;
    RETURN queued;
END $$;
