// View-model of the test results pages (flaky tests, a test's history, failure groups) and of the
// run page's failed tests: what a test's state looks like, the query the tests page sends, the
// result strip, a failure group's one-line story and its daily trend. It works on the shapes
// src/model.js makes of the API's objects. No React here (vitest).
import { toMillis } from './format.js';

/** A test's state (GET /api/v1/tests `state`): its badge label and tone. */
export const TEST_STATES = {
  passing: { label: 'Passing', tone: 'green' },
  new_failure: { label: 'New failure', tone: 'red' },
  already_failing: { label: 'Failing', tone: 'red' },
  flaky: { label: 'Flaky', tone: 'amber' },
};

export function testState(state) {
  return TEST_STATES[state] || { label: state ? String(state).replace(/_/g, ' ') : 'Unknown', tone: 'gray' };
}

/** A result (passed / failed / error / skipped): its tone and one-letter mark for the strip. */
export function resultLook(result) {
  switch (result) {
    case 'passed':
      return { tone: 'green', mark: '✓', label: 'passed' };
    case 'failed':
      return { tone: 'red', mark: '✗', label: 'failed' };
    case 'error':
      return { tone: 'red', mark: '!', label: 'error' };
    case 'skipped':
      return { tone: 'gray', mark: '–', label: 'skipped' };
    default:
      return { tone: 'gray', mark: '?', label: result ? String(result) : 'unknown' };
  }
}

export const TEST_SORTS = [
  { value: 'flakiness', label: 'Flakiness' },
  { value: 'failures', label: 'Failures' },
  { value: 'duration', label: 'Duration' },
];

export const TEST_WINDOWS = ['24h', '7d', '30d'];

/**
 * The tests page's URL query, cleaned into the API's parameters: unknown sorts and windows fall
 * back to the defaults, the flags are "true" or absent, and text filters are trimmed.
 */
export function testsQuery(q) {
  const s = (v) => (typeof v === 'string' ? v.trim() : '');
  return {
    repo: s(q.repo),
    workflow: /^\d+$/.test(s(q.workflow)) ? s(q.workflow) : '',
    branch: s(q.branch),
    flaky: q.flaky === 'true' ? 'true' : '',
    failing: q.failing === 'true' ? 'true' : '',
    sort: TEST_SORTS.some((o) => o.value === q.sort) ? q.sort : 'flakiness',
    window: TEST_WINDOWS.includes(q.window) ? q.window : '7d',
  };
}

/** A test's display name: "Class › name" (the class left out when empty or equal to the suite). */
export function testLabel(t) {
  if (!t) return '';
  const name = t.name || '(unnamed test)';
  const cls = t.className || '';
  return cls ? `${cls} › ${name}` : name;
}

/** Milliseconds to seconds for formatDuration; null stays null. */
export function msToS(ms) {
  return typeof ms === 'number' && Number.isFinite(ms) ? ms / 1000 : null;
}

/**
 * The result strip of a test's history (newest first from the API): oldest on the left, as a
 * reader scans a timeline, at most `max` cells.
 */
export function resultStrip(history, max = 60) {
  const list = Array.isArray(history) ? history.slice(0, max) : [];
  return list.reverse().map((h, i) => ({
    key: `${h.runId}-${h.attempt}-${h.jobId}-${i}`,
    ...resultLook(h.result),
    runId: h.runId,
    attempt: h.attempt,
    jobId: h.jobId,
    title: `${h.result || 'unknown'} · run ${h.runId}${h.attempt > 1 ? ` attempt ${h.attempt}` : ''}${h.branch ? ` · ${h.branch}` : ''}`,
  }));
}

/** The run page's link to one job of one attempt. */
export function runJobHref(runId, attempt, jobId) {
  const q = new URLSearchParams();
  if (attempt != null && Number(attempt) > 1) q.set('attempt', String(attempt));
  if (jobId != null) q.set('job', String(jobId));
  const s = q.toString();
  return `/runs/${encodeURIComponent(runId)}${s ? `?${s}` : ''}`;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * "since today", "since yesterday", "since Tuesday" (within the last week), else "since 3 Nov"
 * (and the year when it is not this one). Days are UTC days, as everywhere in the app.
 */
export function sinceText(ts, now = Date.now()) {
  const ms = toMillis(ts);
  if (ms == null) return '';
  const day = (x) => Math.floor(x / 86400e3);
  const ago = day(now) - day(ms);
  const d = new Date(ms);
  if (ago <= 0) return 'since today';
  if (ago === 1) return 'since yesterday';
  if (ago < 7) return `since ${DAYS[d.getUTCDay()]}`;
  const year = d.getUTCFullYear() !== new Date(now).getUTCFullYear() ? ` ${d.getUTCFullYear()}` : '';
  return `since ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}${year}`;
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** "seen in 37 runs in 5 repositories since Tuesday" for a failure group. */
export function groupStory(g, now = Date.now()) {
  if (!g) return '';
  const runs = Number(g.runs) || 0;
  const repos = Number(g.repositories) || 0;
  const parts = [`seen in ${plural(runs, 'run', 'runs')}`];
  if (repos) parts.push(`in ${plural(repos, 'repository', 'repositories')}`);
  const since = sinceText(g.firstSeen, now);
  if (since) parts.push(since);
  return parts.join(' ');
}

/**
 * A failure group's trend as one bar per UTC day over the last `days` days (oldest first),
 * missing days as zero; `max` is the tallest bar (at least 1).
 */
export function trendBars(trend, days = 14, now = Date.now()) {
  const byDay = new Map();
  for (const t of Array.isArray(trend) ? trend : []) {
    const ms = toMillis(t.day);
    if (ms == null) continue;
    const k = Math.floor(ms / 86400e3);
    byDay.set(k, (byDay.get(k) || 0) + (Number(t.runs) || 0));
  }
  const today = Math.floor(now / 86400e3);
  const bars = [];
  for (let k = today - days + 1; k <= today; k++) {
    bars.push({ day: new Date(k * 86400e3).toISOString().slice(0, 10), runs: byDay.get(k) || 0 });
  }
  return { bars, max: Math.max(1, ...bars.map((b) => b.runs)) };
}
