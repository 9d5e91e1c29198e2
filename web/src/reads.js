// The API addresses the app reads, and the first page's reads started early. Plain functions
// with no React: web/src/early.js, a small script of its own that index.html runs before the
// app's bundle has arrived, imports them, so that the first page's data is asked for while the
// browser still loads and compiles the app, with the very addresses the pages ask for later.

const BASE = '/api/v1';

/** Builds an API path with query parameters, leaving out empty ones. */
export function apiPath(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return BASE + path + (s ? `?${s}` : '');
}

/** Path segment for a repository "owner/name" (each half encoded, the slash kept). */
export function repoPath(fullName) {
  return String(fullName || '')
    .split('/')
    .map(encodeURIComponent)
    .join('/');
}

/**
 * Matches "/repos/:owner/:name" against a path; returns the decoded params or null.
 * Segments are matched whole, so a parameter never spans a "/".
 */
export function matchPath(pattern, pathname) {
  const pp = pattern.split('/').filter(Boolean);
  const xs = pathname.replace(/\/+$/, '').split('/').filter(Boolean);
  if (pp.length !== xs.length) return null;
  const params = {};
  for (let i = 0; i < pp.length; i++) {
    if (pp[i].startsWith(':')) {
      try {
        params[pp[i].slice(1)] = decodeURIComponent(xs[i]);
      } catch {
        return null;
      }
    } else if (pp[i] !== xs[i]) {
      return null;
    }
  }
  return params;
}

// Saved tokens (api.js): a read goes with the session cookie alone only when neither is saved.
export const TOKEN_KEY = 'cipulse.readToken';
export const ADMIN_KEY = 'cipulse.adminToken';

export function loadSaved(key) {
  try {
    return window.localStorage.getItem(key) || '';
  } catch {
    return '';
  }
}

// The workflow page's windows; an unknown ?window= is the default, 7 days.
export const WINDOWS = [
  { value: '24h', label: '24 hours' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
];
export const workflowWindow = (query) => (WINDOWS.some((w) => w.value === query.window) ? query.window : '7d');

/** What the pages read: each page builds its addresses here, and so does the early start. */
export const reads = {
  repos: (cursor) => apiPath('/repos', { limit: 50, cursor }),
  openAlerts: () => apiPath('/alerts', { state: 'open', limit: 100 }),
  workflows: (repo) => apiPath(`/repos/${repoPath(repo)}/workflows`, { limit: 100 }),
  workflowMetrics: (repo, id, query) => apiPath('/metrics', { repo, workflow: id, window: workflowWindow(query), branch: query.branch || '' }),
  workflowRuns: (repo, id, query) => apiPath(`/repos/${repoPath(repo)}/runs`, { workflow: id, branch: query.branch || '', limit: 10 }),
  // A run's jobs come with the steps of the failed ones (opened at once); another job's steps are
  // read when it is opened (runJob): a run of 200 jobs is ~110 kB so, ~470 kB with every step.
  run: (runId, query) => apiPath(`/runs/${encodeURIComponent(runId)}`, { attempt: query.attempt, steps: 'failed' }),
  runJob: (runId, attempt, jobId) => apiPath(`/runs/${encodeURIComponent(runId)}`, { attempt, job: jobId }),
};

// The pages whose first reads start early: the overview, a workflow and a run (the pages the
// dashboard is opened on); their patterns are App.jsx's.
const FIRST = [
  ['/', () => [reads.repos(null), reads.openAlerts()]],
  ['/repos/:owner/:name/workflows/:id', (p, q) => {
    const repo = `${p.owner}/${p.name}`;
    return [reads.workflows(repo), reads.workflowMetrics(repo, p.id, q), reads.workflowRuns(repo, p.id, q)];
  }],
  ['/runs/:runId', (p, q) => [reads.run(p.runId, q)]],
];

/** The API addresses the page at `pathname` + `search` reads first ([] for the others). */
export function firstReads(pathname, search) {
  const query = Object.fromEntries(new URLSearchParams(search));
  for (const [pattern, urls] of FIRST) {
    const params = matchPath(pattern, pathname);
    if (params) return urls(params, query);
  }
  return [];
}
