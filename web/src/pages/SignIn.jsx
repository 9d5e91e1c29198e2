// The sign-in page: the local username / password form when the collector offers local accounts,
// a "Sign in with GitHub" button only when it offers GitHub sign-in (GET /api/v1/auth). After
// signing in it goes to `?next=` (a path inside the app) or the overview.
import { useState } from 'react';
import { useNavigate, useQuery } from '../router.jsx';
import { Card, LoadingState, PageHeader } from '../components/ui.jsx';
import { FormError, INPUT, PRIMARY } from '../components/forms.jsx';
import { safeNext } from '../lib/roles.js';
import { useSession } from '../session.jsx';

// Where the OAuth web flow starts, unless GET /api/v1/auth names it (`github_url`).
const GITHUB_START = '/api/v1/auth/github';

// What GET /api/v1/auth/github/callback reports in `?github_error=` when no session was opened.
export const GITHUB_ERRORS = {
  state: 'The sign-in expired or was already used. Please try again.',
  denied: 'GitHub sign-in was cancelled.',
  refused: 'GitHub did not confirm the sign-in. Please try again.',
  unavailable: 'GitHub cannot be reached right now. Please try again later.',
  org: 'Your GitHub account is not a member of an organisation allowed to use this dashboard.',
  disabled: 'Your account is disabled. Ask an admin.',
  internal: 'Signing in with GitHub failed. Please try again.',
};

export default function SignIn() {
  const session = useSession();
  const query = useQuery();
  const navigate = useNavigate();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const next = safeNext(query.next);
  const githubError = query.github_error ? GITHUB_ERRORS[query.github_error] || GITHUB_ERRORS.internal : null;

  if (!session.loaded) return <LoadingState label="Loading…" />;
  const auth = session.auth || {};
  const offersLocal = auth.local === true;
  const offersGithub = auth.github === true;
  const githubHref = typeof auth.github_url === 'string' && auth.github_url.startsWith('/') ? auth.github_url : GITHUB_START;

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.signIn(username.trim(), password);
      setPassword('');
      navigate(next);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="mx-auto max-w-md">
      <PageHeader title="Sign in" subtitle={session.user ? `You are signed in as ${session.user.display_name || session.user.username} (${session.user.role}).` : 'Sign in to see and change what your role allows.'} />
      <Card>
        {!offersLocal && !offersGithub && (
          <p className="text-sm text-slate-600">This collector offers no sign-in. Reads use its read token, which the pages ask for when needed.</p>
        )}
        {offersLocal && (
          <form onSubmit={submit} aria-label="Sign in" className="space-y-3">
            <label className="block text-xs font-medium text-slate-600">
              Username
              <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} className={INPUT} required />
            </label>
            <label className="block text-xs font-medium text-slate-600">
              Password
              <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} className={INPUT} required />
            </label>
            <button type="submit" className={PRIMARY} disabled={busy || !username.trim() || !password}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
            {error && (
              <div role="alert" className="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-xs text-rose-800">
                {error.status === 429 ? 'Too many attempts: wait a little and try again.' : error.status === 401 ? 'Invalid username or password.' : <FormError error={error} />}
              </div>
            )}
          </form>
        )}
        {offersGithub && (
          <div className={offersLocal ? 'mt-4 border-t border-slate-100 pt-4' : ''}>
            {githubError && (
              <div role="alert" aria-label="GitHub sign-in" className="mb-3 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-xs text-rose-800">
                {githubError}
              </div>
            )}
            <a href={`${githubHref}?next=${encodeURIComponent(next)}`} className="inline-flex items-center gap-2 rounded-md bg-slate-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-slate-700">
              Sign in with GitHub
            </a>
          </div>
        )}
      </Card>
    </div>
  );
}
