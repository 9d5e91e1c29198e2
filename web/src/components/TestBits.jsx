// Pieces shared by the test results pages and the run page: a test's state badge, the
// flaky / new-failure marks, the result strip of a test's history, a failure group's trend bars.
import { Link } from '../router.jsx';
import { formatDate } from '../lib/format.js';
import { resultLook, resultStrip, runJobHref, testState, trendBars } from '../lib/tests.js';

const TONES = {
  green: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20',
  red: 'bg-rose-50 text-rose-700 ring-rose-600/20',
  amber: 'bg-amber-50 text-amber-800 ring-amber-600/25',
  gray: 'bg-slate-100 text-slate-600 ring-slate-500/20',
};

const CELLS = {
  green: 'bg-emerald-500',
  red: 'bg-rose-500',
  amber: 'bg-amber-500',
  gray: 'bg-slate-300',
};

export function Pill({ tone = 'gray', children, ...rest }) {
  return (
    <span className={`inline-flex items-center whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${TONES[tone] || TONES.gray}`} {...rest}>
      {children}
    </span>
  );
}

export function TestStateBadge({ state }) {
  const s = testState(state);
  return <Pill tone={s.tone} data-state={state || ''}>{s.label}</Pill>;
}

/** A result word (passed / failed / error / skipped) in its colour. */
export function ResultLabel({ result }) {
  if (!result) return null;
  const r = resultLook(result);
  const color = r.tone === 'green' ? 'text-emerald-700' : r.tone === 'red' ? 'text-rose-700' : 'text-slate-500';
  return <span className={`font-medium ${color}`} data-result={r.label}>{r.label}</span>;
}

/** Oldest-to-newest results of a test, each cell a link to the run's job. */
export function ResultStrip({ history }) {
  const cells = resultStrip(history);
  if (!cells.length) return null;
  return (
    <ol className="flex flex-wrap gap-0.5" aria-label="Results, oldest first">
      {cells.map((c) => (
        <li key={c.key}>
          <Link to={runJobHref(c.runId, c.attempt, c.jobId)} title={c.title} aria-label={c.title} data-result={c.label} className={`block h-5 w-2.5 rounded-sm ${CELLS[c.tone]} hover:opacity-70`} />
        </li>
      ))}
    </ol>
  );
}

/** Runs per day of a failure group, one bar a day (SVG, no library). */
export function TrendBars({ trend, days = 14, className = 'h-8 w-40' }) {
  const { bars, max } = trendBars(trend, days);
  const w = 100 / bars.length;
  const total = bars.reduce((n, b) => n + b.runs, 0);
  return (
    <svg viewBox="0 0 100 30" preserveAspectRatio="none" className={className} role="img" aria-label={`${total} runs in the last ${days} days`}>
      {bars.map((b, i) => {
        const h = b.runs ? Math.max(2, (b.runs / max) * 30) : 0.8;
        return (
          <rect key={b.day} x={i * w + 0.6} width={w - 1.2} y={30 - h} height={h} className={b.runs ? 'fill-rose-400' : 'fill-slate-200'}>
            <title>{`${formatDate(b.day)}: ${b.runs} run${b.runs === 1 ? '' : 's'}`}</title>
          </rect>
        );
      })}
    </svg>
  );
}
