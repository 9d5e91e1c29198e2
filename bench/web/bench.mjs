// The dashboard's pages in Chromium (scripts/bench-web.sh): each page is loaded SAMPLES times,
// each time in a fresh browser context (empty cache, as a first visit), the pages taken in turn so
// that the machine's load falls on all of them alike. A sample's time runs from the start of the
// navigation (performance.timeOrigin) to the first frame painted after the page's data is in the
// DOM: the element that shows the data (not the shell or a skeleton) is watched for by a
// MutationObserver installed before the app's script runs; then one animation frame and a task
// (the frame's paint) are waited for. Where the time went comes from the Resource Timing entries
// of the same sample (the HTML and the app's files, the session calls, the page's API calls) and
// from the long tasks the main thread ran. With BENCH_WEB_BASE_URL (a second collector on the same
// database serving another build of the app, e.g. main's), every page is loaded from both in
// turn, and each page's p50 and CPU are printed against the other build's from the same run.
//
//   node bench/web/bench.mjs    environment: BENCH_WEB_URL (the collector), BENCH_WEB_RUN (the
//   run id of the large run), BENCH_WEB_SAMPLES (default 9), BENCH_WEB_DIST (web/dist), CHROMIUM
//   (default /usr/bin/chromium), CIPULSE_WEB_NODE_MODULES (web/node_modules),
//   BENCH_WEB_BASE_URL, BENCH_WEB_BASE_NAME (what the base build is, for the output)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..', '..');
const nodeModules = process.env.CIPULSE_WEB_NODE_MODULES || path.join(root, 'web', 'node_modules');
const { chromium } = createRequire(path.join(nodeModules, 'noop.js'))('playwright-core');

const BASE = process.env.BENCH_WEB_URL || 'http://127.0.0.1:8080';
const OTHER = process.env.BENCH_WEB_BASE_URL || '';
const OTHER_NAME = process.env.BENCH_WEB_BASE_NAME || 'base build';
const RUN = process.env.BENCH_WEB_RUN;
const SAMPLES = Number(process.env.BENCH_WEB_SAMPLES || 9);
const DIST = process.env.BENCH_WEB_DIST || path.join(root, 'web', 'dist');
const TARGET_MS = 1000;
const TARGET_GZIP = 150 * 1024;

// "shell": an address the app does not know (its "Page not found", no data): the cost of the app
// itself on this machine at this moment, the baseline the data pages are read against.
const PAGES = [
  { name: 'shell', path: '/bench/no-such-page', what: 'the app without data' },
  { name: 'overview', path: '/', what: 'repository rows' },
  { name: 'workflow', path: '/repos/org1/repo1/workflows/101', what: 'metrics, charts and recent runs' },
  { name: 'run (200 jobs)', path: `/runs/${RUN}`, what: 'jobs timeline and job list' },
];

// In the page, before the app: watches for the page's content, records when its frame is painted.
// paths: [page name, path] of every page; the document's own path says which page it is (a warm
// tab loads one page after another with this one script).
function probe(paths) {
  const hit = paths.find(([, p]) => p === window.location.pathname);
  if (!hit) return;
  const name = hit[0];
  const q = (s) => document.querySelector(s);
  const ready = {
    shell: () => (q('main h1') || {}).textContent === 'Page not found',
    overview: () => q('main table tbody tr th a[href^="/repos/"]'),
    workflow: () =>
      q('main [role="group"][aria-label="Success rate"]') &&
      q('main svg') &&
      q('main table tbody tr a[href^="/runs/"]') &&
      (q('main h1') || {}).textContent === 'workflow-1',
    'run (200 jobs)': () => q('main [aria-label="Jobs timeline"] [role="row"] button') && q('main section[aria-label="Jobs"] article'),
  }[name];
  const b = (window.__bench = { longTasks: [] });
  b.done = new Promise((resolve) => {
    b.resolve = resolve;
  });
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) b.longTasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // no long task timing: the breakdown leaves it out
  }
  const mo = new MutationObserver(() => {
    if (b.dom || !ready()) return;
    b.dom = performance.now();
    mo.disconnect();
    requestAnimationFrame(() => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        b.paint = performance.now();
        b.resolve();
      };
      ch.port2.postMessage(0);
    });
  });
  mo.observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
}

const PROBE_PATHS = PAGES.map((p) => [p.name, p.path]);

async function newTab(browser, base) {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 }, baseURL: base });
  await ctx.addInitScript(probe, PROBE_PATHS);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { ctx, page, errors };
}

