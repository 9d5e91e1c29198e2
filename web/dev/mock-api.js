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

function handle(url, res) {
  const p = url.pathname.replace(/^\/api\/v1/, '');
  let m;
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
    return send(res, 200, { ...run, attempts: [{ run_attempt: 1, status: run.status, conclusion: run.conclusion, created_at: run.created_at, completed_at: run.completed_at }], jobs: jobsFor(run) });
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
        setTimeout(() => handle(url, res), 150);
      });
    },
  };
}
