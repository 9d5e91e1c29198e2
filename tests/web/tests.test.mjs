// Browser test of issue 13's "done when", run by scripts/test-web.sh: the real agent
// (build/cipulse-agent) reports a job twice, attempt 1 and attempt 2 of one run on one commit,
// each with the JUnit file that a real pytest --junitxml wrote for it. One test fails in
// attempt 1 and passes in attempt 2 (flaky); another fails in both. The job's metadata comes
// from a GitHub API stand-in (the only stand-in: the collector and PostgreSQL are real). Then
// the tests page shows the flaky test flaky, its history page both results, and the run page
// the failed test and the job's failure group, each compared with what the API says.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { api, launch, newPage, shot, until } from './helpers.mjs';

const CIPULSED = process.env.CIPULSED;
const DB_URL = process.env.CIPULSE_DATABASE_URL;
const GRPC = process.env.CIPULSE_GRPC;
const AGENT = process.env.CIPULSE_AGENT;
const suffix = crypto.randomBytes(3).toString('hex');
const REPO = `webtests/app-${suffix}`;
const REPO_ID = 700000 + crypto.randomInt(99999);
const RUN_ID = 8800000 + crypto.randomInt(99999);
const JOBS = { 1: RUN_ID * 10 + 1, 2: RUN_ID * 10 + 2 };
const SHA = crypto.randomBytes(20).toString('hex');
const errors = [];
let browser;
let github;
let tmp;

// The project's tests, as pytest runs them: test_checkout flakes (fails when FLAKE=1),
// test_parser always fails, the others pass.
const PYTEST_SRC = `
import os

def test_login():
    pass

def test_checkout():
    assert os.environ.get("FLAKE") != "1", "payment page timed out after 30 s"

def test_parser():
    assert "1.2.3".split(".") == ["1", "2"], "version parts differ"

class TestCart:
    def test_totals(self):
        assert 2 + 2 == 4
`;

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A job of the GitHub jobs API (the shape the agent reads), finished except the last step. */
function job(id, attempt, t0) {
  return {
    id, run_id: RUN_ID, run_attempt: attempt, name: 'pytest', status: 'in_progress', conclusion: null,
    created_at: iso(t0 - 5000), started_at: iso(t0), completed_at: null, runner_name: 'runner-1', labels: ['ubuntu-latest'],
    html_url: `https://github.com/${REPO}/actions/runs/${RUN_ID}/job/${id}`,
    steps: [
      { name: 'Set up job', number: 1, status: 'completed', conclusion: 'success', started_at: iso(t0), completed_at: iso(t0 + 1000) },
      { name: 'Run pytest', number: 2, status: 'completed', conclusion: 'failure', started_at: iso(t0 + 1000), completed_at: iso(t0 + 9000) },
      { name: 'cipulse', number: 3, status: 'in_progress', conclusion: null, started_at: iso(t0 + 9000), completed_at: null },
    ],
  };
}

/** The GitHub REST API stand-in: the jobs of each attempt of the run. */
function fakeGitHub() {
  const self = { jobs: {}, requests: [] };
  self.server = http.createServer((req, res) => {
    self.requests.push(req.url);
    const m = /^\/repos\/[^/]+\/[^/]+\/actions\/runs\/(\d+)\/attempts\/(\d+)\/jobs/.exec(req.url);
    const jobs = m && Number(m[1]) === RUN_ID ? self.jobs[m[2]] || [] : null;
    res.writeHead(jobs ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(jobs ? { total_count: jobs.length, jobs } : { message: 'Not Found' }));
  });
  return new Promise((resolve) => self.server.listen(0, '127.0.0.1', () => {
    self.url = `http://127.0.0.1:${self.server.address().port}`;
    resolve(self);
  }));
}

/**
 * Runs pytest in the workspace (FLAKE set or not) and the agent for that attempt's job. The agent
 * runs asynchronously: the GitHub stand-in answers it from this process.
 */
