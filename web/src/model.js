// Normalises API objects into the shapes the pages use. The field names follow
// docs/openapi.yaml; the fallbacks keep the UI tolerant of optional fields and of
// the nesting differences between list and detail replies.
import { secondsBetween } from './lib/format.js';

const first = (...vals) => {
  for (const v of vals) if (v !== undefined && v !== null) return v;
  return null;
};

function repoName(x) {
  if (!x) return null;
  if (typeof x === 'string') return x;
  return first(x.full_name, x.name);
}

export function normRun(r) {
  if (!r) return null;
  const startedAt = first(r.run_started_at, r.started_at, r.created_at);
  const completedAt = first(r.completed_at);
  return {
    repo: first(repoName(r.repo), r.repo_full_name, repoName(r.repository), r.full_name),
    runId: first(r.run_id, r.id),
    attempt: first(r.run_attempt, r.attempt, 1),
    workflowId: first(r.workflow_id, r.workflow && r.workflow.id),
    workflowName: first(r.workflow_name, r.workflow && r.workflow.name, r.name),
    name: first(r.name, r.workflow_name),
    runNumber: first(r.run_number),
    event: first(r.event),
    status: first(r.status),
    conclusion: first(r.conclusion),
    branch: first(r.head_branch, r.branch),
    sha: first(r.head_sha, r.sha),
    actor: first(r.actor),
    htmlUrl: first(r.html_url),
    createdAt: first(r.created_at),
    startedAt,
    completedAt,
    updatedAt: first(r.updated_at),
    duration: first(r.duration_s, secondsBetween(startedAt, completedAt || (r.status === 'completed' ? r.updated_at : null))),
    queue: first(r.queue_s),
  };
}

export function normRepo(r) {
  const m = r.metrics || {};
  return {
    id: first(r.id, r.repo_id),
    fullName: repoName(r),
    serverUrl: first(r.server_url, 'https://github.com'),
    successRate: first(r.success_rate, m.success_rate),
    avgDuration: first(r.avg_duration_s, m.avg_duration_s),
    runs: first(r.runs, r.run_count, m.runs),
    byConclusion: first(r.by_conclusion, m.by_conclusion, {}),
    lastRun: normRun(r.last_run),
    // Let go by its GitHub App installation: history kept, no longer polled.
    retired: r.retired === true,
    retiredAt: first(r.retired_at, null),
  };
}

/**
 * The success rate of several repositories together, by the design's definition: success ÷
 * (success + failure + timed_out) over their runs; null when nothing counts.
 */
export function pooledSuccessRate(repos) {
  let ok = 0;
  let counted = 0;
  for (const r of repos) {
    const b = r.byConclusion || {};
    ok += b.success || 0;
    counted += (b.success || 0) + (b.failure || 0) + (b.timed_out || 0);
  }
  return counted ? ok / counted : null;
}

export function normWorkflow(w) {
  const m = w.metrics || {};
  return {
    id: first(w.id, w.workflow_id),
    name: first(w.name, w.path, `workflow ${w.id}`),
    path: first(w.path),
    state: first(w.state),
    successRate: first(w.success_rate, m.success_rate),
    avgDuration: first(w.avg_duration_s, m.avg_duration_s),
    p95Duration: first(w.p95_duration_s, m.p95_duration_s),
    runs: first(w.runs, w.run_count, m.runs),
    hasMetrics: [w.success_rate, m.success_rate, w.runs, m.runs, w.avg_duration_s, m.avg_duration_s].some((v) => v !== undefined),
    lastRun: normRun(w.last_run),
  };
}

export function normStep(s) {
  return {
    number: first(s.number, s.step_number),
    name: first(s.name, `Step ${s.number}`),
    status: first(s.status),
    conclusion: first(s.conclusion),
    startedAt: first(s.started_at),
    completedAt: first(s.completed_at),
  };
}

export function normJob(j) {
  return {
    id: first(j.job_id, j.id),
    name: first(j.name, `job ${j.job_id || j.id}`),
    status: first(j.status),
    conclusion: first(j.conclusion),
    createdAt: first(j.created_at),
    startedAt: first(j.started_at),
    completedAt: first(j.completed_at),
    runnerName: first(j.runner_name),
    runnerOs: first(j.runner_os),
    runnerArch: first(j.runner_arch),
    duration: first(j.duration_s, secondsBetween(j.started_at, j.completed_at)),
    queue: first(j.queue_s, secondsBetween(j.created_at, j.started_at)),
    hasLogs: j.has_logs === undefined ? null : !!j.has_logs,
    labels: Array.isArray(j.labels) ? j.labels : [],
    htmlUrl: first(j.html_url),
    // null: not in the answer (run detail with steps=failed or none), read when the job is opened.
    steps: Array.isArray(j.steps) ? j.steps.map(normStep).sort((a, b) => (a.number ?? 0) - (b.number ?? 0)) : null,
    // Test results (absent when the job reported none) and the failure group of its error lines.
    tests: j.tests && typeof j.tests === 'object' ? { total: first(j.tests.total, 0), passed: first(j.tests.passed, 0), failed: first(j.tests.failed, 0), skipped: first(j.tests.skipped, 0) } : null,
    failedTests: (Array.isArray(j.failed_tests) ? j.failed_tests : []).map(normFailedTest),
    failureGroup: j.failure_group && j.failure_group.fingerprint ? normFailureGroup(j.failure_group) : null,
  };
}

/** One of a job's failed tests (run detail `failed_tests`). */
export function normFailedTest(t) {
  return {
    id: first(t.id, t.test_id),
    suite: first(t.suite, ''),
    className: first(t.class_name, ''),
    name: first(t.name, ''),
    message: first(t.message, ''),
    flaky: !!t.flaky,
    newFailure: !!t.new_failure,
  };
}

