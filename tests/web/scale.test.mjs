// A run with many jobs in the browser: bench/web/run200.sql (the web benchmark's large run) loads
// 70 jobs of 3 steps into a repository of their own. The run page renders long job lists in
// blocks as they are scrolled to; every job must still be reachable, and a link to a job far down
// the list must show that job at once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { launch, newPage, until } from './helpers.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DB_URL = process.env.CIPULSE_DATABASE_URL;
const RUN = 3000000001;
const JOBS = 70;
const jobName = (k) => `test (${['ubuntu-latest', 'windows-latest', 'macos-latest'][k % 3]}, shard ${k}/${JOBS})`;
const jobId = (k) => RUN * 1000 + k;

let browser;
let page;
const errors = [];
// The run's API reads the page made (path and query), in order.
const runReads = [];

before(async () => {
  assert.ok(DB_URL, 'scripts/test-web.sh sets CIPULSE_DATABASE_URL');
  const psql = (args) => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args, DB_URL], { stdio: ['ignore', 'ignore', 'inherit'] });
  psql(['-c', "INSERT INTO repositories (id, full_name) VALUES (1900, 'scale/many'); INSERT INTO workflows (repo_id, id, name, path, state) VALUES (1900, 190001, 'Matrix', '.github/workflows/matrix.yml', 'active')"]);
  psql(['-v', `run_id=${RUN}`, '-v', 'repo_id=1900', '-v', 'workflow_id=190001', '-v', `jobs=${JOBS}`, '-v', 'steps=3',
    '-f', path.join(root, 'bench', 'web', 'run200.sql')]);
  browser = await launch();
  page = await newPage(browser, errors);
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === `/api/v1/runs/${RUN}`) runReads.push(u.search);
  });
});
after(async () => {
  if (browser) await browser.close();
});

describe('a run with many jobs', () => {
  it('renders the jobs as they are scrolled to, every one of them', async () => {
    runReads.length = 0;
    await page.goto(`/runs/${RUN}`);
    await page.getByRole('heading', { level: 1, name: 'Matrix #9999999' }).waitFor();
    await page.getByRole('group', { name: 'Jobs' }).getByText(String(JOBS), { exact: true }).waitFor();
    const jobs = page.getByRole('region', { name: 'Jobs' });
    await jobs.getByRole('heading', { level: 3, name: jobName(1), exact: true }).waitFor();
    // Not all at once: the blocks far below the window are not rendered yet.
    const first = await jobs.getByRole('article').count();
    assert.ok(first < JOBS, `${first} of ${JOBS} job cards rendered before scrolling`);

    // Scrolling down renders the rest, block by block, down to the end of the list.
    await until(async () => {
      if ((await jobs.getByRole('article').count()) === JOBS) return true;
      await page.mouse.wheel(0, 1200);
      return false;
    }, `all ${JOBS} job cards rendered while scrolling down`);
    await page.getByRole('table', { name: 'Jobs timeline' }).getByRole('button', { name: jobName(JOBS), exact: true }).waitFor({ state: 'attached' });

    // The run was read once, with the steps of its failed jobs only (opened at once: job 7
    // failed, run200.sql), not every job's.
    assert.deepEqual(runReads, ['?steps=failed']);
    await page.getByRole('table', { name: `Steps of ${jobName(7)}` }).getByText('Checkout', { exact: true }).waitFor({ state: 'attached' });

    // A job from a block rendered late opens like any other: its steps, read as it opens.
    await jobs.getByRole('button', { name: jobName(JOBS), exact: true }).click();
    await page.getByRole('table', { name: `Steps of ${jobName(JOBS)}` }).getByText('Checkout', { exact: true }).waitFor();
    assert.deepEqual(runReads, ['?steps=failed', `?attempt=1&job=${jobId(JOBS)}`]);
    assert.deepEqual(errors, []);
  });

  it('shows a job far down the list when a link points to it', async () => {
    // Jobs are listed by start; job 49 starts last (run200.sql: job k starts (k mod 50) x 6 s in).
    const k = 49;
    await page.goto(`/runs/${RUN}?job=${jobId(k)}&step=2`);
    const card = page.getByRole('article', { name: `Job ${jobName(k)}` });
    await page.getByRole('table', { name: `Steps of ${jobName(k)}` }).getByText('Checkout', { exact: true }).waitFor({ timeout: 30000 });
    // Scrolled to it, and kept there while the blocks around it render.
    await until(async () => {
      const box = await card.boundingBox();
      const vh = await page.evaluate(() => window.innerHeight);
      return box && box.y >= -1 && box.y < vh;
    }, `job ${k} in the window`);
    assert.deepEqual(errors, []);
  });
});
