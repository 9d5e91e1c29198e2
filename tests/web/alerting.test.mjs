// Browser tests of alerting management on the alerts page, run by scripts/test-web.sh against
// the real collector (CIPULSE_ADMIN_TOKEN set, private targets allowed) and PostgreSQL. Every
// change made through the page is checked through the API too, and every test removes what it
// made except the repository and alert of the last one.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ADMIN, BASE, api, launch, newPage, shot, until } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let browser;
let page;
const errors = [];

/**
 * An HTTP stand-in for a webhook receiver: records every request and answers with `status`
 * (200 unless changed). `next()` resolves with the next request to arrive.
 */
function standIn() {
  const self = { requests: [], status: 200, waiters: [] };
  self.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      self.requests.push(r);
      res.writeHead(self.status, { 'Content-Type': 'text/plain' });
      res.end(self.status < 300 ? 'ok' : 'nope');
      for (const w of self.waiters.splice(0)) w(r);
    });
  });
  self.next = () => new Promise((resolve) => self.waiters.push(resolve));
  return new Promise((resolve) => self.server.listen(0, '127.0.0.1', () => {
    self.url = `http://127.0.0.1:${self.server.address().port}`;
    resolve(self);
  }));
}

let receiver;

before(async () => {
  assert.ok(ADMIN, 'scripts/test-web.sh sets CIPULSE_ADMIN_TOKEN');
  browser = await launch();
  page = await newPage(browser, errors, { withAdmin: true });
  receiver = await standIn();
});
after(async () => {
  if (browser) await browser.close();
  if (receiver) receiver.server.close();
});

async function settings() {
  const res = await api('/api/v1/settings/alerts');
  assert.equal(res.status, 200);
  return res.body;
}

