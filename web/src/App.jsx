import { Suspense, lazy, useEffect } from 'react';
import { getToken, setToken } from './api.js';
import { Link, matchPath, useLocation } from './router.jsx';
import Overview from './pages/Overview.jsx';
import Repo from './pages/Repo.jsx';
import Workflow from './pages/Workflow.jsx';
import Run from './pages/Run.jsx';
import Search from './pages/Search.jsx';
import NotFound from './pages/NotFound.jsx';
import { LoadingState } from './components/ui.jsx';

// The alerting page (rules, channels, silences and their forms) is its own chunk, loaded when
// first visited, so that the pages most people look at stay small.
const Alerts = lazy(() => import('./pages/Alerts.jsx'));

// The app's own paths; the collector answers each of them with index.html (deep links).
const ROUTES = [
  ['/', Overview],
  ['/repos/:owner/:name', Repo],
  ['/repos/:owner/:name/workflows/:id', Workflow],
  ['/runs/:runId', Run],
  ['/search', Search],
  ['/alerts', Alerts],
];

function resolve(pathname) {
  for (const [pattern, Page] of ROUTES) {
    const params = matchPath(pattern, pathname);
    if (params) return { Page, params, pattern };
  }
  return { Page: NotFound, params: {}, pattern: null };
}

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

export default function App() {
  const { pathname } = useLocation();
  const { Page, params, pattern } = resolve(pathname);
  const section = pathname.startsWith('/search') ? 'search' : pathname.startsWith('/alerts') ? 'alerts' : 'overview';

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
            <NavLink to="/" active={section === 'overview'}>Overview</NavLink>
            <NavLink to="/search" active={section === 'search'}>Log search</NavLink>
            <NavLink to="/alerts" active={section === 'alerts'}>Alerts</NavLink>
          </nav>
          <div className="ml-auto hidden text-xs text-slate-400 md:block">GitHub Actions pipeline health</div>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-7xl px-4 py-8 sm:px-6">
        <Suspense fallback={<LoadingState label="Loading the page…" />}>
          <Page key={pattern === '/runs/:runId' ? pathname : undefined} params={params} />
        </Suspense>
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
