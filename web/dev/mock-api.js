// Development only (CIPULSE_MOCK=1 npm run dev): a stand-in for the collector's REST API that
// follows the DESIGN contract, so the pages can be worked on without a collector. Not built, not
// used by any test: the browser tests run against the real collector.
const H = 3600e3;
const now = Date.now();
const iso = (ms) => new Date(ms).toISOString();

const repos = ['acme/api', 'acme/web', 'acme/infra'];
const workflows = {
  'acme/api': [{ id: 101, name: 'CI', path: '.github/workflows/ci.yml', state: 'active' }, { id: 102, name: 'Release', path: '.github/workflows/release.yml', state: 'active' }],
  'acme/web': [{ id: 201, name: 'Build & test', path: '.github/workflows/build.yml', state: 'active' }],
  'acme/infra': [{ id: 301, name: 'Terraform plan', path: '.github/workflows/plan.yml', state: 'active' }],
};

let seed = 7;
const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);

const runs = [];
let runId = 9000;
for (const repo of repos) {
  for (const wf of workflows[repo]) {
    for (let i = 0; i < 40; i++) {
      const created = now - i * 4.2 * H - rnd() * H;
      const dur = 120 + rnd() * 600;
      const r = rnd();
      const conclusion = i === 0 && repo === 'acme/api' ? 'failure' : r < 0.78 ? 'success' : r < 0.92 ? 'failure' : r < 0.96 ? 'cancelled' : 'timed_out';
      runs.push({
        repo, run_id: ++runId, run_attempt: 1, workflow_id: wf.id, workflow_name: wf.name, name: wf.name, run_number: 400 - i,
        event: i % 3 ? 'push' : 'pull_request', status: 'completed', conclusion, head_branch: i % 4 ? 'main' : `feature/x-${i}`,
        head_sha: (runId * 2654435761).toString(16).padStart(40, 'a').slice(0, 40), actor: ['octocat', 'hubot', 'monalisa'][i % 3],
        html_url: `https://github.com/${repo}/actions/runs/${runId}`, created_at: iso(created), run_started_at: iso(created + 5e3),
        completed_at: iso(created + dur * 1e3), duration_s: dur,
      });
    }
  }
}

function jobsFor(run) {
  const t0 = Date.parse(run.run_started_at);
  const mk = (id, name, off, len, concl, steps) => ({
    job_id: id, name, status: 'completed', conclusion: concl, created_at: iso(t0 + off * 1e3 - 8e3), started_at: iso(t0 + off * 1e3),
    completed_at: iso(t0 + (off + len) * 1e3), runner_name: 'GitHub Actions 12', runner_os: 'Linux', labels: ['ubuntu-latest'],
    html_url: `${run.html_url}/job/${id}`,
    steps: steps.map(([n, s, l, c], k) => ({ number: k + 1, name: n, status: 'completed', conclusion: c, started_at: iso(t0 + (off + s) * 1e3), completed_at: iso(t0 + (off + s + l) * 1e3) })),
  });
  const failed = run.conclusion === 'failure';
  return [
    mk(run.run_id * 10 + 1, 'lint', 0, 40, 'success', [['Set up job', 0, 2, 'success'], ['Checkout', 2, 3, 'success'], ['Run linters', 5, 34, 'success'], ['Complete job', 39, 1, 'success']]),
    mk(run.run_id * 10 + 2, 'test (ubuntu-latest)', 0, 260, failed ? 'failure' : 'success', [['Set up job', 0, 2, 'success'], ['Checkout', 2, 4, 'success'], ['Install deps', 6, 60, 'success'], ['Run tests', 66, 190, failed ? 'failure' : 'success'], ['Complete job', 256, 4, 'success']]),
    mk(run.run_id * 10 + 3, 'build', 45, 120, failed ? 'skipped' : 'success', [['Set up job', 0, 2, 'success'], ['Build', 2, 115, 'success'], ['Complete job', 117, 3, 'success']]),
  ];
}

