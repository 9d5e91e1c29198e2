// Browser tests of the dashboard, run by scripts/test-web.sh against the real collector serving
// web/dist, with tests/web/sample.sql loaded into its database.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TOKEN, api, launch, newPage, percent, shot } from './helpers.mjs';

let browser;
let page;
const errors = [];

before(async () => {
  browser = await launch();
  page = await newPage(browser, errors);
});
after(async () => {
  if (browser) await browser.close();
});

const PERCENT = /^\d{1,3}(\.\d)?%$/;
const DURATION = /^(\d+s|\d+m \d\ds|\d+h \d\dm)$/;

describe('overview', () => {
  it('lists the repositories with their numbers', async () => {
    await page.goto('/');
    const table = page.getByRole('table', { name: 'Repositories' });
    const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: 'acme/api', exact: true }) });
    await row.waitFor();
    const cells = await row.getByRole('cell').allInnerTexts();
    // The API's number, not just something shaped like a percentage.
    const repos = await api('/api/v1/repos?limit=100');
    assert.equal(repos.status, 200);
    const item = repos.body.items.find((i) => i.full_name === 'acme/api');
    assert.ok(typeof item.success_rate === 'number', JSON.stringify(item));
    assert.ok(cells.some((c) => c.trim() === percent(item.success_rate)),
      `success rate ${percent(item.success_rate)} in ${JSON.stringify(cells)}`);
    assert.ok(cells.some((c) => DURATION.test(c.trim())), `an average duration in ${JSON.stringify(cells)}`);
    for (const name of ['acme/web', 'acme/empty']) {
      await table.getByRole('link', { name, exact: true }).waitFor();
    }
    // As many as the API lists (the alerting tests register one of their own).
    assert.ok(repos.body.items.length >= 3);
    assert.equal(await page.getByRole('group', { name: 'Repositories' }).getByText(String(repos.body.items.length), { exact: true }).count(), 1);
    await shot(page, '01-overview');
  });
});

describe('navigation', () => {
  it('goes from the overview to a repository, its workflow and a run', async () => {
    await page.goto('/');
    await page.getByRole('table', { name: 'Repositories' }).getByRole('link', { name: 'acme/api', exact: true }).click();
    await page.waitForURL('**/repos/acme/api');
    await page.getByRole('heading', { level: 1, name: 'acme/api' }).waitFor();
    const wfs = page.getByRole('table', { name: 'Workflows' });
    await wfs.getByRole('link', { name: 'CI', exact: true }).waitFor();
    await wfs.getByRole('link', { name: 'Release', exact: true }).waitFor();
    const runs = page.getByRole('table', { name: 'Runs of acme/api' });
    await runs.getByRole('link', { name: '#57' }).waitFor();
    await shot(page, '02-repository');

    // Filters narrow the runs and live in the URL.
    await page.getByLabel('Conclusion').selectOption('failure');
    await page.waitForURL(/conclusion=failure/);
    await runs.locator('[data-outcome]').first().waitFor();
    await page.waitForFunction(() => {
      const t = document.querySelector('table[aria-label], table');
      const badges = [...document.querySelectorAll('tbody [data-outcome]')];
      return t && badges.length > 0 && badges.every((b) => b.getAttribute('data-outcome') === 'failure');
    });
    await page.getByLabel('Branch').fill('feature/login');
    await page.getByLabel('Branch').press('Enter');
    await page.waitForURL(/branch=feature%2Flogin/);
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.waitForURL((u) => !u.search.includes('conclusion'));

    // The workflow page: metrics for a window and the charts.
    await wfs.getByRole('link', { name: 'CI', exact: true }).click();
    await page.waitForURL('**/repos/acme/api/workflows/501**');
    const rate = page.getByRole('group', { name: 'Success rate' });
    await rate.getByText(PERCENT).waitFor();
    await page.getByRole('group', { name: 'p95 duration' }).getByText(DURATION).waitFor();
    await page.getByRole('img', { name: /^Runs per / }).waitFor();
    await page.getByRole('img', { name: /p50, p95 and average/ }).waitFor();
    await page.getByRole('radio', { name: '30 days' }).click();
    await page.waitForURL(/window=30d/);
    await page.getByRole('img', { name: /^Runs per day/ }).waitFor();
    await page.getByRole('radio', { name: '24 hours' }).click();
    await page.getByRole('img', { name: /^Runs per hour/ }).waitFor();
    await page.getByRole('radio', { name: '7 days' }).click();
    await page.waitForURL(/window=7d/);
    const week = (await api('/api/v1/metrics?repo=acme/api&workflow=501&window=7d')).body;
    assert.ok(typeof week.success_rate === 'number', JSON.stringify(week));
    await rate.getByText(percent(week.success_rate), { exact: true }).waitFor();
    await shot(page, '03-workflow');

    // And a run from the workflow's recent runs.
    await page.getByRole('table', { name: /Recent runs of CI/ }).getByRole('link', { name: '#57' }).click();
    await page.waitForURL(/\/runs\/123/);
    await page.getByRole('heading', { level: 1, name: 'CI #57' }).waitFor();
    assert.deepEqual(errors, []);
  });
});