async function attempt(n, ingestToken) {
  const ws = path.join(tmp, `ws${n}`);
  fs.mkdirSync(path.join(ws, 'reports'), { recursive: true });
  fs.writeFileSync(path.join(ws, 'test_app.py'), PYTEST_SRC);
  try {
    execFileSync('/usr/bin/python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--junitxml', 'reports/pytest.xml', 'test_app.py'], {
      cwd: ws, env: { PATH: '/usr/bin:/bin', FLAKE: n === 1 ? '1' : '0', HOME: ws }, stdio: 'pipe',
    });
  } catch {
    // pytest exits 1: tests failed, as they should.
  }
  assert.ok(fs.existsSync(path.join(ws, 'reports', 'pytest.xml')), 'pytest wrote its JUnit file');
  github.jobs[String(n)] = [job(JOBS[n], n, Date.now() - 60000)];
  const spool = path.join(tmp, `spool${n}`);
  fs.mkdirSync(path.join(spool, 'home'), { recursive: true });
  const env = {
    PATH: '/usr/bin:/bin', HOME: path.join(spool, 'home'), GITHUB_ACTIONS: 'true', CI: 'true',
    GITHUB_API_URL: github.url, GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: REPO, GITHUB_REPOSITORY_ID: String(REPO_ID),
    GITHUB_WORKFLOW_REF: `${REPO}/.github/workflows/ci.yml@refs/heads/main`,
    GITHUB_RUN_ID: String(RUN_ID), GITHUB_RUN_ATTEMPT: String(n), GITHUB_RUN_NUMBER: '7',
    GITHUB_WORKFLOW: 'CI', GITHUB_JOB: 'pytest', GITHUB_SHA: SHA, GITHUB_REF_NAME: 'main',
    GITHUB_EVENT_NAME: 'push', GITHUB_ACTOR: 'octocat', RUNNER_NAME: 'runner-1', RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64',
    GITHUB_TOKEN: 'ghs_webtestfaketoken123456', GITHUB_WORKSPACE: ws,
    CIPULSE_COLLECTOR: GRPC, CIPULSE_TOKEN: ingestToken, CIPULSE_SPOOL_DIR: spool,
    CIPULSE_TEST_RESULTS: 'reports/*.xml',
  };
  const asked = github.requests.length;
  const out = await promisify(execFile)(AGENT, ['report', '--job-id', String(JOBS[n]), '--job-status', 'failure'], { env, timeout: 120000 });
  // The agent read its job from the GitHub API stand-in.
  assert.ok(github.requests.slice(asked).some((u) => u.includes(`/actions/runs/${RUN_ID}/attempts/${n}/jobs`)), JSON.stringify(github.requests));
  return out.stdout;
}