const LOG = [
  '\x1b[36m$ npm test\x1b[0m',
  '> api@1.4.0 test',
  '\x1b[32m  ✓ parses config\x1b[0m (3 ms)',
  '\x1b[32m  ✓ connects to database\x1b[0m (41 ms)',
  '\x1b[31m  ✗ handles <img src=x onerror=alert(1)> in names\x1b[0m',
  '    \x1b[1mAssertionError\x1b[22m: expected 200, got \x1b[38;5;208m500\x1b[0m',
  '    at Context.<anonymous> (test/api.test.js:42:11)',
  '\x1b[38;2;255;100;100mError: connect ECONNREFUSED 127.0.0.1:5432\x1b[0m',
  '',
  '\x1b[1;31m1 failing\x1b[0m, \x1b[32m41 passing\x1b[0m',
].join('\n');

// Test results: a few tests of acme/api, one flaky, one failing, and the failure groups.
const TESTS = [
  ['tests/test_api.py', 'tests.test_api.TestLogin', 'test_login_redirects', 'flaky', 0.31],
  ['tests/test_api.py', 'tests.test_api.TestLogin', 'test_logout', 'passing', 0],
  ['tests/test_db.py', 'tests.test_db', 'test_migrations_apply', 'new_failure', 0.05],
  ['tests/test_db.py', 'tests.test_db', 'test_pool_exhaustion', 'already_failing', 0.12],
  ['tests/test_ui.py', 'tests.test_ui.TestCharts', 'test_chart_renders', 'flaky', 0.22],
].map(([file, cls, name, state, flip], i) => ({
  id: (0xabc0 + i).toString(16).padStart(16, '0'), repo: 'acme/api', suite: 'pytest', class_name: cls, name, file,
  runs: 40 - i * 3, failures: state === 'passing' ? 0 : 3 + i, flaky_runs: state === 'flaky' ? 4 + i : 0, flip_rate: flip,
  p50_duration_ms: 120 + i * 300, p95_duration_ms: 800 + i * 900, last_result: ['new_failure', 'already_failing'].includes(state) ? 'failed' : 'passed',
  last_seen: iso(now - i * H), state,
}));
function testHistory(t) {
  return runs.filter((r) => r.repo === t.repo).slice(0, 30).map((r, i) => {
    const failed = t.state !== 'passing' && (r.conclusion === 'failure' || (t.state === 'flaky' && i % 5 === 2));
    return { repo: r.repo, run_id: r.run_id, run_attempt: 1, job_id: r.run_id * 10 + 2, job_name: 'test (ubuntu-latest)', head_sha: r.head_sha, head_branch: r.head_branch, result: failed ? 'failed' : 'passed', duration_ms: t.p50_duration_ms + i * 7, retries: 0, message: failed ? 'AssertionError: expected 302, got 500\n  at tests/test_api.py:42' : '', completed_at: r.completed_at };
  });
}
const FAILURES = [
  { fingerprint: '9f2c4e1a7b3d5c60', title: 'AssertionError: expected <N>, got <N>', repos: ['acme/api', 'acme/web'], first: 50 },
  { fingerprint: '1b7d0e93c4a8f215', title: 'Error: connect ECONNREFUSED <IP>:<N>', repos: ['acme/api', 'acme/web', 'acme/infra'], first: 150 },
].map((f, k) => {
  const seen = runs.filter((r) => f.repos.includes(r.repo) && r.conclusion === 'failure' && Date.parse(r.created_at) > now - f.first * H);
  const trend = {};
  for (const r of seen) trend[r.created_at.slice(0, 10)] = (trend[r.created_at.slice(0, 10)] || 0) + 1;
  const ex = seen.map((r) => ({ repo: r.repo, run_id: r.run_id, run_attempt: 1, job_id: r.run_id * 10 + 2, job_name: 'test (ubuntu-latest)', head_branch: r.head_branch, completed_at: r.completed_at }));
  return {
    fingerprint: f.fingerprint, title: f.title, runs: seen.length, repositories: f.repos.length, repos: f.repos,
    first_seen: seen.length ? seen[seen.length - 1].created_at : iso(now), last_seen: seen.length ? seen[0].completed_at : iso(now),
    trend: Object.entries(trend).map(([day, n]) => ({ day, runs: n })), examples: ex.slice(0, 3), _runs: ex, _k: k,
  };
});
const pub = (f) => Object.fromEntries(Object.entries(f).filter(([k]) => !k.startsWith('_')));

