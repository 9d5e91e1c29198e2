// "Sign in with GitHub" in Chromium (issue 12.2): the whole OAuth web flow through the real
// collector and the GitHub stand-in (tests/integration/ghoauth.py, run as a process: GitHub's
// authorize page with its "Authorize" button, the token endpoint that checks the client secret
// and the PKCE verifier, /user and the organisation memberships). This file starts a second
// collector on the web tests' database, configured for GitHub sign-in against the stand-in and
// with CIPULSE_PUBLIC_URL its own address; the browser clicks "Sign in with GitHub", authorizes
// on the stand-in's page, lands signed in with the user in the header, and signs out. A user of
// another organisation comes back to the sign-in page with the reason shown.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { launch, shot, until } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..', '..');
const CIPULSED = process.env.CIPULSED;
const DB_URL = process.env.CIPULSE_DATABASE_URL;
const suffix = crypto.randomBytes(3).toString('hex');
const member = { login: `octo-web-${suffix}`, id: 700000 + crypto.randomInt(99999), name: 'Octo Web' };
const outsider = { login: `outsider-${suffix}`, id: 800000 + crypto.randomInt(99999) };
const errors = [];
let browser;
let standin;
let collector;
let base;
let collectorLog = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The stand-in process: send({op, ...}) answers with the next JSON line it prints. */
function startStandIn() {
  const proc = spawn('/usr/bin/python3', [path.join(root, 'tests', 'integration', 'ghoauth.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: proc.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
  const next = () => new Promise((resolve) => waiting.push(resolve));
  const send = (cmd) => {
    const p = next();
    proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    return p;
  };
  return { proc, first: next(), send };
}

before(async () => {
  assert.ok(CIPULSED && DB_URL, 'scripts/test-web.sh sets CIPULSED and CIPULSE_DATABASE_URL');
  standin = startStandIn();
  const gh = await standin.first;
  await standin.send({ op: 'add_user', login: member.login, id: member.id, name: member.name, orgs: { acme: 'active' } });
  await standin.send({ op: 'add_user', login: outsider.login, id: outsider.id, orgs: { elsewhere: 'active' } });
  const httpPort = await freePort();
  const grpcPort = await freePort();
  base = `http://127.0.0.1:${httpPort}`;
  collector = spawn(CIPULSED, ['serve'], {
    env: {
      ...process.env,
      CIPULSE_DATABASE_URL: DB_URL,
      CIPULSE_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      CIPULSE_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      CIPULSE_WEB_DIR: path.join(root, 'web', 'dist'),
      CIPULSE_PUBLIC_URL: base,
      CIPULSE_GITHUB_URL: gh.url,
      CIPULSE_GITHUB_API_URL: gh.url,
      CIPULSE_GITHUB_CLIENT_ID: gh.client_id,
      CIPULSE_GITHUB_CLIENT_SECRET: gh.client_secret,
      CIPULSE_GITHUB_ALLOWED_ORGS: 'acme',
      CIPULSE_POLL: '0',
      CIPULSE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collector.stdout.on('data', (d) => { collectorLog += d; });
  collector.stderr.on('data', (d) => { collectorLog += d; });
  await until(async () => {
    assert.equal(collector.exitCode, null, `the GitHub sign-in collector exited:\n${collectorLog}`);
    try {
      return (await fetch(`${base}/readyz`)).status === 200;
    } catch {
      return false;
    }
  }, 'the GitHub sign-in collector to be ready');
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (collector && collector.exitCode === null) {
    const exited = new Promise((resolve) => collector.on('exit', resolve));
    collector.kill('SIGTERM');
    await exited;
  }
  if (standin) standin.proc.stdin.end();
});

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 }, baseURL: base });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  return page;
}

async function sessionOf(page) {
  const r = await page.request.get('/api/v1/session');
  return { status: r.status(), body: await r.json() };
}

/** From the collector's sign-in page through GitHub's authorize page, as `login`. */
async function throughGitHub(page, login, next = '/') {
  await page.goto(`/signin?next=${encodeURIComponent(next)}`);
  await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
  // GitHub's (the stand-in's) page: another origin, reached through the collector's 302.
  await page.getByRole('heading', { name: 'Authorize cipulse' }).waitFor();
  assert.ok(!page.url().startsWith(base), page.url());
  assert.match(page.url(), /code_challenge_method=S256/);
  await page.getByLabel('GitHub login').fill(login);
  await page.getByRole('button', { name: 'Authorize' }).click();
}

describe('Sign in with GitHub', () => {
  it('signs in through GitHub, shows the user in the header, and signs out', async () => {
    const page = await newPage();
    const auth = await (await page.request.get('/api/v1/auth')).json();
    assert.equal(auth.github, true);
    await throughGitHub(page, member.login, '/alerts');
    await page.waitForURL((u) => u.origin === base && u.pathname === '/alerts');
    const who = page.getByRole('group', { name: 'Signed in' });
    await who.getByText(member.name).waitFor();
    await who.locator('[data-role="viewer"]').waitFor();
    await shot(page, 'github-signin-signed-in');
    const s = await sessionOf(page);
    assert.equal(s.status, 200);
    assert.deepEqual(s.body.user, { username: member.login, display_name: member.name, role: 'viewer' });
    // The session cookie is HttpOnly: the page's script cannot read it (nor the GitHub token).
    assert.equal(await page.evaluate(() => document.cookie.includes('cipulse_session')), false);
    const cookies = await page.context().cookies(base);
    const sessionCookie = cookies.find((c) => c.name === 'cipulse_session');
    assert.ok(sessionCookie && sessionCookie.httpOnly && sessionCookie.sameSite === 'Lax', JSON.stringify(cookies));
    assert.ok(!cookies.some((c) => c.name === 'cipulse_oauth' && c.value), 'the binding cookie is cleared');

    await who.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/signin');
    await page.getByRole('link', { name: 'Sign in with GitHub' }).waitFor();
    assert.equal((await sessionOf(page)).status, 401);
    assert.deepEqual(errors, []);
  });

  it('sends a user of another organisation back to the sign-in page with the reason', async () => {
    const page = await newPage();
    await throughGitHub(page, outsider.login);
    await page.waitForURL((u) => u.origin === base && u.pathname === '/signin' && u.searchParams.get('github_error') === 'org');
    await page.getByRole('alert', { name: 'GitHub sign-in' }).getByText('not a member of an organisation allowed').waitFor();
    await shot(page, 'github-signin-refused');
    assert.equal((await sessionOf(page)).status, 401);
    assert.equal(await page.getByRole('group', { name: 'Signed in' }).count(), 0);
    assert.deepEqual(errors, []);
  });
});