// A warm tab per build: its renderer process and V8 are up (the previous page of the same origin
// ran in it), the HTTP cache is off (each load fetches everything, as a first visit does). Its
// loads against the cold ones (a fresh context each) tell the browser's start-up from the page's.
async function warmTab(browser, base) {
  const tab = await newTab(browser, base);
  tab.cdp = await tab.ctx.newCDPSession(tab.page);
  await tab.cdp.send('Network.enable');
  await tab.cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await tab.cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
  return tab;
}

async function sample(browser, pg, base, warm = null) {
  const { ctx, page, errors } = warm || (await newTab(browser, base));
  errors.length = 0;
  try {
    let cdp = warm && warm.cdp;
    await page.goto(pg.path, { waitUntil: 'commit' });
    // CPU time the page's renderer process used (its main thread; all its threads): the part of
    // the time that does not depend on what else the machine runs. Read once the content is
    // painted; the process is the page's own (a fresh context, after the navigation's commit).
    if (!cdp) {
      cdp = await ctx.newCDPSession(page);
      await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
    }
    // Awaits the probe's promise: no polling, which would itself use the page's main thread.
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${pg.name}: no content after 60 s`)), 60000);
    });
    await Promise.race([page.evaluate(() => window.__bench.done), late]).finally(() => clearTimeout(timer));
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const r = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const b = window.__bench;
      return {
        dom: b.dom,
        paint: b.paint,
        html: nav.responseEnd,
        htmlSize: nav.encodedBodySize,
        fcp: fcp ? fcp.startTime : null,
        longTasks: b.longTasks.filter(([s]) => s < b.paint),
        res: performance.getEntriesByType('resource').map((e) => ({
          name: new URL(e.name).pathname + new URL(e.name).search,
          start: e.startTime,
          end: e.responseEnd,
          ttfb: e.responseStart - e.startTime,
          size: e.encodedBodySize,
        })),
        nodes: document.getElementsByTagName('*').length,
        jobs: document.querySelectorAll('main section[aria-label="Jobs"] article').length,
        rows: document.querySelectorAll('main table tbody tr').length,
      };
    });
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    // In a warm tab these are not the page's own (the counters do not start with the page), and
    // the warm table leaves them out.
    r.cpuMain = metrics.ThreadTime * 1000;
    r.cpuAll = metrics.ProcessTime * 1000;
    return r;
  } finally {
    if (!warm) await ctx.close();
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const med = (xs) => pct(xs, 50);
const ms = (x) => (x == null || Number.isNaN(x) ? '-' : `${Math.round(x)}`);
const ratio = (a, b) => (a == null || !b ? '-' : `x${(a / b).toFixed(2)}`);

// One sample's breakdown: where its time went, in milliseconds from the navigation's start. The
// phases follow the critical path: the HTML, the app's files, the script until its first API
// call, the API calls (the session's and the page's: `queued` is how long after the first API
// call the page's first own call started, i.e. the time spent waiting in series), the page's
// calls, and the rendering from the last answer to the content's frame.
function breakdown(r) {
  const isApi = (e) => e.name.startsWith('/api/');
  const isSession = (e) => /^\/api\/v1\/(auth|session)(\?|$)/.test(e.name);
  const session = r.res.filter((e) => isSession(e) && e.start < r.dom);
  const data = r.res.filter((e) => isApi(e) && !isSession(e) && e.start < r.dom);
  const apis = [...session, ...data];
  const firstApi = apis.length ? Math.min(...apis.map((e) => e.start)) : r.dom;
  // The app's files the page waited for before its first API call (a chunk loaded later, beside
  // the API calls, is not on the path to the first call).
  const assets = r.res.filter((e) => /\.(js|css)$/.test(e.name) && e.start < firstApi);
  const assetsEnd = Math.max(r.html, ...assets.map((e) => e.end));
  const sessionStart = session.length ? Math.min(...session.map((e) => e.start)) : firstApi;
  const sessionEnd = session.length ? Math.max(...session.map((e) => e.end)) : firstApi;
  const dataStart = data.length ? Math.min(...data.map((e) => e.start)) : sessionEnd;
  const dataEnd = data.length ? Math.max(...data.map((e) => e.end)) : sessionEnd;
  const calls = {};
  for (const e of data) {
    const n = e.name.replace(/\?.*/, '');
    calls[n] = { total: e.end - e.start, ttfb: e.ttfb, size: e.size };
  }
  return {
    total: r.paint,
    fcp: r.fcp,
    html: r.html,
    assets: assetsEnd - r.html,
    boot: firstApi - assetsEnd,
    session: sessionEnd - sessionStart,
    queued: dataStart - firstApi,
    data: dataEnd - dataStart,
    render: r.paint - dataEnd,
    cpuMain: r.cpuMain,
    cpuAll: r.cpuAll,
    longTasks: r.longTasks.reduce((a, [, d]) => a + d, 0),
    longAfterData: r.longTasks.filter(([s, d]) => s + d > dataEnd).reduce((a, [s, d]) => a + Math.min(d, s + d - dataEnd), 0),
    calls,
    // Bytes over the wire (bodies as sent, compressed or not) of the HTML and every file and
    // API answer up to the paint.
    bytes: r.htmlSize + r.res.filter((e) => e.start < r.paint).reduce((a, e) => a + e.size, 0),
    nodes: r.nodes,
    jobs: r.jobs,
    rows: r.rows,
  };
}

function bundle() {
  const html = fs.readFileSync(path.join(DIST, 'index.html'), 'utf8');
  // The app's bundle is the largest script index.html loads (early.js, before it, is a few kB).
  const scripts = [...html.matchAll(/<script[^>]+src="\/?assets\/([^"]+\.js)"/g)].map((m) => m[1]);
  const mainName = scripts.sort((a, b) => fs.statSync(path.join(DIST, 'assets', b)).size - fs.statSync(path.join(DIST, 'assets', a)).size)[0];
  const gz = (f) => zlib.gzipSync(fs.readFileSync(f), { level: 9 }).length;
  const assets = fs.readdirSync(path.join(DIST, 'assets'));
  let js = 0;
  let css = 0;
  let main = 0;
  for (const f of assets) {
    const n = gz(path.join(DIST, 'assets', f));
    if (f.endsWith('.js')) js += n;
    if (f.endsWith('.css')) css += n;
    if (f === mainName) main = n;
  }
  const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
  console.log(`bundle (gzip -9): main chunk ${mainName} ${kb(main)}; all JavaScript ${kb(js)} in ${assets.filter((f) => f.endsWith('.js')).length} files; CSS ${kb(css)}; JavaScript + CSS ${kb(js + css)}`);
  console.log(`bundle target: JavaScript < ${kb(TARGET_GZIP)} gzipped: ${js < TARGET_GZIP ? 'met' : 'NOT met'} (all JavaScript ${kb(js)}, main chunk ${kb(main)})`);
}

const row = (...c) => console.log(c.map((x, i) => String(x).padStart(i ? 9 : 16)).join(' '));

const kb = (n) => (n == null ? '-' : (n / 1024).toFixed(1));

// The warm tab's loads against the cold ones: start-up = cold p50 - warm p50, what a fresh
// browser context costs before the page's own work (its renderer process, V8, the HTTP cache).
function reportWarm(cold, warm, title) {
  console.log(`\n${title}, warm tab (its renderer up from the previous page, HTTP cache off), ${SAMPLES} samples each, ms:`);
  row('page', 'p50', 'p95', 'target', 'met', 'cold p50', 'start-up', 'fcp', 'render', 'kB');
  for (const pg of PAGES) {
    const xs = warm.get(pg.name);
    const m = (k) => med(xs.map((x) => x[k]).filter((v) => v != null));
    const p95 = pct(xs.map((x) => x.total), 95);
    const coldP50 = med(cold.get(pg.name).map((x) => x.total));
    const data = pg.name !== 'shell';
    row(pg.name, ms(m('total')), ms(p95), data ? `< ${TARGET_MS}` : '', data ? (p95 < TARGET_MS ? 'yes' : 'NO') : '',
      ms(coldP50), ms(coldP50 - m('total')), ms(m('fcp')), ms(m('render')), kb(m('bytes')));
  }
}

// The tables of one build's samples: got maps a page's name to its breakdowns.
function report(got, title) {
  console.log(`\n${title}: page load to content painted, Chromium headless, ${SAMPLES} samples each (fresh context each: empty cache), ms;`);
  console.log('cpu main / cpu all: CPU time of the page\'s renderer (main thread / all its threads) up to the paint,');
  console.log('what the page costs whatever else runs; over shell: p50 minus the shell\'s p50, x shell: p50 / the shell\'s p50 (same run):');
  row('page', 'p50', 'p95', 'target', 'met', 'cpu main', 'cpu all', 'over shell', 'x shell', 'DOM nodes');
  const shell = med(got.get('shell').map((x) => x.total));
  for (const pg of PAGES) {
    const xs = got.get(pg.name);
    const p50 = med(xs.map((x) => x.total));
    const p95 = pct(xs.map((x) => x.total), 95);
    const data = pg.name !== 'shell';
    row(pg.name, ms(p50), ms(p95), data ? `< ${TARGET_MS}` : '', data ? (p95 < TARGET_MS ? 'yes' : 'NO') : '',
      ms(med(xs.map((x) => x.cpuMain))), ms(med(xs.map((x) => x.cpuAll))), data ? ms(p50 - shell) : '', data ? ratio(p50, shell) : '',
      med(xs.map((x) => x.nodes)));
  }
  console.log('\nwhere the time goes (medians, ms): html = navigation to the HTML in; assets = the app\'s JS/CSS in;');
  console.log('boot = script run to its first API call; session = /auth + /session; queued = the page\'s first call');
  console.log('after the first API call (waiting in series); data = the page\'s API calls (first start to last answer);');
  console.log('render = last answer to content painted; fcp = first contentful paint (the shell or a skeleton);');
  console.log('long = long tasks (main thread > 50 ms) before the paint, of which after the last answer:');
  row('page', 'html', 'assets', 'boot', 'session', 'queued', 'data', 'render', 'fcp', 'long', 'long>data');
  for (const pg of PAGES) {
    const xs = got.get(pg.name);
    const m = (k) => ms(med(xs.map((x) => x[k]).filter((v) => v != null)));
    row(pg.name, m('html'), m('assets'), m('boot'), m('session'), m('queued'), m('data'), m('render'), m('fcp'), m('longTasks'), m('longAfterData'));
  }
  console.log('\nthe pages\' API calls as the browser saw them (median ms request start to last byte, of which to the');
  console.log('first byte; size of the answer):');
  for (const pg of PAGES.filter((p) => p.name !== 'shell')) {
    const xs = got.get(pg.name);
    const names = [...new Set(xs.flatMap((x) => Object.keys(x.calls)))];
    const parts = names.map((n) => {
      const cs = xs.map((x) => x.calls[n]).filter(Boolean);
      return `${n} ${ms(med(cs.map((c) => c.total)))} (${ms(med(cs.map((c) => c.ttfb)))}; ${(med(cs.map((c) => c.size)) / 1024).toFixed(1)} kB)`;
    });
    const last = xs[xs.length - 1];
    const shown = pg.name === 'run (200 jobs)' ? `${last.jobs} job cards` : `${last.rows} table rows`;
    console.log(`  ${pg.name}: ${parts.join('; ')} (${pg.what}; ${shown} in the DOM)`);
  }
}

async function main() {
  if (!RUN) throw new Error('BENCH_WEB_RUN (the large run id) is not set');
  bundle();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const builds = [{ name: 'this build', url: BASE }];
  if (OTHER) builds.push({ name: OTHER_NAME, url: OTHER });
  try {
    // One discarded round: the browser's own first start (its processes, the code cache of V8)
    // and PostgreSQL's cache are not the page's cost.
    for (const b of builds) b.tab = await warmTab(browser, b.url);
    for (const pg of PAGES) {
      for (const b of builds) {
        await sample(browser, pg, b.url);
        await sample(browser, pg, b.url, b.tab);
      }
    }
    for (const b of builds) {
      b.got = new Map(PAGES.map((p) => [p.name, []]));
      b.warm = new Map(PAGES.map((p) => [p.name, []]));
    }
    // The builds alternate page by page (which goes first alternates too), so that the machine's
    // load falls on both alike; each page is loaded cold (a fresh context) and then warm (the
    // build's warm tab).
    for (let i = 0; i < SAMPLES; i++) {
      for (const pg of PAGES) {
        for (const b of i % 2 ? [...builds].reverse() : builds) {
          b.got.get(pg.name).push(breakdown(await sample(browser, pg, b.url)));
          b.warm.get(pg.name).push(breakdown(await sample(browser, pg, b.url, b.tab)));
        }
      }
    }
    for (const b of builds) {
      const title = builds.length > 1 ? `${b.name} (${b.url})` : 'this build';
      report(b.got, title);
      reportWarm(b.got, b.warm, title);
    }
    if (builds.length > 1) {
      const [a, o] = builds;
      console.log(`\nthis build against ${o.name}, same run (medians; ratio = this / ${o.name}):`);
      row('page', 'p50', 'base p50', 'ratio', 'warm p50', 'base', 'ratio', 'cpu main', 'base cpu', 'ratio', 'kB', 'base kB');
      for (const pg of PAGES) {
        const m = (b, k, set = 'got') => med(b[set].get(pg.name).map((x) => x[k]));
        row(pg.name, ms(m(a, 'total')), ms(m(o, 'total')), ratio(m(a, 'total'), m(o, 'total')),
          ms(m(a, 'total', 'warm')), ms(m(o, 'total', 'warm')), ratio(m(a, 'total', 'warm'), m(o, 'total', 'warm')),
          ms(m(a, 'cpuMain')), ms(m(o, 'cpuMain')), ratio(m(a, 'cpuMain'), m(o, 'cpuMain')),
          kb(m(a, 'bytes')), kb(m(o, 'bytes')));
      }
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`bench-web: ${e.stack || e}`);
  process.exit(1);
});
