// The signed-in user: GET /api/v1/auth (which sign-in methods the collector offers) and
// GET /api/v1/session (who is signed in, and the CSRF token for writes), loaded once per page
// view and shared through a context. A collector without accounts answers 404 for both: the app
// then behaves as before sign-in existed (tokens pasted into the browser).
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { apiPath, getAdminToken, sessionCall, setCsrfToken } from './api.js';
import { accessOf } from './lib/roles.js';

const SessionContext = createContext(null);

export function SessionProvider({ children }) {
  const [st, setSt] = useState({ loaded: false, user: null, auth: null });
  const [adminToken, setAdminTok] = useState(getAdminToken());

  const refresh = useCallback(async () => {
    const [auth, sess] = await Promise.all([
      sessionCall('GET', apiPath('/auth')).catch(() => null),
      sessionCall('GET', apiPath('/session')).catch(() => null),
    ]);
    setCsrfToken(sess && sess.csrf_token);
    setSt({ loaded: true, user: sess && sess.user ? sess.user : null, auth });
    setAdminTok(getAdminToken());
  }, []);

  useEffect(() => {
    refresh();
  }, [refresh]);

  /** POST /api/v1/session; resolves to the user, rejects with the API's error. */
  const signIn = useCallback(async (username, password) => {
    const sess = await sessionCall('POST', apiPath('/session'), { username, password });
    setCsrfToken(sess.csrf_token);
    setSt((s) => ({ ...s, loaded: true, user: sess.user || null }));
    return sess.user;
  }, []);

  const signOut = useCallback(async () => {
    try {
      await sessionCall('DELETE', apiPath('/session'));
    } finally {
      setCsrfToken('');
      setSt((s) => ({ ...s, user: null }));
    }
  }, []);

  const value = useMemo(
    () => ({ ...st, ...accessOf({ user: st.user, adminToken }), refresh, signIn, signOut, adminTokenChanged: () => setAdminTok(getAdminToken()) }),
    [st, adminToken, refresh, signIn, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** {loaded, user, auth, role, via, canManageAlerts, isAdmin, signedIn, hideWrites, signIn, signOut, refresh, adminTokenChanged} */
export function useSession() {
  return useContext(SessionContext);
}