/** A test of GET /api/v1/tests (and the `test` of GET /api/v1/tests/{id}). */
export function normTest(t) {
  return {
    id: first(t.id),
    repo: first(repoName(t.repo), t.repo_full_name),
    suite: first(t.suite, ''),
    className: first(t.class_name, ''),
    name: first(t.name, ''),
    file: first(t.file, ''),
    runs: first(t.runs, 0),
    failures: first(t.failures, 0),
    flakyRuns: first(t.flaky_runs, 0),
    flipRate: first(t.flip_rate),
    p50: first(t.p50_duration_ms),
    p95: first(t.p95_duration_ms),
    lastResult: first(t.last_result),
    lastSeen: first(t.last_seen),
    state: first(t.state),
  };
}

/** One execution in a test's history (GET /api/v1/tests/{id} `history`). */
export function normTestRun(h) {
  return {
    repo: first(repoName(h.repo), h.repo_full_name),
    runId: first(h.run_id),
    attempt: first(h.run_attempt, 1),
    jobId: first(h.job_id),
    jobName: first(h.job_name),
    sha: first(h.head_sha),
    branch: first(h.head_branch),
    result: first(h.result),
    durationMs: first(h.duration_ms),
    retries: first(h.retries, 0),
    message: first(h.message, ''),
    completedAt: first(h.completed_at),
  };
}

/** A run's job where a failure group was seen (`examples` and `runs` of the failures API). */
function normGroupRun(r) {
  return {
    repo: first(repoName(r.repo), r.repo_full_name),
    runId: first(r.run_id),
    attempt: first(r.run_attempt, 1),
    jobId: first(r.job_id),
    jobName: first(r.job_name),
    branch: first(r.head_branch),
    completedAt: first(r.completed_at),
  };
}

/** A failure group: the run detail's `failure_group`, or one of GET /api/v1/failures. */
export function normFailureGroup(g) {
  return {
    fingerprint: first(g.fingerprint),
    title: first(g.title, ''),
    runs: first(g.runs, 0),
    repositories: first(g.repositories, Array.isArray(g.repos) ? g.repos.length : 0),
    repos: Array.isArray(g.repos) ? g.repos.map(repoName).filter(Boolean) : [],
    firstSeen: first(g.first_seen),
    lastSeen: first(g.last_seen),
    trend: (Array.isArray(g.trend) ? g.trend : []).map((t) => ({ day: first(t.day), runs: first(t.runs, 0) })),
    examples: (Array.isArray(g.examples) ? g.examples : []).map(normGroupRun),
  };
}

/** GET /api/v1/failures/{fingerprint}: the group, its normalised lines and its runs. */
export function normFailureDetail(d) {
  return {
    group: normFailureGroup(d.failure || {}),
    lines: (Array.isArray(d.lines) ? d.lines : []).map((l) => (typeof l === 'string' ? l : first(l && l.text, ''))),
    runs: (Array.isArray(d.runs) ? d.runs : []).map(normGroupRun),
  };
}

export function normRunDetail(d) {
  const run = normRun(d.run || d);
  return {
    ...run,
    attempts: (Array.isArray(d.attempts) ? d.attempts : []).map(normRun).sort((a, b) => a.attempt - b.attempt),
    jobs: (Array.isArray(d.jobs) ? d.jobs : []).map(normJob),
  };
}

export function normLog(l) {
  return {
    stepNumber: first(l.step_number, l.number, 0),
    stepName: first(l.step_name),
    content: typeof l.content === 'string' ? l.content : '',
    truncated: !!l.truncated,
    originalSize: first(l.original_size),
    exitCode: first(l.exit_code),
  };
}

/**
 * A log search result: one job step's log tail with its matching lines
 * ({line, text}: 1-based line number within that tail, and the raw line).
 */
export function normSearchHit(h) {
  const lines = Array.isArray(h.lines)
    ? h.lines.map((l) => ({ line: first(l.line, l.line_number), text: typeof l.text === 'string' ? l.text : '' }))
    : typeof h.line === 'string' || typeof h.text === 'string'
      ? [{ line: first(h.line_number, null), text: first(h.text, h.line, '') }]
      : [];
  return {
    repo: first(repoName(h.repo), h.repo_full_name, repoName(h.repository)),
    runId: first(h.run_id),
    attempt: first(h.run_attempt, h.attempt),
    jobId: first(h.job_id),
    jobName: first(h.job_name),
    stepNumber: first(h.step_number, 0),
    stepName: first(h.step_name),
    lines,
  };
}

export function normAlert(a) {
  return {
    id: first(a.id),
    kind: first(a.kind, a.type),
    state: first(a.state),
    repo: first(repoName(a.repo), a.repo_full_name, repoName(a.repository)),
    workflowId: first(a.workflow_id),
    workflowName: first(a.workflow_name),
    branch: first(a.branch),
    runId: first(a.run_id),
    attempt: first(a.run_attempt),
    summary: first(a.summary, a.message, ''),
    openedAt: first(a.opened_at, a.created_at),
    resolvedAt: first(a.resolved_at),
    severity: first(a.severity),
    ackedAt: first(a.acked_at),
    runCount: first(a.run_count),
  };
}

/** Splits "owner/name" into its halves (or nulls). */
export function splitRepo(fullName) {
  const s = String(fullName || '');
  const i = s.indexOf('/');
  return i > 0 ? [s.slice(0, i), s.slice(i + 1)] : [null, null];
}