describe('alerting without the admin token', () => {
  it('says that writes need it, and takes it', async () => {
    const p = await newPage(browser, errors);
    try {
      await p.goto('/alerts');
      const bar = p.getByRole('form', { name: 'Admin token' });
      await bar.getByText(/needs the collector's admin token/).waitFor();
      const rules = p.getByRole('region', { name: 'Alert rules' });
      await rules.getByText(/Read-only: creating, editing and deleting rules need the admin token/).waitFor();
      assert.equal(await rules.getByRole('button', { name: 'New rule' }).isDisabled(), true);
      assert.equal(await p.getByRole('region', { name: 'Notification channels' }).getByRole('button', { name: 'Send test' }).first().isDisabled(), true);
      assert.equal(await p.getByRole('region', { name: 'Silences' }).getByRole('button', { name: 'New silence' }).isDisabled(), true);
      await shot(p, '10-alerting-read-only');

      await bar.getByLabel('Admin token').fill(ADMIN);
      await bar.getByRole('button', { name: 'Use admin token' }).click();
      await p.getByRole('button', { name: 'Forget the admin token' }).waitFor();
      assert.equal(await rules.getByRole('button', { name: 'New rule' }).isDisabled(), false);
      assert.equal(await p.evaluate(() => window.localStorage.getItem('cipulse.adminToken')), ADMIN);
      await p.getByRole('button', { name: 'Forget the admin token' }).click();
      await bar.getByLabel('Admin token').waitFor();
      assert.equal(await p.evaluate(() => window.localStorage.getItem('cipulse.adminToken')), null);
    } finally {
      await p.context().close();
    }
  });
});

describe('alert rules', () => {
  it('are created, refused with the message beside the field, edited, disabled and deleted', async () => {
    const name = 'web-regression';
    await page.goto('/alerts');
    const card = page.getByRole('region', { name: 'Alert rules' });
    await card.getByRole('button', { name: 'New rule' }).click();
    const form = page.getByRole('form', { name: 'New rule' });
    await form.getByLabel('Name').fill(name);
    await form.getByLabel('Kind').selectOption('regression');
    await form.getByLabel('Repository').fill('acme/api');
    await form.getByRole('group', { name: 'Channels' }).getByLabel('team-slack').check();

    // A required parameter left out: the API names it and the page shows its message there.
    const missing = await api('/api/v1/settings/alerts', { method: 'POST', body: { rules: [{ name, kind: 'regression', repo: 'acme/api' }] } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.param, 'rules[0].params.threshold');
    await form.getByRole('button', { name: 'Create rule' }).click();
    const thresholdError = form.locator('[data-field-error="threshold"]');
    await thresholdError.waitFor();
    assert.equal(await thresholdError.innerText(), missing.body.error.message.replace(/^parameter "[^"]*": /, ''));
    assert.equal(await form.getByLabel('Threshold').getAttribute('aria-invalid'), 'true');

    // A value out of range: the API's own message, beside the field.
    const bad = await api('/api/v1/settings/alerts', { method: 'POST', body: { rules: [{ name, kind: 'regression', params: { threshold: 1.5 } }] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'rules[0].params.threshold');
    await form.getByLabel('Threshold').fill('1.5');
    await form.getByRole('button', { name: 'Create rule' }).click();
    await thresholdError.getByText(bad.body.error.message.replace(/^parameter "[^"]*": /, ''), { exact: true }).waitFor();
    assert.equal(await form.locator('[data-field-error]').count(), 1);
    await shot(page, '11-rule-error');
    assert.equal((await settings()).rules.filter((r) => r.name === name).length, 0, 'nothing stored on a 400');

    await form.getByLabel('Threshold').fill('0.8');
    await form.getByLabel('Window (seconds)').fill('86400');
    await form.getByLabel('Minimum runs').fill('3');
    await form.getByRole('button', { name: 'Create rule' }).click();
    const row = card.getByRole('listitem', { name: `Rule ${name}` });
    await row.getByText('when the success rate is below 80% over 1 day').waitFor();
    let rule = (await settings()).rules.find((r) => r.name === name);
    assert.ok(rule, 'the rule is stored');
    assert.deepEqual({ kind: rule.kind, repo: rule.repo, params: rule.params, channels: rule.channels, enabled: rule.enabled, severity: rule.severity },
      { kind: 'regression', repo: 'acme/api', params: { threshold: 0.8, window_s: 86400, min_runs: 3 }, channels: ['team-slack'], enabled: true, severity: 'critical' });

    // Edit: the form starts from the stored rule.
    await row.getByRole('button', { name: 'Edit' }).click();
    const edit = page.getByRole('form', { name: `Edit rule ${name}` });
    assert.equal(await edit.getByLabel('Threshold').inputValue(), '0.8');
    await edit.getByLabel('Threshold').fill('0.9');
    await edit.getByLabel('Severity').selectOption('warning');
    await edit.getByRole('button', { name: 'Save rule' }).click();
    await row.getByText('when the success rate is below 90% over 1 day').waitFor();
    rule = (await settings()).rules.find((r) => r.name === name);
    assert.equal(rule.params.threshold, 0.9);
    assert.equal(rule.severity, 'warning');
    assert.equal(rule.params.min_runs, 3);

    // Disable and enable again.
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByText('disabled', { exact: true }).waitFor();
    assert.equal((await settings()).rules.find((r) => r.name === name).enabled, false);
    await row.getByRole('button', { name: 'Enable' }).click();
    await row.getByRole('button', { name: 'Disable' }).waitFor();
    assert.equal((await settings()).rules.find((r) => r.name === name).enabled, true);

    // Delete asks once more.
    await row.getByRole('button', { name: 'Delete', exact: true }).click();
    await row.getByRole('button', { name: `Delete rule ${name}` }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await settings()).rules.filter((r) => r.name === name).length, 0);
    assert.deepEqual(errors, []);
  });
});

describe('notification channels', () => {
  it('are added with a write-only destination and answer a test message', async () => {
    const name = 'web-hook';
    const target = `${receiver.url}/hook`;
    await page.goto('/alerts');
    const card = page.getByRole('region', { name: 'Notification channels' });
    await card.getByRole('button', { name: 'New channel' }).click();
    const form = page.getByRole('form', { name: 'New channel' });
    await form.getByLabel('Name').fill(name);
    await form.getByLabel('Kind').selectOption('webhook');
    const dest = form.getByLabel('Webhook URL (write-only)');
    assert.equal(await dest.getAttribute('type'), 'password');

    // A destination that is no URL: refused beside the field, nothing stored.
    await dest.fill('ftp://example.invalid/x');
    await form.getByLabel('Signing secret (write-only)').fill('s3cret-s3cret-s3cret');
    await form.getByRole('button', { name: 'Add channel' }).click();
    await form.locator('[data-field-error="target"]').getByText('must be an http(s) URL', { exact: false }).waitFor();
    assert.equal((await settings()).channels.filter((c) => c.name === name).length, 0);

    await dest.fill(target);
    await form.getByRole('button', { name: 'Add channel' }).click();
    const row = card.getByRole('listitem', { name: `Channel ${name}` });
    await row.getByText('Webhook', { exact: true }).waitFor();
    const stored = (await settings()).channels.find((c) => c.name === name);
    assert.ok(stored, 'the channel is stored');
    assert.deepEqual({ kind: stored.kind, target_set: stored.target_set, secret_set: stored.secret_set }, { kind: 'webhook', target_set: true, secret_set: true });
    // The destination is never shown again, not even in the page's markup.
    assert.equal((await page.content()).includes(receiver.url), false);

    // "Send test": the receiver gets the message and the page shows its answer.
    const got = receiver.next();
    await row.getByRole('button', { name: 'Send test' }).click();
    const req = await got;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/hook');
    const sig = crypto.createHmac('sha256', 's3cret-s3cret-s3cret').update(req.body).digest('hex');
    assert.equal(req.headers['x-cipulse-signature-256'], `sha256=${sig}`);
    const status = row.getByRole('status', { name: `Test of ${name}` });
    await status.getByText('Delivered (receiver status 200)', { exact: true }).waitFor();
    assert.equal(await status.getAttribute('data-delivered'), 'true');
    await shot(page, '12-channel-test');

    receiver.status = 500;
    const before500 = receiver.requests.length;
    await row.getByRole('button', { name: 'Send test' }).click();
    await status.getByText(/^Not delivered \(receiver status 500\)/).waitFor();
    assert.equal(await status.getAttribute('data-delivered'), 'false');
    assert.equal(receiver.requests.length, before500 + 1);
    receiver.status = 200;

    // Replacing keeps the stored destination when the field is left blank, and can disable.
    await row.getByRole('button', { name: 'Replace' }).click();
    const rep = page.getByRole('form', { name: `Replace channel ${name}` });
    assert.equal(await rep.getByLabel('Webhook URL (write-only)').inputValue(), '');
    await rep.getByLabel('Enabled').uncheck();
    await rep.getByRole('button', { name: 'Replace channel' }).click();
    await row.getByText('disabled', { exact: true }).waitFor();
    const after = (await settings()).channels.find((c) => c.name === name);
    assert.equal(after.enabled, false);
    assert.equal(after.target_set, true);
    assert.deepEqual(errors, []);
  });
});

describe('silences', () => {
  it('are created, refused with the message beside the field, and deleted', async () => {
    const comment = `web test freeze ${Date.now()}`;
    await page.goto('/alerts');
    const card = page.getByRole('region', { name: 'Silences' });
    await card.getByRole('button', { name: 'New silence' }).click();
    const form = page.getByRole('form', { name: 'New silence' });
    await form.getByLabel('Repository').fill('acme/api');
    await form.getByLabel('Branch').fill('main');
    await form.getByLabel('Alert kind').selectOption('failure');
    await form.getByLabel('Comment').fill(comment);
    // A time in the past is refused (the API's message, beside "Until").
    await form.getByLabel('Until').fill('2001-01-01T00:00');
    await form.getByRole('button', { name: 'Create silence' }).click();
    await form.locator('[data-field-error="until"]').getByText('must be a time in the future (ISO 8601)', { exact: true }).waitFor();
    let list = (await api('/api/v1/silences')).body.items;
    assert.equal(list.filter((s) => s.comment === comment).length, 0);

    const later = new Date(Date.now() + 3 * 86400 * 1000);
    const pad = (n) => String(n).padStart(2, '0');
    const local = `${later.getFullYear()}-${pad(later.getMonth() + 1)}-${pad(later.getDate())}T${pad(later.getHours())}:${pad(later.getMinutes())}`;
    await form.getByLabel('Until').fill(local);
    await form.getByRole('button', { name: 'Create silence' }).click();
    list = (await until(async () => {
      const l = (await api('/api/v1/silences')).body.items;
      return l.some((s) => s.comment === comment) && l;
    }, 'the silence'));
    const s = list.find((x) => x.comment === comment);
    assert.deepEqual({ repo: s.repo, branch: s.branch, kind: s.kind, active: s.active }, { repo: 'acme/api', branch: 'main', kind: 'failure', active: true });
    assert.ok(Math.abs(Date.parse(s.until) - new Date(local).getTime()) < 60000, `${s.until} vs ${local}`);
    const row = card.getByRole('listitem', { name: `Silence ${s.id}` });
    await row.getByText('acme/api, branch main, failure alerts').waitFor();
    await row.getByText(`“${comment}”`).waitFor();
    await shot(page, '13-silences');

    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await api('/api/v1/silences')).body.items.filter((x) => x.comment === comment).length, 0);
    assert.deepEqual(errors, []);
  });
});

describe('open alerts', () => {
  it('are filtered and acknowledged', async () => {
    // A repository registered through the API, a failure rule for it, and a failed run sent
    // as GitHub sends it: a signed workflow_run webhook.
    const full = 'acme/alerting-web';
    const reg = await api('/api/v1/repos', { method: 'POST', body: { full_name: full } });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const rules = await api('/api/v1/settings/alerts', {
      method: 'POST',
      body: {
        channels: [{ name: 'web-ack-hook', kind: 'webhook', target: `${receiver.url}/alert` }],
        rules: [{ name: 'web-failures', kind: 'failure', repo: full, severity: 'warning', channels: ['web-ack-hook'] }],
      },
    });
    assert.equal(rules.status, 200, JSON.stringify(rules.body));
    const ruleId = rules.body.rules.find((r) => r.name === 'web-failures').id;

    const payload = JSON.parse(fs.readFileSync(path.join(here, '..', 'fixtures', 'github', 'webhooks', 'workflow_run.completed.json'), 'utf8'));
    const now = new Date();
    const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const runId = 9100001;
    Object.assign(payload.repository, { id: 7070, full_name: full, name: 'alerting-web', default_branch: 'main', html_url: `https://github.com/${full}` });
    Object.assign(payload.workflow, { id: 7071, name: 'Deploy', path: '.github/workflows/deploy.yml' });
    Object.assign(payload.workflow_run, {
      id: runId, run_attempt: 1, run_number: 12, conclusion: 'failure', status: 'completed', head_branch: 'main',
      head_sha: 'ab'.repeat(20), name: 'Deploy', workflow_id: 7071, path: '.github/workflows/deploy.yml',
      created_at: iso(new Date(now - 180000)), run_started_at: iso(new Date(now - 180000)), updated_at: iso(now),
      html_url: `https://github.com/${full}/actions/runs/${runId}`, repository: { id: 7070, full_name: full },
    });
    const body = JSON.stringify(payload);
    const hook = await fetch(`${BASE}/webhook/github`, {
      method: 'POST',
      body,
      headers: {
        'Content-Type': 'application/json', 'X-GitHub-Event': 'workflow_run', 'X-GitHub-Delivery': crypto.randomUUID(),
        'X-Hub-Signature-256': `sha256=${crypto.createHmac('sha256', reg.body.webhook_secret).update(body).digest('hex')}`,
      },
    });
    assert.ok(hook.status === 200 || hook.status === 202, `webhook answered ${hook.status}`);
    const alert = await until(async () => {
      const l = (await api(`/api/v1/alerts?repo=${encodeURIComponent(full)}&state=open`)).body.items;
      return l && l[0];
    }, 'the failure alert');
    assert.equal(alert.kind, 'failure');
    assert.equal(alert.run_id, runId);
    assert.equal(alert.acked_at, null);
    // The open message reaches the receiver through the outbox.
    const sent = await until(() => receiver.requests.find((r) => r.url === '/alert'), 'the open message');
    assert.ok(sent.body.includes(String(runId)), sent.body);
    const detail0 = await until(async () => {
      const d = (await api(`/api/v1/alerts/${alert.id}`)).body;
      return d.deliveries && d.deliveries.length === 1 && d.deliveries[0].state === 'sent' && d;
    }, 'the delivery to be recorded');
    assert.deepEqual({ channel: detail0.deliveries[0].channel, event: detail0.deliveries[0].event, status: detail0.deliveries[0].last_status },
      { channel: 'web-ack-hook', event: 'open', status: 200 });

    // Filters live in the URL and narrow the list.
    await page.goto(`/alerts?repo=${encodeURIComponent(full)}`);
    const list = page.getByRole('list', { name: 'Alerts' });
    const item = list.getByRole('listitem', { name: `Alert ${alert.id}` });
    await item.getByRole('link', { name: `run ${runId}` }).waitFor();
    await page.getByLabel('Kind').selectOption('slow_build');
    await page.waitForURL(/kind=slow_build/);
    await page.getByText('No open alerts').waitFor();
    await page.getByLabel('Kind').selectOption('failure');
    await page.getByLabel('Severity').selectOption('warning');
    await page.waitForURL(/severity=warning/);
    await item.waitFor();
    assert.equal(await item.getByText('warning', { exact: true }).count(), 1);

    // Its deliveries, as the API lists them.
    await item.getByRole('button', { name: 'Deliveries' }).click();
    const table = item.getByRole('table', { name: `Deliveries of alert ${alert.id}` });
    const drow = table.getByRole('row').filter({ hasText: 'web-ack-hook' });
    await drow.waitFor();
    const cells = (await drow.getByRole('cell').allInnerTexts()).map((c) => c.trim());
    assert.deepEqual(cells.slice(0, 5), ['web-ack-hook (webhook)', 'open', 'sent', String(detail0.deliveries[0].attempts), '200']);

    // Acknowledge.
    await item.getByRole('button', { name: 'Acknowledge' }).click();
    await item.getByText(/^acknowledged /).waitFor();
    assert.equal(await item.getByRole('button', { name: 'Acknowledge' }).count(), 0);
    const detail = await api(`/api/v1/alerts/${alert.id}`);
    assert.equal(detail.status, 200);
    assert.ok(detail.body.acked_at, JSON.stringify(detail.body));
    await shot(page, '14-ack');

    // The link goes to the run.
    await item.getByRole('link', { name: `run ${runId}` }).click();
    await page.waitForURL(new RegExp(`/runs/${runId}`));

    const del = await api('/api/v1/settings/alerts', { method: 'POST', body: { rules: [{ id: ruleId, delete: true }] } });
    assert.equal(del.status, 200);
    assert.deepEqual(errors, []);
  });
});