describe('run detail', () => {
  it('shows the attempts, the jobs and their steps', async () => {
    await page.goto('/runs/123');
    await page.getByRole('heading', { level: 1, name: 'CI #57' }).waitFor();
    const attempts = page.getByRole('navigation', { name: 'Attempts' });
    await attempts.getByRole('button', { name: /#1/ }).waitFor();
    await attempts.getByRole('button', { name: /#2/ }).waitFor();
    const jobs = page.getByRole('region', { name: 'Jobs' });
    for (const name of ['lint', 'test', 'build']) await jobs.getByRole('heading', { level: 3, name, exact: true }).waitFor();
    await page.getByRole('table', { name: 'Jobs timeline' }).waitFor();

    // Open the "test" job: its steps on a timeline.
    await jobs.getByRole('button', { name: 'test', exact: true }).click();
    const steps = page.getByRole('table', { name: 'Steps of test' });
    for (const name of ['Set up job', 'Checkout', 'Run tests', 'Complete job']) await steps.getByText(name, { exact: true }).waitFor();
    await shot(page, '04-run');

    // The first attempt failed in "test".
    await attempts.getByRole('button', { name: /#1/ }).click();
    await page.waitForURL(/attempt=1/);
    await page.getByRole('article', { name: 'Job test' }).locator('[data-outcome="failure"]').first().waitFor();
  });
});

describe('log viewer', () => {
  it('renders ANSI colours as styled spans and HTML in logs as text', async () => {
    await page.goto('/runs/123?attempt=1&job=12302&step=3');
    const logs = page.getByRole('region', { name: 'Logs of test' });
    const failed = logs.locator('span', { hasText: /^FAILED$/ });
    await failed.waitFor();
    assert.equal(await failed.evaluate((el) => getComputedStyle(el).color), 'rgb(248, 113, 113)');
    // 256-colour and truecolour codes too.
    assert.equal(await logs.locator('span', { hasText: /^500$/ }).evaluate((el) => getComputedStyle(el).color), 'rgb(255, 135, 0)');

    // Hostile HTML stays text: visible as written, no element created, no script run.
    await logs.getByText('<img src=x onerror="window.__cipulse_xss=1">').waitFor();
    await logs.getByText('<script>window.__cipulse_xss=2</script>').waitFor();
    assert.equal(await logs.locator('img').count(), 0);
    assert.equal(await page.locator('main img, main script').count(), 0);
    assert.equal(await page.evaluate(() => window.__cipulse_xss), undefined);
    // The step asked for is open and says how it ended.
    await logs.getByText('exit code 2').waitFor();
    await shot(page, '05-logs');

    // "Find in log" marks the matches.
    await logs.getByLabel('Find in log').fill('econnrefused');
    await logs.locator('mark', { hasText: 'ECONNREFUSED' }).waitFor();
    assert.deepEqual(errors, []);
  });
});

describe('deep links', () => {
  it('loads app paths directly from the collector', async () => {
    const p = await newPage(browser, errors);
    try {
      const res = await p.goto('/runs/123');
      assert.equal(res.status(), 200);
      await p.getByRole('heading', { level: 1, name: 'CI #57' }).waitFor();
      await p.goto('/repos/acme/web/workflows/601?window=30d');
      await p.getByRole('heading', { level: 1, name: 'Build' }).waitFor();
      await p.getByRole('radio', { name: '30 days', checked: true }).waitFor();
      await p.goto('/no/such/page');
      await p.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor();
      // Back and forward go through the app's history.
      await p.goto('/');
      await p.getByRole('link', { name: 'acme/web', exact: true }).click();
      await p.waitForURL('**/repos/acme/web');
      await p.goBack();
      await p.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    } finally {
      await p.context().close();
    }
  });
});

describe('log search', () => {
  it('finds a line and links to it', async () => {
    await page.goto('/search');
    await page.getByLabel('Text').fill('ECONNREFUSED');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=ECONNREFUSED/);
    const results = page.getByRole('list', { name: 'Search results' });
    const hit = results.getByRole('listitem').filter({ hasText: 'connect ECONNREFUSED 127.0.0.1:5432' });
    await hit.first().waitFor();
    await results.locator('mark', { hasText: 'ECONNREFUSED' }).first().waitFor();
    await shot(page, '06-search');
    await hit.first().getByRole('link', { name: /run 123/ }).click();
    await page.waitForURL(/\/runs\/123\?.*job=12302/);
    await page.getByRole('region', { name: 'Logs of test' }).getByText('connect ECONNREFUSED').waitFor();

    await page.goto('/search?q=no-such-text-anywhere-4711');
    await page.getByText('No matching lines').waitFor();
  });
});

describe('alerts', () => {
  it('lists open and resolved alerts', async () => {
    await page.goto('/alerts');
    const list = page.getByRole('list', { name: 'Alerts' });
    await list.getByText('CI failed on main (acme/api #93)').waitFor();
    // The workflow is named, and the alert links to its run.
    await list.getByRole('link', { name: 'CI', exact: true }).waitFor();
    await list.getByRole('link', { name: 'run 200007' }).waitFor();
    await shot(page, '07-alerts');
    // Rules and channels, without the channel's secret destination.
    const rules = page.getByRole('list', { name: 'Alert rules' });
    await rules.getByText('when the average duration is above 10m 00s over 1 day').waitFor();
    await rules.getByText(', workflow CI', { exact: false }).waitFor();
    await rules.getByText('main-failures').waitFor();
    await page.getByRole('list', { name: 'Notification channels' }).getByText('team-slack').waitFor();
    assert.equal(await page.getByText(/SECRETSECRET|hooks\.slack/).count(), 0);
    await page.getByRole('radio', { name: 'Resolved' }).click();
    await page.getByText('Build failed 3 of the last 5 runs on main').waitFor();
    assert.equal(await page.getByText('CI failed on main (acme/api #93)').count(), 0);
  });
});

describe('errors', () => {
  it("shows the API's error message", async () => {
    const direct = await api('/api/v1/runs/999999');
    assert.equal(direct.status, 404);
    const message = direct.body.error.message;
    assert.ok(message);
    await page.goto('/runs/999999');
    const alert = page.getByRole('alert');
    await alert.getByText(message, { exact: true }).waitFor();
    await alert.getByText(/HTTP 404/).waitFor();
    await shot(page, '08-error');
  });
});

describe('read token', () => {
  it('asks for the token when the collector wants one, and then works', async (t) => {
    if (!TOKEN) {
      t.skip('the collector runs without CIPULSE_READ_TOKEN');
      return;
    }
    assert.equal((await api('/api/v1/repos', { token: '' })).status, 401);
    const p = await newPage(browser, errors, { withToken: false });
    try {
      await p.goto('/');
      const alert = p.getByRole('alert');
      await alert.getByText(/HTTP 401/).waitFor();
      await alert.getByLabel('Read token').fill('not-the-token');
      await alert.getByRole('button', { name: 'Use token' }).click();
      await p.getByRole('alert').getByLabel(/saved token was refused/).waitFor();
      await shot(p, '09-token');
      await p.getByRole('alert').getByLabel(/Read token/).fill(TOKEN);
      await p.getByRole('alert').getByRole('button', { name: 'Use token' }).click();
      await p.getByRole('table', { name: 'Repositories' }).getByRole('link', { name: 'acme/api', exact: true }).waitFor();
      await p.getByRole('button', { name: 'Forget the read token' }).click();
      await p.getByRole('alert').getByText(/HTTP 401/).waitFor();
    } finally {
      await p.context().close();
    }
  });
});
