// Small shared components: status badges, cards, stats, and the loading / empty / error states.
import { useEffect, useState } from 'react';
import { getToken, setToken } from '../api.js';
import { Link, useLocation, withQuery } from '../router.jsx';
import { useSession } from '../session.jsx';
import { formatDateTime, formatPercent } from '../lib/format.js';

const TONES = {
  green: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20',
  red: 'bg-rose-50 text-rose-700 ring-rose-600/20',
  amber: 'bg-amber-50 text-amber-800 ring-amber-600/25',
  blue: 'bg-sky-50 text-sky-700 ring-sky-600/20',
  gray: 'bg-slate-100 text-slate-600 ring-slate-500/20',
};

const DOTS = {
  green: 'bg-emerald-500',
  red: 'bg-rose-500',
  amber: 'bg-amber-500',
  blue: 'bg-sky-500',
  gray: 'bg-slate-400',
};

/** What a status/conclusion pair looks like: tone, label and icon. */
export function outcome(status, conclusion) {
  if (status && status !== 'completed') {
    if (status === 'in_progress') return { tone: 'amber', label: 'In progress', icon: 'spin', key: 'in_progress' };
    return { tone: 'gray', label: status === 'queued' ? 'Queued' : humanize(status), icon: 'dot', key: status };
  }
  switch (conclusion) {
    case 'success':
      return { tone: 'green', label: 'Success', icon: 'check', key: 'success' };
    case 'failure':
      return { tone: 'red', label: 'Failure', icon: 'x', key: 'failure' };
    case 'timed_out':
      return { tone: 'red', label: 'Timed out', icon: 'x', key: 'timed_out' };
    case 'startup_failure':
      return { tone: 'red', label: 'Startup failure', icon: 'x', key: 'startup_failure' };
    case 'cancelled':
      return { tone: 'gray', label: 'Cancelled', icon: 'slash', key: 'cancelled' };
    case 'skipped':
      return { tone: 'gray', label: 'Skipped', icon: 'slash', key: 'skipped' };
    case 'action_required':
      return { tone: 'amber', label: 'Action required', icon: 'dot', key: 'action_required' };
    case null:
    case undefined:
    case '':
      return { tone: 'gray', label: status === 'completed' ? 'Completed' : 'Unknown', icon: 'dot', key: 'unknown' };
    default:
      return { tone: 'gray', label: humanize(conclusion), icon: 'dot', key: conclusion };
  }
}

