// The REST API client. Every reply is JSON; errors are {"error": {"code", "message"}} with a
// non-2xx status (docs/openapi.yaml). The message is shown to the user as the API wrote it.
import { useCallback, useEffect, useState } from 'react';
import { takeEarly } from './early.js';
import { ADMIN_KEY, TOKEN_KEY, apiPath, loadSaved, repoPath } from './reads.js';

export { apiPath, repoPath };

export class ApiError extends Error {
  constructor(message, { status = 0, code = 'network_error', param = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    // For a 400: the parameter or body field at fault, e.g. "rules[0].params.threshold".
    this.param = param;
  }
}

// A collector started with CIPULSE_READ_TOKEN answers reads only with a bearer token. The user
// types it in once (the 401 error state asks for it); it is kept in this browser's storage and
// never in the bundle (its key: reads.js).
export function getToken() {
  return loadSaved(TOKEN_KEY);
}

export function setToken(token) {
  store(TOKEN_KEY, token);
}

// Writes (alert rules, channels, silences, acks) need the collector's admin token
// (CIPULSE_ADMIN_TOKEN). It is asked for and kept the same way as the read token, under its own
// key, and sent only with writes, or with reads when no read token is set (it may read too).
export function getAdminToken() {
  return loadSaved(ADMIN_KEY);
}

export function setAdminToken(token) {
  store(ADMIN_KEY, token);
}

function store(key, value) {
  try {
    if (value) window.localStorage.setItem(key, value);
    else window.localStorage.removeItem(key);
  } catch {
    // Storage may be disabled; the token then lasts for nothing, which is safe.
  }
}

// A signed-in user's session is the cookie the collector set (HttpOnly: this code never sees
// it); writes made with it carry the session's CSRF token, which GET /api/v1/session gives.
let csrfToken = '';

export function setCsrfToken(token) {
  csrfToken = token || '';
}

/**
 * A read. Signed in (a session's CSRF token is known), reads go with the session cookie alone, so
 * that they are the user's; otherwise with the read token, or the admin token when that is all
 * there is. `admin`: a read only admins may make (users, audit), sent with the admin token when
 * one is saved, else with the cookie.
 */
export function apiGet(url, { signal, admin = false } = {}) {
  const token = admin ? getAdminToken() : csrfToken ? getAdminToken() : getToken() || getAdminToken();
  // The first page's read may have been started before the app (early.js), with no token too.
  return request('GET', url, { signal, token, early: token ? null : takeEarly(url) });
}

/**
 * A write (POST, PATCH, DELETE) with an optional JSON body: with the saved admin token when
 * there is one (the pasted-token mode), else with the session cookie and its CSRF token.
 * Rejects with an ApiError (its `param` names the field at fault on a 400); with neither it
 * rejects before asking the collector.
 */
export function apiSend(method, url, body) {
  const token = getAdminToken();
  if (token) return request(method, url, { token, body });
  if (csrfToken) return request(method, url, { body, csrf: csrfToken });
  return Promise.reject(new ApiError('This needs you to sign in, or the admin token (CIPULSE_ADMIN_TOKEN).', { code: 'no_admin_token' }));
}

/**
 * The session endpoints (GET / POST / DELETE /api/v1/session, GET /api/v1/auth): cookie only,
 * never a saved token, so that the answer is about the signed-in user. DELETE carries the CSRF
 * token.
 */
export function sessionCall(method, url, body) {
  return request(method, url, { body, csrf: method === 'GET' || method === 'POST' ? '' : csrfToken });
}

async function request(method, url, { signal, token, body: payload, csrf, early = null } = {}) {
  let res;
  try {
    if (early) {
      res = await early;
      // The early request cannot be aborted with this one: a read given up meanwhile ends here.
      if (signal && signal.aborted) throw new DOMException('The read was given up', 'AbortError');
    }
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const init = { method, headers, signal, credentials: 'same-origin' };
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    if (!res) res = await fetch(url, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError('Could not reach the cipulse collector. Is it running?');
  }
  let body = null;
  const text = await res.text();
  if (early && signal && signal.aborted) throw new DOMException('The read was given up', 'AbortError');
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    // {"error": {"code", "message", "param"}}, or a bare {"error": "message"}.
    const raw = body && body.error;
    const e = typeof raw === 'string' ? { message: raw } : raw;
    const message = (e && typeof e.message === 'string' && e.message) || `The collector answered ${res.status} ${res.statusText}`.trim();
    throw new ApiError(message, { status: res.status, code: (e && e.code) || `http_${res.status}`, param: (e && typeof e.param === 'string' && e.param) || null });
  }
  if (res.status === 204) return {};
  if (body === null) throw new ApiError('The collector sent a reply that is not JSON.', { status: res.status, code: 'bad_reply' });
  return body;
}

/**
 * Loads `url` (null: nothing to load) and reloads whenever it changes.
 * Returns {data, error, loading, reload}. A newer request always wins over an older one.
 */
export function useApi(url, { admin = false } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: !!url, url });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    if (!url) {
      setState({ data: null, error: null, loading: false, url });
      return undefined;
    }
    const ctl = new AbortController();
    setState((s) => ({ data: s.url === url ? s.data : null, error: null, loading: true, url }));
    apiGet(url, { signal: ctl.signal, admin }).then(
      (data) => setState({ data, error: null, loading: false, url }),
      (error) => {
        if (error && error.name === 'AbortError') return;
        setState({ data: null, error, loading: false, url });
      },
    );
    return () => ctl.abort();
  }, [url, tick, admin]);

  // Until the effect has run for a new url, report loading rather than stale data.
  if (state.url !== url) return { data: null, error: null, loading: !!url, reload };
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/**
 * Calls `fn` every `ms` while `enabled` and the page is visible: live pages (a running run, the
 * overview) stay current without a reload. useApi keeps showing the old data while refreshing.
 */
