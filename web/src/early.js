// Started before the app: index.html loads this small script ahead of the app's bundle, and it
// asks for the first page's data at once (reads.js firstReads), so that the answers travel while
// the browser loads and compiles the app. The app takes each answer once (api.js apiGet, through
// takeEarly) for the same address; a later read of it (a refresh, a retry) asks again. Only when
// no token is saved: the read then goes with the session cookie alone, exactly as the app's own
// read would, whoever is signed in.
import { ADMIN_KEY, TOKEN_KEY, firstReads, loadSaved } from './reads.js';

const early = new Map();

if (typeof window !== 'undefined' && typeof fetch === 'function' && !loadSaved(TOKEN_KEY) && !loadSaved(ADMIN_KEY)) {
  for (const url of firstReads(window.location.pathname, window.location.search)) {
    const res = fetch(url, { method: 'GET', headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    res.catch(() => {}); // taken or not, a failure is the app's to report (its own request fails alike)
    early.set(url, res);
  }
}

/** The early answer for `url` (a promise of its Response), once; null when there is none. */
export function takeEarly(url) {
  const res = early.get(url);
  if (!res) return null;
  early.delete(url);
  return res;
}
