import { afterEach, describe, expect, it, vi } from 'vitest';

// early.js starts its reads when it is imported: each test sets up the page, then imports it anew.
async function load({ path = '/runs/5', search = '?attempt=2', saved = {} } = {}) {
  vi.resetModules();
  const fetch = vi.fn(async (url) => ({ url }));
  vi.stubGlobal('fetch', fetch);
  vi.stubGlobal('window', { location: { pathname: path, search }, localStorage: { getItem: (k) => saved[k] || null } });
  const early = await import('./early.js');
  return { fetch, ...early };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('early reads', () => {
  it('asks for the first page\'s data once, with the cookie alone, and hands each answer out once', async () => {
    const { fetch, takeEarly } = await load();
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('/api/v1/runs/5?attempt=2&steps=failed');
    expect(init).toEqual({ method: 'GET', headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    const res = takeEarly('/api/v1/runs/5?attempt=2&steps=failed');
    expect(await res).toEqual({ url: '/api/v1/runs/5?attempt=2&steps=failed' });
    // A refresh of the same address asks the collector again.
    expect(takeEarly('/api/v1/runs/5?attempt=2&steps=failed')).toBeNull();
    expect(takeEarly('/api/v1/runs/5?attempt=2')).toBeNull();
  });

  it('starts nothing when a token is saved (the app\'s read would carry it)', async () => {
    for (const key of ['cipulse.readToken', 'cipulse.adminToken']) {
      const { fetch, takeEarly } = await load({ saved: { [key]: 'secret' } });
      expect(fetch).not.toHaveBeenCalled();
      expect(takeEarly('/api/v1/runs/5?attempt=2&steps=failed')).toBeNull();
    }
  });

  it('starts nothing on a page without early reads', async () => {
    const { fetch } = await load({ path: '/alerts', search: '' });
    expect(fetch).not.toHaveBeenCalled();
  });
});