// Accounts: local users (password "cipulse"), their sessions, tokens and the audit log.
const users = [
  { username: 'admin', display_name: 'Ada Admin', role: 'admin', disabled: false, source: 'local', created_at: iso(now - 900 * H), last_login_at: iso(now - 3 * H) },
  { username: 'maint', display_name: 'Max Maintainer', role: 'maintainer', disabled: false, source: 'local', created_at: iso(now - 500 * H), last_login_at: null },
  { username: 'viewer', display_name: 'Vic Viewer', role: 'viewer', disabled: false, source: 'github', created_at: iso(now - 100 * H), last_login_at: iso(now - 30 * H) },
];
const sessions = new Map();
const tokens = [{ id: 1, name: 'grafana', scope: 'read', owner: 'admin', created_at: iso(now - 200 * H), expires_at: iso(now + 900 * H), last_used_at: iso(now - H), revoked_at: null }];
const audit = [];
function record(actor, action, target, before, after) {
  audit.unshift({ id: audit.length + 1, at: iso(Date.now()), actor, actor_kind: 'user', action, target, before, after, remote_addr: '127.0.0.1' });
}
const cookieOf = (req) => (/(?:^|;\s*)cipulse_session=([^;]+)/.exec(req.headers.cookie || '') || [])[1];

function send(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}
const notFound = (res, what) => send(res, 404, { error: { code: 'not_found', message: `${what} not found` } });

function metricsOf(list, window) {
  const ok = list.filter((r) => r.conclusion === 'success').length;
  const bad = list.filter((r) => ['failure', 'timed_out'].includes(r.conclusion)).length;
  const d = list.map((r) => r.duration_s).sort((a, b) => a - b);
  const by = {};
  for (const r of list) by[r.conclusion] = (by[r.conclusion] || 0) + 1;
  const q = (p) => (d.length ? d[Math.min(d.length - 1, Math.floor(p * d.length))] : null);
  return { window, runs: list.length, by_conclusion: by, success_rate: ok + bad ? ok / (ok + bad) : null, avg_duration_s: d.length ? d.reduce((a, x) => a + x, 0) / d.length : null, p50_duration_s: q(0.5), p95_duration_s: q(0.95), avg_queue_s: 8.2, p95_queue_s: 31, mttr_s: 5400, flaky_runs: 2 };
}

function page(list, url, def = 25) {
  const limit = Math.min(Number(url.searchParams.get('limit')) || def, 200);
  const off = Number(url.searchParams.get('cursor')) || 0;
  const items = list.slice(off, off + limit);
  return { items, next_cursor: off + limit < list.length ? String(off + limit) : null };
}