export function humanize(s) {
  const t = String(s || '').replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

export function StatusIcon({ icon, className = 'h-3.5 w-3.5' }) {
  const common = { className, viewBox: '0 0 16 16', 'aria-hidden': true, fill: 'none', stroke: 'currentColor', strokeWidth: 2, strokeLinecap: 'round', strokeLinejoin: 'round' };
  if (icon === 'check') return <svg {...common}><path d="M3.5 8.5l3 3 6-7" /></svg>;
  if (icon === 'x') return <svg {...common}><path d="M4.5 4.5l7 7M11.5 4.5l-7 7" /></svg>;
  if (icon === 'slash') return <svg {...common}><circle cx="8" cy="8" r="5.5" /><path d="M4.2 11.8l7.6-7.6" /></svg>;
  if (icon === 'spin') return <svg {...common} className={`${className} animate-spin`}><path d="M8 2.5a5.5 5.5 0 1 1-5.5 5.5" /></svg>;
  return <svg {...common}><circle cx="8" cy="8" r="3" fill="currentColor" stroke="none" /></svg>;
}

export function StatusBadge({ status, conclusion, size = 'md' }) {
  const o = outcome(status, conclusion);
  const pad = size === 'sm' ? 'px-1.5 py-0.5 text-[11px]' : 'px-2 py-0.5 text-xs';
  return (
    <span className={`inline-flex items-center gap-1 whitespace-nowrap rounded-full font-medium ring-1 ring-inset ${pad} ${TONES[o.tone]}`} data-outcome={o.key}>
      <StatusIcon icon={o.icon} className="h-3 w-3" />
      {o.label}
    </span>
  );
}

export function Dot({ tone }) {
  return <span className={`inline-block h-2 w-2 rounded-full ${DOTS[tone] || DOTS.gray}`} aria-hidden="true" />;
}

export function Card({ title, actions, children, className = '', bodyClass = 'p-4', as: Tag = 'section', ...rest }) {
  return (
    <Tag className={`rounded-xl border border-slate-200 bg-white shadow-sm ${className}`} aria-label={typeof title === 'string' ? title : undefined} {...rest}>
      {(title || actions) && (
        <header className="flex items-center justify-between gap-3 border-b border-slate-100 px-4 py-3">
          {typeof title === 'string' ? <h2 className="text-sm font-semibold text-slate-800">{title}</h2> : title}
          {actions}
        </header>
      )}
      <div className={bodyClass}>{children}</div>
    </Tag>
  );
}

export function PageHeader({ crumbs = [], title, subtitle, actions, badge }) {
  return (
    <div className="mb-6">
      {crumbs.length > 0 && (
        <nav aria-label="Breadcrumb" className="mb-2 text-sm text-slate-500">
          <ol className="flex flex-wrap items-center gap-1">
            {crumbs.map((c, i) => (
              <li key={i} className="flex items-center gap-1">
                {i > 0 && <span aria-hidden="true" className="text-slate-300">/</span>}
                {c.to ? <Link to={c.to} className="hover:text-slate-800 hover:underline">{c.label}</Link> : <span>{c.label}</span>}
              </li>
            ))}
          </ol>
        </nav>
      )}
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-3">
            <h1 className="truncate text-2xl font-semibold tracking-tight text-slate-900">{title}</h1>
            {badge}
          </div>
          {subtitle && <div className="mt-1 text-sm text-slate-500">{subtitle}</div>}
        </div>
        {actions && <div className="flex items-center gap-2">{actions}</div>}
      </div>
    </div>
  );
}

export function Stat({ label, value, hint, tone }) {
  const color = tone === 'red' ? 'text-rose-600' : tone === 'green' ? 'text-emerald-600' : tone === 'amber' ? 'text-amber-600' : 'text-slate-900';
  return (
    <div className="rounded-xl border border-slate-200 bg-white px-4 py-3 shadow-sm" role="group" aria-label={label}>
      <div className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</div>
      <div className={`mt-1 text-2xl font-semibold tabular-nums ${color}`}>{value}</div>
      {hint && <div className="mt-0.5 text-xs text-slate-500">{hint}</div>}
    </div>
  );
}

/** Tone of a success rate: green from 90%, amber from 70%, red below. */
export function rateTone(rate) {
  if (typeof rate !== 'number') return undefined;
  if (rate >= 0.9) return 'green';
  if (rate >= 0.7) return 'amber';
  return 'red';
}

export function RateBar({ rate }) {
  const tone = rateTone(rate);
  const fill = tone === 'green' ? 'bg-emerald-500' : tone === 'amber' ? 'bg-amber-500' : 'bg-rose-500';
  return (
    <div className="flex items-center gap-2">
      <span className="w-14 text-right tabular-nums">{formatPercent(rate)}</span>
      <span className="hidden h-1.5 w-20 overflow-hidden rounded-full bg-slate-100 sm:block" aria-hidden="true">
        {typeof rate === 'number' && <span className={`block h-full ${fill}`} style={{ width: `${Math.round(Math.min(Math.max(rate, 0), 1) * 100)}%` }} />}
      </span>
    </div>
  );
}

export function LoadingState({ label = 'Loading…', rows = 3 }) {
  return (
    <div role="status" aria-live="polite" aria-label={label} className="space-y-3 p-1">
      <span className="sr-only">{label}</span>
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="h-4 animate-pulse rounded bg-slate-100" style={{ width: `${90 - i * 15}%` }} />
      ))}
    </div>
  );
}

// Asks for the collector's read token after a 401 and keeps it in this browser.
function TokenForm() {
  const [value, setValue] = useState('');
  const had = !!getToken();
  return (
    <form
      className="mt-3 flex flex-wrap items-end gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        window.location.reload();
      }}
    >
      <label className="text-xs font-medium text-rose-800">
        {had ? 'The saved token was refused. Read token' : 'Read token'}
        <input
          type="password"
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          className="mt-1 block w-72 rounded-md border border-rose-300 bg-white px-2 py-1 text-sm text-slate-900 focus:border-rose-500 focus:outline-none"
        />
      </label>
      <button type="submit" disabled={!value.trim()} className="rounded-md bg-rose-700 px-3 py-1.5 text-xs font-medium text-white hover:bg-rose-600 disabled:opacity-50">
        Use token
      </button>
      <span className="basis-full text-xs text-rose-700">Kept in this browser only; ask whoever runs the collector (CIPULSE_READ_TOKEN).</span>
    </form>
  );
}

// After a 401: signing in is the other way in, when the collector offers it.
function SignInHint() {
  const session = useSession();
  const { pathname, search } = useLocation();
  const auth = session && session.auth;
  if (!auth || (!auth.local && !auth.github) || session.signedIn) return null;
  return (
    <p className="mt-2 text-xs">
      <Link to={withQuery('/signin', { next: pathname + search })} className="font-medium underline">Sign in</Link>, or use a read token:
    </p>
  );
}

