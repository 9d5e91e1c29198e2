import { Suspense, lazy, memo, useEffect, useMemo } from 'react';
import { getToken, setToken } from './api.js';
import { useSession } from './session.jsx';
import { Link, matchPath, useLocation, useNavigate, withQuery } from './router.jsx';
import Overview from './pages/Overview.jsx';
import Repo from './pages/Repo.jsx';
import Workflow from './pages/Workflow.jsx';
import Run from './pages/Run.jsx';
import Search from './pages/Search.jsx';
import NotFound from './pages/NotFound.jsx';
import { LoadingState } from './components/ui.jsx';

// The alerting page (rules, channels, silences and their forms), the test results pages, the
// sign-in page and the accounts pages are chunks of their own, loaded when first visited, so
// that the pages most people look at stay small.
const Alerts = lazy(() => import('./pages/Alerts.jsx'));
const Tests = lazy(() => import('./pages/Tests.jsx'));
const TestHistory = lazy(() => import('./pages/TestHistory.jsx'));
const FailureList = lazy(() => import('./pages/Failures.jsx'));
const FailureDetail = lazy(() => import('./pages/Failures.jsx').then((m) => ({ default: m.FailureDetail })));
const SignIn = lazy(() => import('./pages/SignIn.jsx'));
const Users = lazy(() => import('./pages/Accounts.jsx').then((m) => ({ default: m.Users })));
const Tokens = lazy(() => import('./pages/Accounts.jsx').then((m) => ({ default: m.Tokens })));
const Audit = lazy(() => import('./pages/Accounts.jsx').then((m) => ({ default: m.Audit })));

// The app's own paths; the collector answers each of them with index.html (deep links). A
// third element `true` marks a page that only reads and does not look at the session: it starts
// loading at once, beside the session calls, instead of after them (see App).
const ROUTES = [
  ['/', Overview, true],
  ['/repos/:owner/:name', Repo, true],
  ['/repos/:owner/:name/workflows/:id', Workflow, true],
  ['/runs/:runId', Run, true],
  ['/search', Search, true],
  ['/alerts', Alerts],
  ['/tests', Tests, true],
  ['/tests/:id', TestHistory, true],
  ['/failures', FailureList, true],
  ['/failures/:fingerprint', FailureDetail, true],
  ['/signin', SignIn],
  ['/users', Users],
  ['/tokens', Tokens],
  ['/audit', Audit],
];

// The header's sections: the first whose prefix the path starts with is highlighted.
const SECTIONS = ['/search', '/alerts', '/tests', '/failures', '/users', '/tokens', '/audit'];

function resolve(pathname) {
  for (const [pattern, Page, readsOnly = false] of ROUTES) {
    const params = matchPath(pattern, pathname);
    if (params) return { Page, params, pattern, readsOnly };
  }
  return { Page: NotFound, params: {}, pattern: null, readsOnly: true };
}

// The page, re-rendered when its address changes, not when the session does (a page that uses
// the session reads it itself): the session's answer does not render a large page twice.
const PageView = memo(function PageView({ Page, params }) {
  return <Page params={params} />;
});

function NavLink({ to, children, active }) {
  return (
    <Link
      to={to}
      aria-current={active ? 'page' : undefined}
      className={`whitespace-nowrap rounded-md px-2.5 py-1.5 text-sm font-medium sm:px-3 ${active ? 'bg-white/10 text-white' : 'text-slate-300 hover:bg-white/5 hover:text-white'}`}
    >
      {children}
    </Link>
  );
}

