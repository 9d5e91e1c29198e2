// Browser tests of sign-in and roles (issue 12), run by scripts/test-web.sh against the real
// collector and PostgreSQL. Local users are made the way an operator makes them, with
// `cipulsed user add NAME --role ROLE --password-stdin`; the pages are used without any saved
// token, so every read and write goes with the session cookie (and writes with its CSRF token).
// Each step is checked through the API as well: the session the browser holds, and what the
// collector lets that session do.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BASE, api, launch, newPage, shot } from './helpers.mjs';

const CIPULSED = process.env.CIPULSED;
const DB_URL = process.env.CIPULSE_DATABASE_URL;
let browser;
const errors = [];
const suffix = crypto.randomBytes(3).toString('hex');
const users = {
  viewer: { name: `web-viewer-${suffix}`, password: crypto.randomBytes(12).toString('hex') },
  maintainer: { name: `web-maint-${suffix}`, password: crypto.randomBytes(12).toString('hex') },
  admin: { name: `web-admin-${suffix}`, password: crypto.randomBytes(12).toString('hex') },
};

function userAdd(name, role, password) {
  execFileSync(CIPULSED, ['user', 'add', name, '--role', role, '--password-stdin', '--display-name', `Web ${role}`], {
    input: `${password}\n`,
    env: { ...process.env, CIPULSE_DATABASE_URL: DB_URL },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** The session the page's browser context holds, as the collector sees it: {status, body}. */
async function sessionOf(page) {
  const r = await page.request.get('/api/v1/session');
  return { status: r.status(), body: await r.json() };
}

/** Signs in through the form; `next` is where the page should land. */
async function signIn(page, who, next = '/') {
  await page.goto(`/signin?next=${encodeURIComponent(next)}`);
  const form = page.getByRole('form', { name: 'Sign in' });
  await form.getByLabel('Username').fill(who.name);
  await form.getByLabel('Password').fill(who.password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('group', { name: 'Signed in' }).waitFor();
  await page.waitForURL((u) => u.pathname + u.search === next);
}

before(async () => {
  assert.ok(CIPULSED && DB_URL, 'scripts/test-web.sh sets CIPULSED and CIPULSE_DATABASE_URL');
  for (const [role, u] of Object.entries(users)) userAdd(u.name, role, u.password);
  browser = await launch();
});
after(async () => {
  if (browser) await browser.close();
});

describe('sign-in', () => {
  it('refuses a wrong password with the one generic message, and signs in with the right one', async () => {
    const page = await newPage(browser, errors, { withToken: false });
    await page.goto('/alerts');
    // Nobody is signed in: the header offers sign-in, which comes back here.
    await page.getByRole('banner').getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/signin' && u.searchParams.get('next') === '/alerts');
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Username').fill(users.viewer.name);
    await form.getByLabel('Password').fill(`${users.viewer.password}x`);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await form.getByRole('alert').getByText('Invalid username or password.').waitFor();
    assert.equal((await sessionOf(page)).status, 401);

    await form.getByLabel('Password').fill(users.viewer.password);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/alerts');
    const who = page.getByRole('group', { name: 'Signed in' });
    await who.getByText('Web viewer').waitFor();
    await who.locator('[data-role="viewer"]').waitFor();
    const s = await sessionOf(page);
    assert.equal(s.status, 200);
    assert.deepEqual(s.body.user, { username: users.viewer.name, display_name: 'Web viewer', role: 'viewer' });
    await page.context().close();
  });
});

describe('roles', () => {
  it('a viewer reads alerting through the session but sees no write controls, then signs out', async () => {
    const page = await newPage(browser, errors, { withToken: false });
    await signIn(page, users.viewer, '/alerts');
    // The collector has a read token, so these lists load only because the session reads.
    const rules = page.getByRole('region', { name: 'Alert rules' });
    const silences = page.getByRole('region', { name: 'Silences' });
    await rules.locator('ul[aria-label="Alert rules"], :text("No alert rules")').first().waitFor();
    await silences.locator('ul[aria-label="Silences"], :text("No silences")').first().waitFor();
    await page.getByText(/you can read alerting; changing it needs the maintainer role/).waitFor();
    for (const name of ['New rule', 'New channel', 'New silence', 'Acknowledge', 'Edit', 'Delete', 'Send test']) {
      assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `a viewer sees no "${name}"`);
    }
    assert.equal(await page.getByRole('form', { name: 'Admin token' }).count(), 0);
    // No admin pages in the navigation for a viewer; tokens (their own) are there.
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Tokens' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Users' }).count(), 0);
    assert.equal(await nav.getByRole('link', { name: 'Audit' }).count(), 0);
    // And the collector agrees: the viewer's session may not write.
    const s = await sessionOf(page);
    const denied = await page.request.post('/api/v1/silences', {
      headers: { 'X-CSRF-Token': s.body.csrf_token },
      data: { repo: 'acme/api', until: new Date(Date.now() + 86400e3).toISOString() },
    });
    assert.equal(denied.status(), 403);
    await shot(page, '20-viewer-alerts');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/signin');
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    assert.equal(await page.getByRole('group', { name: 'Signed in' }).count(), 0);
    assert.equal((await sessionOf(page)).status, 401);
    await page.context().close();
  });

  it('a maintainer creates and deletes a silence with the session (CSRF header) but has no admin pages', async () => {
    const page = await newPage(browser, errors, { withToken: false });
    await signIn(page, users.maintainer, '/alerts');
    await page.getByText(/you can change rules, channels and silences/).waitFor();
    const card = page.getByRole('region', { name: 'Silences' });
    await card.getByRole('button', { name: 'New silence' }).click();
    const comment = `maintainer freeze ${suffix}`;
    const form = page.getByRole('form', { name: 'New silence' });
    await form.getByLabel('Repository').fill('acme/api');
    await form.getByLabel('Comment').fill(comment);
    const later = new Date(Date.now() + 2 * 86400e3);
    const pad = (n) => String(n).padStart(2, '0');
    await form.getByLabel('Until').fill(`${later.getFullYear()}-${pad(later.getMonth() + 1)}-${pad(later.getDate())}T${pad(later.getHours())}:${pad(later.getMinutes())}`);
    await form.getByRole('button', { name: 'Create silence' }).click();
    await card.getByText(`“${comment}”`).waitFor();
    const made = (await api('/api/v1/silences')).body.items.find((x) => x.comment === comment);
    assert.ok(made, 'the silence is stored');
    // The audit log names the maintainer as the one who made it.
    const audit = await api('/api/v1/audit?limit=20', { method: 'GET', token: process.env.CIPULSE_ADMIN_TOKEN });
    assert.equal(audit.status, 200);
    assert.ok(audit.body.entries.some((e) => e.actor === users.maintainer.name), JSON.stringify(audit.body.entries.slice(0, 3)));

    await card.getByRole('listitem', { name: `Silence ${made.id}` }).getByRole('button', { name: 'Delete' }).click();
    await card.getByRole('listitem', { name: `Silence ${made.id}` }).waitFor({ state: 'detached' });
    assert.equal((await api('/api/v1/silences')).body.items.filter((x) => x.comment === comment).length, 0);

    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Users' }).count(), 0);
    await page.goto('/users');
    await page.getByText('Your role (maintainer) cannot see users.').waitFor();
    // Only admins list users: the collector says so too.
    assert.equal((await page.request.get('/api/v1/users')).status(), 403);
    await page.context().close();
  });

  it('an admin sees users and the audit log, and makes a token shown once that then works until revoked', async () => {
    const page = await newPage(browser, errors, { withToken: false });
    await signIn(page, users.admin, '/users');
    const row = page.getByRole('row', { name: `User ${users.viewer.name}` });
    await row.getByRole('combobox', { name: `Role of ${users.viewer.name}` }).waitFor();
    assert.equal(await row.getByRole('combobox').inputValue(), 'viewer');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click();
    const form = page.getByRole('form', { name: 'New token' });
    const name = `web-token-${suffix}`;
    await form.getByLabel('Name').fill(name);
    await form.getByLabel('Scope').selectOption('read');
    await form.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('status', { name: 'New token' });
    const token = (await shown.locator('[data-token]').textContent()).trim();
    assert.ok(token.length >= 20, token);
    // The new token reads the API as a bearer token.
    assert.equal((await fetch(`${BASE}/api/v1/repos`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    await shown.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'detached' });
    // Shown once: the list does not have it.
    assert.equal(await page.getByText(token).count(), 0);

    const tokRow = page.getByRole('row', { name: `Token ${name}` });
    await tokRow.getByRole('button', { name: 'Revoke' }).click();
    await tokRow.getByText(/^revoked /).waitFor();
    assert.equal((await fetch(`${BASE}/api/v1/repos`, { headers: { Authorization: `Bearer ${token}` } })).status, 401);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
    const entries = page.getByRole('table', { name: 'Audit log entries, newest first' });
    await entries.getByText('token.revoke').first().waitFor();
    await entries.getByText('token.create').first().waitFor();
    await shot(page, '21-audit');
    assert.deepEqual(errors, []);
    await page.context().close();
  });
});
