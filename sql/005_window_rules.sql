-- cipulse schema, version 5: the window rules (regression, slow_build; issue 10).
--
-- The runs of a window and their figures are defined once, here, and used by both the metrics API
-- (collector/api/pipeline_metrics.c selects FROM cipulse_window_runs) and the alert rules, so a
-- rule and GET /api/v1/metrics give the same number for the same window (DESIGN.md "Metrics").

-- The runs of a window: the latest attempt of each run whose completion falls in [p_from, p_to),
-- in a scope (NULL matches all). Plain SQL, inlined by the planner into the caller's query.
CREATE FUNCTION cipulse_window_runs(p_from timestamptz, p_to timestamptz, p_repo bigint,
                                    p_wf bigint, p_branch text)
    RETURNS SETOF workflow_runs
    LANGUAGE sql STABLE AS $$
    SELECT w.* FROM workflow_runs w
     WHERE w.is_latest AND w.completed_at >= p_from AND w.completed_at < p_to
       AND (p_repo IS NULL OR w.repo_id = p_repo)
       AND (p_wf IS NULL OR w.workflow_id = p_wf)
       AND (p_branch IS NULL OR w.head_branch = p_branch)
$$;

-- The figures the window rules read, as the metrics API defines them: success rate =
-- success / (success + failure + timed_out) (NULL without such runs); average and p95 (linear
-- interpolation, like api_percentile) of the attempts' durations.
CREATE FUNCTION cipulse_window_figures(p_from timestamptz, p_to timestamptz, p_repo bigint,
                                       p_wf bigint, p_branch text,
                                       OUT decided bigint, OUT success_rate double precision,
                                       OUT timed bigint, OUT avg_duration_s double precision,
                                       OUT p95_duration_s double precision)
    LANGUAGE sql STABLE AS $$
    SELECT count(*) FILTER (WHERE w.conclusion IN ('success', 'failure', 'timed_out')),
           (count(*) FILTER (WHERE w.conclusion = 'success'))::double precision
               / NULLIF(count(*) FILTER (WHERE w.conclusion IN ('success', 'failure',
                                                                'timed_out')), 0),
           count(w.duration_s),
           avg(w.duration_s::double precision),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY w.duration_s::double precision)
      FROM cipulse_window_runs(p_from, p_to, p_repo, p_wf, p_branch) w
$$;

-- Evaluates one regression or slow_build rule for one (repository, workflow, branch) over the
-- window that ends now; opens, updates or resolves its alert. r: the latest run of that scope (the
-- run named by the alert). Returns the number of messages queued.
--
-- regression: success rate below params.threshold (0..1) with at least params.min_runs (1)
-- decided runs. slow_build: params.stat ('avg', default, or 'p95') of the durations above
-- params.threshold seconds with at least params.min_runs (1) timed runs. Window: params.window_s
-- (86400). Resolves when the condition no longer holds (also when the window has slid past).
CREATE FUNCTION cipulse_alert_window_check(p_rule bigint, p_kind text, p_severity text,
                                           p_params jsonb, p_chans bigint[], p_key text,
                                           p_repo bigint, p_wf bigint, p_branch text,
                                           r workflow_runs, p_page boolean) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    win    double precision := COALESCE((p_params ->> 'window_s')::double precision, 86400);
    thr    double precision := (p_params ->> 'threshold')::double precision;
    minr   bigint := COALESCE((p_params ->> 'min_runs')::bigint, 1);
    stat   text := COALESCE(p_params ->> 'stat', 'avg');
    -- Whole seconds, as the metrics API takes from/to, so the figure can be checked there.
    t_to   timestamptz := date_trunc('second', now());
    t_from timestamptz := date_trunc('second', now()) - make_interval(secs => win);
    f      record;
    val    double precision;
    hit    boolean;
    n      integer;
    what   text;