/** The signed-in user and "Sign out", or "Sign in" when the collector offers it. */
function UserMenu() {
  const session = useSession();
  const { pathname, search } = useLocation();
  const navigate = useNavigate();
  if (!session.loaded) return null;
  if (session.user) {
    const u = session.user;
    return (
      <div className="flex items-center gap-2 text-sm" aria-label="Signed in" role="group">
        <Link to="/tokens" className="text-slate-200 hover:text-white" title={`Signed in as ${u.username}`}>
          <span data-user={u.username}>{u.display_name || u.username}</span>
          <span className="ml-1.5 rounded bg-white/10 px-1.5 py-0.5 text-xs text-slate-300" data-role={u.role}>{u.role}</span>
        </Link>
        <button
          type="button"
          className="rounded-md px-2 py-1 text-slate-300 hover:bg-white/5 hover:text-white"
          onClick={async () => {
            try {
              await session.signOut();
            } finally {
              navigate('/signin');
            }
          }}
        >
          Sign out
        </button>
      </div>
    );
  }
  const auth = session.auth;
  if (!auth || (!auth.local && !auth.github) || pathname === '/signin') return null;
  return (
    <Link to={withQuery('/signin', { next: pathname + search })} className="rounded-md px-2.5 py-1.5 text-sm font-medium text-slate-300 hover:bg-white/5 hover:text-white">
      Sign in
    </Link>
  );
}

export default function App() {
  const { pathname } = useLocation();
  const session = useSession();
  const { Page, params, pattern, readsOnly } = useMemo(() => resolve(pathname), [pathname]);
  const section = SECTIONS.find((p) => pathname.startsWith(p)) || '/';

  useEffect(() => {
    document.title = 'cipulse';
  }, [pathname]);

  return (
    <div className="min-h-screen text-slate-800">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-white focus:px-3 focus:py-1">
        Skip to content
      </a>
      <header className="bg-slate-900">
        <div className="mx-auto flex h-14 max-w-7xl items-center gap-3 px-4 sm:gap-6 sm:px-6">
          <Link to="/" className="flex items-center gap-2 text-white" aria-label="cipulse home">
            <svg viewBox="0 0 32 32" className="h-7 w-7" aria-hidden="true">
              <rect width="32" height="32" rx="7" fill="#1e293b" />
              <path d="M4 17h6l3-8 5 15 3-7h7" fill="none" stroke="#34d399" strokeWidth="2.6" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
            <span className="hidden text-lg font-semibold tracking-tight sm:inline">cipulse</span>
          </Link>
          <nav aria-label="Main" className="flex items-center gap-1">
            <NavLink to="/" active={section === '/'}>Overview</NavLink>
            <NavLink to="/tests" active={section === '/tests'}>Tests</NavLink>
            <NavLink to="/failures" active={section === '/failures'}>Failures</NavLink>
            <NavLink to="/search" active={section === '/search'}>Log search</NavLink>
            <NavLink to="/alerts" active={section === '/alerts'}>Alerts</NavLink>
            {(session.signedIn || session.via === 'token') && <NavLink to="/tokens" active={section === '/tokens'}>Tokens</NavLink>}
            {session.isAdmin && <NavLink to="/users" active={section === '/users'}>Users</NavLink>}
            {session.isAdmin && <NavLink to="/audit" active={section === '/audit'}>Audit</NavLink>}
          </nav>
          <div className="ml-auto flex items-center gap-3">
            <UserMenu />
          </div>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-7xl px-4 py-8 sm:px-6">
        {/* Pages wait for the session: a signed-in user's reads go with the session cookie. A
            page that only reads need not when no read token is saved: its reads then go the same
            way whatever the session says (the cookie, or the saved admin token; api.js apiGet). */}
        {session.loaded || (readsOnly && !getToken()) ? (
          <Suspense fallback={<LoadingState label="Loading the page…" />}>
            <PageView key={pattern === '/runs/:runId' ? pathname : undefined} Page={Page} params={params} />
          </Suspense>
        ) : (
          <LoadingState label="Loading the page…" />
        )}
      </main>
      <footer className="mx-auto flex max-w-7xl gap-3 px-4 pb-8 text-xs text-slate-400 sm:px-6">
        <span>cipulse · data from the cipulse collector</span>
        {getToken() && (
          <button
            type="button"
            className="underline hover:text-slate-600"
            onClick={() => {
              setToken('');
              window.location.reload();
            }}
          >
            Forget the read token
          </button>
        )}
      </footer>
    </div>
  );
}