before(async () => {
  assert.ok(CIPULSED && DB_URL && GRPC && AGENT, 'scripts/test-web.sh sets CIPULSED, CIPULSE_DATABASE_URL, CIPULSE_GRPC, CIPULSE_AGENT');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cipulse-web-tests-'));
  github = await fakeGitHub();
  const ingest = execFileSync(CIPULSED, ['token', 'create', '--kind', 'ingest', '--repo', REPO], {
    env: { ...process.env, CIPULSE_DATABASE_URL: DB_URL }, stdio: 'pipe',
  }).toString().trim();
  await attempt(1, ingest);
  await attempt(2, ingest);
  browser = await launch();
});
after(async () => {
  if (browser) await browser.close();
  if (github) github.server.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('test results from the real agent', () => {
  it('show the flaky test flaky on the tests page, with both results in its history', async () => {
    // The API first: both attempts stored, the flaky test classified so.
    const list = await until(async () => {
      const r = await api(`/api/v1/tests?repo=${encodeURIComponent(REPO)}&window=7d&limit=50`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.tests.length >= 4 && r.body.tests;
    }, 'the tests of the two attempts');
    const flaky = list.find((t) => t.name === 'test_checkout');
    const broken = list.find((t) => t.name === 'test_parser');
    assert.equal(flaky.state, 'flaky', JSON.stringify(flaky));
    assert.ok(['new_failure', 'already_failing'].includes(broken.state), JSON.stringify(broken));
    assert.equal(list.find((t) => t.name === 'test_login').state, 'passing');

    const page = await newPage(browser, errors);
    await page.goto(`/tests?repo=${encodeURIComponent(REPO)}&flaky=true`);
    const row = page.locator(`tr[data-test-id="${flaky.id}"]`);
    await row.locator('[data-state="flaky"]').getByText('Flaky').waitFor();
    await row.getByText(`test_app › test_checkout`).waitFor();
    // The flaky filter leaves out the test that always fails.
    assert.equal(await page.locator(`tr[data-test-id="${broken.id}"]`).count(), 0);
    await shot(page, '30-tests-flaky');

    await row.getByRole('link', { name: /test_checkout/ }).click();
    await page.waitForURL((u) => u.pathname === `/tests/${flaky.id}`);
    const detail = await api(`/api/v1/tests/${flaky.id}`);
    assert.equal(detail.status, 200);
    const results = detail.body.history.map((h) => [h.run_attempt, h.result]);
    assert.deepEqual(results, [[2, 'passed'], [1, 'failed']]);
    // The strip, oldest first: failed in attempt 1, passed in attempt 2.
    const stripList = page.getByRole('list', { name: 'Results, oldest first' });
    await stripList.waitFor();
    const strip = stripList.locator('[data-result]');
    assert.deepEqual(await strip.evaluateAll((els) => els.map((e) => e.getAttribute('data-result'))), ['failed', 'passed']);
    await page.getByText('payment page timed out after 30 s').first().waitFor();
    await page.getByRole('link', { name: `run ${RUN_ID} · attempt 2` }).waitFor();
    await page.context().close();
  });

  it('show the failed test and the failure group on the run page', async () => {
    const run = await api(`/api/v1/runs/${RUN_ID}?attempt=2`);
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const j = run.body.jobs.find((x) => x.job_id === JOBS[2] || x.id === JOBS[2]);
    assert.ok(j, JSON.stringify(run.body.jobs));
    assert.equal(j.tests.failed, 1, JSON.stringify(j.tests));
    assert.deepEqual(j.failed_tests.map((t) => t.name), ['test_parser']);
    const g = j.failure_group;
    assert.ok(g && g.fingerprint, JSON.stringify(j));

    const page = await newPage(browser, errors);
    await page.goto(`/runs/${RUN_ID}?attempt=2`);
    const tests = page.getByRole('group', { name: 'Tests of pytest' });
    await tests.getByText(`Tests: ${j.tests.total}`).waitFor();
    const failed = tests.getByRole('list', { name: 'Failed tests of pytest' });
    const link = failed.getByRole('link', { name: 'test_app › test_parser' });
    assert.equal(await link.getAttribute('href'), `/tests/${j.failed_tests[0].id}`);
    await failed.getByText(/version parts differ/).first().waitFor();
    const group = tests.getByLabel('Failure group');
    const runs = g.runs === 1 ? '1 run' : `${g.runs} runs`;
    await group.getByText(new RegExp(`^seen in ${runs} in 1 repository since`)).waitFor();
    await shot(page, '31-run-failed-tests');

    // Attempt 1: both failures, the one that passed later marked flaky.
    await page.goto(`/runs/${RUN_ID}?attempt=1`);
    const first = page.getByRole('list', { name: 'Failed tests of pytest' });
    const item = first.getByRole('listitem').filter({ hasText: 'test_checkout' });
    await item.getByText('flaky', { exact: true }).waitFor();

    await page.goto(`/runs/${RUN_ID}?attempt=2`);
    await page.getByRole('group', { name: 'Tests of pytest' }).getByLabel('Failure group').getByRole('link').click();
    await page.waitForURL((u) => u.pathname === `/failures/${g.fingerprint}`);
    const fd = await api(`/api/v1/failures/${g.fingerprint}`);
    assert.equal(fd.status, 200);
    assert.ok(fd.body.runs.some((r) => r.run_id === RUN_ID), JSON.stringify(fd.body.runs));
    await page.getByRole('list', { name: 'Runs in this group' }).getByRole('link', { name: new RegExp(`run ${RUN_ID}`) }).first().waitFor();
    if (fd.body.lines.length) await page.getByLabel('Normalised lines').getByText(fd.body.lines[0], { exact: false }).waitFor();
    assert.deepEqual(errors, []);
    await page.context().close();
  });
});
