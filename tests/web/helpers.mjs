// Shared set-up of the browser tests: one headless Debian Chromium (playwright-core, never a
// downloaded browser), the collector's URL, and screenshots into CIPULSE_WEB_SHOTS.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = process.env.CIPULSE_WEB_NODE_MODULES || path.join(here, '..', '..', 'web', 'node_modules');
const require = createRequire(path.join(nodeModules, 'noop.js'));
const { chromium } = require('playwright-core');

export const BASE = process.env.CIPULSE_URL || 'http://127.0.0.1:8080';
export const SHOTS = process.env.CIPULSE_WEB_SHOTS || null;
// The collector's read token (scripts/test-web.sh sets CIPULSE_READ_TOKEN on both sides).
export const TOKEN = process.env.CIPULSE_READ_TOKEN || '';
// The collector's admin token, for writes (alert rules, channels, silences, acks).
export const ADMIN = process.env.CIPULSE_ADMIN_TOKEN || '';

/**
 * The API's ratio as the percentage the dashboard must print (one decimal, "100%" and "0%"
 * only when exact), written here independently of the app's own formatter.
 */
export function percent(ratio) {
  if (ratio === 1 || ratio === 0) return `${ratio * 100}%`;
  let text = (ratio * 100).toFixed(1);
  if (text === '100.0') text = '99.9';
  if (text === '0.0') text = '0.1';
  return `${text}%`;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A new page in a fresh browser context; uncaught page errors and Content-Security-Policy
 * violations (the collector's CSP allows no inline script or style) go to `errors`. Unless
 * `withToken` is false, the read token is in the app's storage as if the user had typed it in;
 * with `withAdmin`, the admin token too.
 */
export async function newPage(browser, errors, { withToken = true, withAdmin = false } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 }, baseURL: BASE });
  if (withToken && TOKEN) {
    await ctx.addInitScript((t) => window.localStorage.setItem('cipulse.readToken', t), TOKEN);
  }
  if (withAdmin && ADMIN) {
    await ctx.addInitScript((t) => window.localStorage.setItem('cipulse.adminToken', t), ADMIN);
  }
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  return page;
}

export async function shot(page, name) {
  if (!SHOTS) return;
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * Calls an API path on the collector directly (to compare what the page shows): a GET with the
 * read token, or with `method` and a JSON `body` (writes use the admin token by default).
 */
export async function api(p, { token, method = 'GET', body } = {}) {
  const tok = token !== undefined ? token : method === 'GET' ? TOKEN : ADMIN;
  const headers = tok ? { Authorization: `Bearer ${tok}` } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(BASE + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** Waits (generously) until `fn` returns something truthy; returns it. */
export async function until(fn, what, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