BEGIN
    SELECT * INTO f FROM cipulse_window_figures(t_from, t_to, p_repo, p_wf, p_branch);
    IF p_kind = 'regression' THEN
        val := f.success_rate;
        hit := f.decided >= minr AND val < thr;
        what := 'success rate ' || round((val * 100)::numeric, 1) || '%';
    ELSE
        val := CASE WHEN stat = 'p95' THEN f.p95_duration_s ELSE f.avg_duration_s END;
        hit := f.timed >= minr AND val > thr;
        what := stat || ' duration ' || round(val::numeric, 1) || ' s';
    END IF;
    IF NOT COALESCE(hit, false) THEN
        RETURN cipulse_alert_clear(p_key, r, p_page);
    END IF;
    n := cipulse_alert_fire(p_rule, p_kind, p_severity, p_params, p_chans, p_key, r, p_page,
        COALESCE(r.name, 'workflow') || ' ' || what || ' on ' || COALESCE(p_branch, '?')
            || ' over ' || win || ' s (threshold ' || thr || ')');
    UPDATE alerts SET details = details || jsonb_build_object(
               'value', val, 'threshold', thr, 'stat', CASE WHEN p_kind = 'slow_build'
               THEN stat END, 'runs', CASE WHEN p_kind = 'regression' THEN f.decided
               ELSE f.timed END, 'from', to_char(t_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'to', to_char(t_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
     WHERE condition_key = p_key AND state = 'open';
    RETURN n;
END $$;

-- The window rules matching a scope, with their condition keys.
CREATE FUNCTION cipulse_window_rules(p_repo bigint, p_wf bigint, p_branch text)
    RETURNS TABLE (id bigint, kind text, severity text, params jsonb, channel_ids bigint[],
                   key text)
    LANGUAGE sql STABLE AS $$
    SELECT a.id, a.kind, a.severity, a.params, a.channel_ids,
           a.kind || ':' || a.id || ':' || p_repo || ':'
               || COALESCE((SELECT COALESCE(w.path, w.id::text) FROM workflows w
                             WHERE w.repo_id = p_repo AND w.id = p_wf), p_wf::text, '0')
               || ':' || COALESCE(p_branch, '')
      FROM alert_rules a
     WHERE a.enabled AND a.kind IN ('regression', 'slow_build')
       AND (a.repo_id IS NULL OR a.repo_id = p_repo)
       AND (a.workflow_id IS NULL OR a.workflow_id = p_wf)
       AND (a.branch IS NULL OR a.branch = p_branch
            OR (a.branch = '@default' AND p_branch =
                (SELECT default_branch FROM repositories WHERE id = p_repo)))
     -- One order everywhere (writer and sweep): alert rows are locked in the same order.
     ORDER BY a.id
$$;

-- Evaluates the window rules of one (repository, workflow, branch); returns the messages queued.
CREATE FUNCTION cipulse_alert_window_eval(p_repo bigint, p_wf bigint, p_branch text,
                                          r workflow_runs, p_page boolean) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    rule   record;
    queued integer := 0;
BEGIN
    FOR rule IN SELECT * FROM cipulse_window_rules(p_repo, p_wf, p_branch) LOOP
        queued := queued + cipulse_alert_window_check(rule.id, rule.kind, rule.severity,
            rule.params, rule.channel_ids, rule.key, p_repo, p_wf, p_branch, r, p_page);
    END LOOP;
    RETURN queued;
END $$;

-- The periodic sweep (collector/alert/engine.c, one ticker per collector): re-evaluates the
-- window rules for every scope with runs in a rule's window or an open window alert, so alerts
-- also open and resolve as the window slides. The transaction's advisory lock makes one
-- collector of several sweep at a time; the others return -1.
CREATE FUNCTION cipulse_alert_sweep() RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    s      record;
    r      workflow_runs;
    queued integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7263105824) THEN
        RETURN -1;
    END IF;
    FOR s IN
        SELECT DISTINCT w.repo_id, w.workflow_id, w.head_branch
          FROM alert_rules a
          JOIN workflow_runs w ON w.is_latest AND w.completed_at >= now() - make_interval(
                   secs => COALESCE((a.params ->> 'window_s')::double precision, 86400))
                AND (a.repo_id IS NULL OR w.repo_id = a.repo_id)
                AND (a.workflow_id IS NULL OR w.workflow_id = a.workflow_id)
         WHERE a.enabled AND a.kind IN ('regression', 'slow_build')
        UNION
        SELECT al.repo_id, al.workflow_id, al.branch FROM alerts al
         WHERE al.state = 'open' AND al.kind IN ('regression', 'slow_build')
    LOOP
        SELECT * INTO r FROM workflow_runs x
         WHERE x.repo_id = s.repo_id AND x.workflow_id IS NOT DISTINCT FROM s.workflow_id
           AND x.head_branch IS NOT DISTINCT FROM s.head_branch AND x.is_latest
           AND x.completed_at IS NOT NULL
         ORDER BY x.completed_at DESC LIMIT 1;
        queued := queued + cipulse_alert_window_eval(s.repo_id, s.workflow_id, s.head_branch,
                                                     r, true);
    END LOOP;
    RETURN queued;
END $$;

-- cipulse_alert_eval of version 4, with the window rules evaluated for the run's scope.
ALTER FUNCTION cipulse_alert_eval(bigint, bigint, integer, double precision)
    RENAME TO cipulse_alert_eval_v4;
CREATE FUNCTION cipulse_alert_eval(p_repo bigint, p_run bigint, p_attempt integer,
                                   p_max_age_s double precision) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    r      workflow_runs;
    queued integer;
BEGIN
    queued := cipulse_alert_eval_v4(p_repo, p_run, p_attempt, p_max_age_s);
    SELECT * INTO r FROM workflow_runs
     WHERE repo_id = p_repo AND run_id = p_run AND run_attempt = p_attempt;
    IF NOT FOUND OR r.status IS DISTINCT FROM 'completed' OR NOT r.is_latest
       OR r.completed_at IS NULL THEN
        RETURN queued;
    END IF;
    RETURN queued + cipulse_alert_window_eval(p_repo, r.workflow_id, r.head_branch, r,
        r.completed_at >= now() - make_interval(secs => p_max_age_s));
END $$;