function accounts(req, url, res, body) {
  const p = url.pathname.replace(/^\/api\/v1/, '');
  const method = req.method;
  const sid = cookieOf(req);
  const me = sid && sessions.get(sid);
  const user = me && users.find((u) => u.username === me.username);
  const deny = (status, message) => send(res, status, { error: { code: status === 401 ? 'unauthorized' : 'forbidden', message } });
  const isWrite = method !== 'GET';
  if (p === '/auth') return send(res, 200, { local: true, github: false, anonymous_read: true });
  if (p === '/session') {
    if (method === 'POST') {
      const u = users.find((x) => x.username === body.username && !x.disabled);
      if (!u || body.password !== 'cipulse') return send(res, 401, { error: 'invalid username or password' });
      const id = Math.random().toString(36).slice(2);
      sessions.set(id, { username: u.username, csrf: Math.random().toString(36).slice(2) });
      u.last_login_at = iso(Date.now());
      res.setHeader('Set-Cookie', `cipulse_session=${id}; HttpOnly; SameSite=Lax; Path=/`);
      return send(res, 200, { user: { username: u.username, display_name: u.display_name, role: u.role }, csrf_token: sessions.get(id).csrf });
    }
    if (!user) return deny(401, 'not signed in');
    if (method === 'DELETE') {
      sessions.delete(sid);
      res.setHeader('Set-Cookie', 'cipulse_session=; Max-Age=0; Path=/');
      res.statusCode = 204;
      return res.end();
    }
    return send(res, 200, { user: { username: user.username, display_name: user.display_name, role: user.role }, csrf_token: me.csrf });
  }
  if (!['/users', '/tokens', '/audit'].some((x) => p.startsWith(x))) return false;
  if (!user) return deny(401, 'sign in first');
  if (isWrite && req.headers['x-csrf-token'] !== me.csrf) return deny(403, 'missing or wrong CSRF token');
  if (p.startsWith('/users') || p === '/audit' || url.searchParams.get('all') === 'true') {
    if (user.role !== 'admin') return deny(403, 'needs the admin role');
  }
  if (p === '/users' && method === 'GET') return send(res, 200, { users });
  if (p === '/users' && method === 'POST') {
    if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(body.username || '')) return send(res, 400, { error: { code: 'invalid_parameter', message: 'username: 1 to 64 of a-z 0-9 _ . -', param: 'username' } });
    const u = { username: body.username, display_name: body.display_name || body.username, role: body.role, disabled: false, source: 'local', created_at: iso(Date.now()), last_login_at: null };
    users.push(u);
    record(user.username, 'user.create', u.username, null, { role: u.role });
    return send(res, 201, u);
  }
  let m;
  if ((m = p.match(/^\/users\/([^/]+)$/)) && method === 'PATCH') {
    const u = users.find((x) => x.username === decodeURIComponent(m[1]));
    if (!u) return notFound(res, 'user');
    const before = { role: u.role, disabled: u.disabled };
    for (const k of ['role', 'disabled', 'display_name']) if (body[k] !== undefined) u[k] = body[k];
    record(user.username, 'user.update', u.username, before, { role: u.role, disabled: u.disabled });
    return send(res, 200, u);
  }
  if (p === '/tokens' && method === 'GET') return send(res, 200, { tokens: url.searchParams.get('all') === 'true' ? tokens : tokens.filter((t) => t.owner === user.username) });
  if (p === '/tokens' && method === 'POST') {
    if (!body.name) return send(res, 400, { error: { code: 'invalid_parameter', message: 'name: required', param: 'name' } });
    const t = { id: tokens.length + 1, name: body.name, scope: body.scope, owner: user.username, created_at: iso(Date.now()), expires_at: body.expires_in_days ? iso(Date.now() + body.expires_in_days * 24 * H) : null, last_used_at: null, revoked_at: null };
    tokens.push(t);
    record(user.username, 'token.create', t.name, null, { scope: t.scope });
    return send(res, 201, { ...t, token: `cps_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}` });
  }
  if ((m = p.match(/^\/tokens\/(\d+)$/)) && method === 'DELETE') {
    const t = tokens.find((x) => x.id === Number(m[1]) && (x.owner === user.username || user.role === 'admin'));
    if (!t) return notFound(res, 'token');
    t.revoked_at = iso(Date.now());
    record(user.username, 'token.revoke', t.name, null, null);
    res.statusCode = 204;
    return res.end();
  }
  if (p === '/audit') return send(res, 200, { ...page(audit, url, 50), entries: page(audit, url, 50).items });
  return notFound(res, 'endpoint');
}