export function useInterval(fn, ms, enabled = true) {
  useEffect(() => {
    if (!enabled) return undefined;
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') fn();
    }, ms);
    return () => window.clearInterval(id);
  }, [fn, ms, enabled]);
}

/**
 * Cursor paging over a list endpoint: `makeUrl(cursor)` builds the page's URL.
 * Keeps a stack of cursors so that "Previous" goes back without the server's help.
 */
export function useCursorPages(baseKey, makeUrl, opts) {
  // The stack belongs to one query (baseKey); a new query starts again at the first page.
  const [st, setSt] = useState({ key: baseKey, stack: [null] });
  const stack = st.key === baseKey ? st.stack : [null];
  const cursor = stack[stack.length - 1];
  const res = useApi(baseKey == null ? null : makeUrl(cursor), opts);
  const nextCursor = res.data && res.data.next_cursor;
  return {
    ...res,
    page: stack.length,
    hasPrev: stack.length > 1,
    hasNext: !!nextCursor,
    next: () => nextCursor && setSt({ key: baseKey, stack: [...stack, nextCursor] }),
    prev: () => setSt({ key: baseKey, stack: stack.length > 1 ? stack.slice(0, -1) : stack }),
  };
}

// Replies that rarely change (a repository's workflows), shared by every component that asks
// during one page view. Failures are not kept, so a later call tries again.
const memo = new Map();
export function cachedGet(url) {
  if (!memo.has(url)) {
    const p = apiGet(url).catch((e) => {
      memo.delete(url);
      throw e;
    });
    memo.set(url, p);
  }
  return memo.get(url);
}

/** Workflow names of the given repositories: {"owner/name": {id: name}}; fills in as they load. */
export function useWorkflowNames(repos) {
  const key = [...new Set(repos.filter(Boolean))].sort().join(',');
  const [names, setNames] = useState({});
  useEffect(() => {
    let live = true;
    for (const repo of key ? key.split(',') : []) {
      cachedGet(apiPath(`/repos/${repoPath(repo)}/workflows`, { limit: 200 })).then(
        (data) => {
          if (!live) return;
          const map = {};
          for (const w of itemsOf(data)) map[String(w.id)] = w.name || w.path;
          setNames((n) => ({ ...n, [repo]: map }));
        },
        () => {},
      );
    }
    return () => {
      live = false;
    };
  }, [key]);
  return names;
}

/** The list of a paged reply ({items: [...]}); tolerates a bare array. */
export function itemsOf(data) {
  if (!data) return [];
  if (Array.isArray(data)) return data;
  return Array.isArray(data.items) ? data.items : [];
}