export function ErrorState({ error, title = 'Something went wrong', onRetry }) {
  const msg = error && error.message ? error.message : String(error || 'Unknown error');
  return (
    <div role="alert" className="flex items-start gap-3 rounded-lg border border-rose-200 bg-rose-50 p-4 text-sm text-rose-800">
      <StatusIcon icon="x" className="mt-0.5 h-4 w-4 shrink-0" />
      <div className="min-w-0 flex-1">
        <p className="font-semibold">{title}</p>
        <p className="mt-0.5 break-words">{msg}</p>
        {error && error.status ? (
          <p className="mt-1 text-xs text-rose-600">
            HTTP {error.status}
            {error.code ? ` · ${error.code}` : ''}
          </p>
        ) : null}
        {error && error.status === 401 ? (
          <>
            <SignInHint />
            <TokenForm />
          </>
        ) : null}
      </div>
      {onRetry && (
        <button type="button" onClick={onRetry} className="rounded-md border border-rose-300 bg-white px-2.5 py-1 text-xs font-medium text-rose-700 hover:bg-rose-100">
          Retry
        </button>
      )}
    </div>
  );
}

export function EmptyState({ title, children }) {
  return (
    <div className="flex flex-col items-center justify-center rounded-lg border border-dashed border-slate-200 px-6 py-10 text-center">
      <p className="text-sm font-medium text-slate-700">{title}</p>
      {children && <div className="mt-1 max-w-md text-sm text-slate-500">{children}</div>}
    </div>
  );
}

/** Loading / error / content switch for a useApi result. */
export function Async({ res, what, rows, children }) {
  if (res.error) return <ErrorState error={res.error} title={`Could not load ${what}`} onRetry={res.reload} />;
  // A refresh keeps showing the data it replaces; only a first load shows the skeleton.
  if (!res.data) return <LoadingState label={`Loading ${what}…`} rows={rows} />;
  return children(res.data);
}

export function Pager({ pager, label = 'Pages' }) {
  if (!pager.hasPrev && !pager.hasNext) return null;
  const btn = 'rounded-md border border-slate-200 bg-white px-3 py-1.5 text-sm font-medium text-slate-700 shadow-sm hover:bg-slate-50 disabled:cursor-not-allowed disabled:opacity-40';
  return (
    <nav aria-label={label} className="flex items-center justify-between gap-3 border-t border-slate-100 px-4 py-3 text-sm text-slate-500">
      <span>Page {pager.page}</span>
      <div className="flex gap-2">
        <button type="button" className={btn} onClick={pager.prev} disabled={!pager.hasPrev || pager.loading}>
          ← Newer
        </button>
        <button type="button" className={btn} onClick={pager.next} disabled={!pager.hasNext || pager.loading}>
          Older →
        </button>
      </div>
    </nav>
  );
}

export function ExternalLink({ href, children, className = '' }) {
  if (!href || !/^https?:\/\//i.test(href)) return null;
  return (
    <a href={href} target="_blank" rel="noopener noreferrer" className={`inline-flex items-center gap-1 text-sky-700 hover:underline ${className}`}>
      {children}
      <svg className="h-3 w-3" viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
        <path d="M6 3H3v10h10v-3M9 3h4v4M13 3L7 9" />
      </svg>
    </a>
  );
}

export function Segmented({ options, value, onChange, label }) {
  return (
    <div role="radiogroup" aria-label={label} className="inline-flex rounded-lg border border-slate-200 bg-white p-0.5 shadow-sm">
      {options.map((o) => {
        const active = o.value === value;
        return (
          <button
            key={o.value}
            type="button"
            role="radio"
            aria-checked={active}
            onClick={() => onChange(o.value)}
            className={`rounded-md px-3 py-1 text-sm font-medium ${active ? 'bg-slate-900 text-white' : 'text-slate-600 hover:bg-slate-100'}`}
          >
            {o.label}
          </button>
        );
      })}
    </div>
  );
}

/** A page's header with its loading or error state, until the page's own data is there. */
export function PendingPage({ crumbs, title, res, what }) {
  return (
    <div>
      <PageHeader crumbs={crumbs} title={title} />
      {res.error ? <ErrorState error={res.error} title={`Could not load ${what}`} onRetry={res.reload} /> : <LoadingState label={`Loading ${what}…`} rows={5} />}
    </div>
  );
}

/** The repository filter of a list page: applied on Enter. */
export function RepoFilter({ value, onApply }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        onApply(v.trim());
      }}
    >
      <label className="flex items-center gap-2 text-sm text-slate-600">
        Repository
        <input value={v} onChange={(e) => setV(e.target.value)} placeholder="all repositories" className="w-48 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm shadow-sm focus:border-sky-500 focus:outline-none" />
      </label>
    </form>
  );
}

/** A repository its GitHub App installation let go: history kept, no longer polled. */
export function RetiredMark({ at }) {
  return (
    <span className="ml-2 rounded bg-slate-100 px-1.5 py-0.5 align-middle text-xs font-normal text-slate-500" title={at ? `Retired ${formatDateTime(at)}: history kept, no longer polled` : 'Retired: history kept, no longer polled'}>
      retired
    </span>
  );
}