function handle(url, res) {
  const p = url.pathname.replace(/^\/api\/v1/, '');
  let m;
  if (p === '/tests') {
    const f = Object.fromEntries(url.searchParams);
    let list = TESTS.filter((t) => (!f.repo || t.repo === f.repo) && (f.flaky !== 'true' || t.state === 'flaky') && (f.failing !== 'true' || ['new_failure', 'already_failing'].includes(t.state)));
    const key = { failures: 'failures', duration: 'p95_duration_ms' }[f.sort] || 'flip_rate';
    list = [...list].sort((a, b) => b[key] - a[key]);
    const pg = page(list, url, 50);
    return send(res, 200, { tests: pg.items, next_cursor: pg.next_cursor });
  }
  if ((m = p.match(/^\/tests\/([0-9a-f]+)$/))) {
    const t = TESTS.find((x) => x.id === m[1]);
    if (!t) return notFound(res, `test ${m[1]}`);
    const pg = page(testHistory(t), url, 100);
    return send(res, 200, { test: t, history: pg.items, next_cursor: pg.next_cursor });
  }
  if (p === '/failures') {
    const repo = url.searchParams.get('repo');
    const pg = page(FAILURES.filter((f) => !repo || f.repos.includes(repo)).map(pub), url, 50);
    return send(res, 200, { failures: pg.items, next_cursor: pg.next_cursor });
  }
  if ((m = p.match(/^\/failures\/([0-9a-f]+)$/))) {
    const f = FAILURES.find((x) => x.fingerprint === m[1]);
    if (!f) return notFound(res, `failure group ${m[1]}`);
    const pg = page(f._runs, url, 50);
    return send(res, 200, { failure: pub(f), lines: [f.title, '    at Context.<anonymous> (test/api.test.js:<N>:<N>)', '<N> failing, <N> passing'], runs: pg.items, next_cursor: pg.next_cursor });
  }
  if (p === '/repos') {
    return send(res, 200, page(repos.map((full) => {
      const rs = runs.filter((r) => r.repo === full);
      const mm = metricsOf(rs.slice(0, 30), '7d');
      return { id: repos.indexOf(full) + 1, full_name: full, last_run: rs[0], success_rate: mm.success_rate, avg_duration_s: mm.avg_duration_s };
    }), url, 100));
  }
  if ((m = p.match(/^\/repos\/([^/]+)\/([^/]+)\/workflows$/))) {
    const full = `${m[1]}/${m[2]}`;
    if (!workflows[full]) return notFound(res, `repository ${full}`);
    return send(res, 200, page(workflows[full], url, 100));
  }
  if ((m = p.match(/^\/repos\/([^/]+)\/([^/]+)\/runs$/))) {
    const full = `${m[1]}/${m[2]}`;
    if (!workflows[full]) return notFound(res, `repository ${full}`);
    const f = Object.fromEntries(url.searchParams);
    const list = runs.filter((r) => r.repo === full && (!f.branch || r.head_branch === f.branch) && (!f.status || r.status === f.status) && (!f.conclusion || r.conclusion === f.conclusion) && (!f.workflow || String(r.workflow_id) === f.workflow));
    return send(res, 200, page(list, url));
  }
  if ((m = p.match(/^\/runs\/(\d+)$/))) {
    const run = runs.find((r) => r.run_id === Number(m[1]));
    if (!run) return notFound(res, `run ${m[1]}`);
    const jobs = jobsFor(run);
    const failed = run.conclusion === 'failure';
    jobs[1].tests = { total: 412, passed: failed ? 409 : 412, failed: failed ? 2 : 0, skipped: 1 };
    jobs[1].failed_tests = failed ? [{ ...TESTS[2], message: 'AssertionError: expected 200, got 500', flaky: false, new_failure: true }, { ...TESTS[0], message: 'TimeoutError: page did not load', flaky: true, new_failure: false }] : [];
    jobs[1].failure_group = failed ? { ...pub(FAILURES[0]), trend: undefined, examples: undefined, repos: undefined } : null;
    return send(res, 200, { ...run, attempts: [{ run_attempt: 1, status: run.status, conclusion: run.conclusion, created_at: run.created_at, completed_at: run.completed_at }], jobs });
  }
  if ((m = p.match(/^\/jobs\/(\d+)\/logs$/))) {
    const id = Number(m[1]);
    return send(res, 200, { job_id: id, logs: [{ step_number: 3, content: '\x1b[36m$ npm ci\x1b[0m\nadded 812 packages in 41s\n', truncated: false, exit_code: 0 }, { step_number: 4, content: LOG, truncated: true, original_size: 182_344, exit_code: 1 }] });
  }
  if (p === '/logs/search') {
    const q = (url.searchParams.get('q') || '').toLowerCase();
    if (q.length < 3) return send(res, 400, { error: { code: 'invalid_parameter', message: 'parameter "q": must be 3 to 200 characters' } });
    const hits = [];
    for (const run of runs.filter((r) => r.conclusion === 'failure').slice(0, 12)) {
      const lines = [];
      LOG.split('\n').forEach((text, i) => {
        if (text.toLowerCase().includes(q)) lines.push({ line: i + 1, text });
      });
      if (lines.length) hits.push({ repo: run.repo, job_id: run.run_id * 10 + 2, step_number: 4, run_id: run.run_id, run_attempt: 1, job_name: 'test (ubuntu-latest)', step_name: 'Run tests', lines, links: { web: `/runs/${run.run_id}` } });
    }
    return send(res, 200, page(hits, url, 50));
  }
  if (p === '/metrics') {
    const window = url.searchParams.get('window') || '24h';
    const span = { '24h': 24 * H, '7d': 168 * H, '30d': 720 * H }[window];
    if (!span) return send(res, 400, { error: { code: 'bad_request', message: 'window must be 24h, 7d or 30d' } });
    const wf = url.searchParams.get('workflow');
    const list = runs.filter((r) => r.repo === url.searchParams.get('repo') && (!wf || String(r.workflow_id) === wf) && Date.parse(r.completed_at) > now - span);
    const bucket = window === '24h' ? H : 24 * H;
    const series = [];
    for (let t = Math.floor((now - span) / bucket) * bucket; t <= now; t += bucket) {
      const b = list.filter((r) => { const c = Date.parse(r.completed_at); return c >= t && c < t + bucket; });
      const mm = metricsOf(b, window);
      delete mm.window;
      series.push({ ts: iso(t), ...mm });
    }
    return send(res, 200, { ...metricsOf(list, window), window, bucket_s: bucket / 1000, from: iso(now - span), to: iso(now), series });
  }
  if (p === '/alerts') {
    const st = url.searchParams.get('state') || 'open';
    const all = [
      { id: 1, kind: 'failure', state: 'open', repo: 'acme/api', workflow_id: 101, branch: 'main', run_id: runs[0].run_id, summary: 'CI failed on main', opened_at: iso(now - 2 * H) },
      { id: 2, kind: 'slow_build', state: 'open', repo: 'acme/web', workflow_id: 201, summary: 'Build & test averages 9m 40s over 24h (threshold 8m)', opened_at: iso(now - 26 * H) },
      { id: 3, kind: 'flapping', state: 'resolved', repo: 'acme/infra', workflow_id: 301, branch: 'main', summary: 'Terraform plan failed 3 of the last 5 runs', opened_at: iso(now - 80 * H), resolved_at: iso(now - 70 * H) },
    ];
    return send(res, 200, page(all.filter((a) => a.state === st), url, 50));
  }
  return notFound(res, 'endpoint');
}

export function mockApi() {
  return {
    name: 'cipulse-mock-api',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (!req.url.startsWith('/api/')) return next();
        const url = new URL(req.url, 'http://mock');
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          let body = {};
          try {
            body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
          } catch {
            return send(res, 400, { error: { code: 'bad_request', message: 'body is not JSON' } });
          }
          setTimeout(() => {
            if (accounts(req, url, res, body) === false) handle(url, res);
          }, 150);
        });
      });
    },
  };
}
