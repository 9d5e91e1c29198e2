// A gantt-like timeline: one bar per row from its start to its end, on a shared time axis.
// Rows: {key, label, sublabel, start, end, queuedFrom, tone, onSelect, selected}; `selected`: a
// Set of the keys (as strings) to highlight, besides rows with `selected` set.
import { LazyBlock, blocksOf } from './Lazy.jsx';
import { formatDuration, toMillis } from '../lib/format.js';

const FILL = {
  green: 'bg-emerald-500',
  red: 'bg-rose-500',
  amber: 'bg-amber-400',
  gray: 'bg-slate-400',
  blue: 'bg-sky-500',
};

function ticks(spanS) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  const step = steps.find((s) => spanS / s <= 6) || 86400;
  const out = [];
  for (let t = 0; t <= spanS + 1e-9; t += step) out.push(t);
  return out;
}

// More rows than this (a run's 200 jobs) are rendered in blocks of ROW_BLOCK as they come near
// the viewport, the first ROW_FIRST (a screen) at once; a row is ROW_PX tall.
const LAZY_ROWS = 60;
const ROW_BLOCK = 50;
const ROW_FIRST = 25;
const ROW_PX = 33;

export default function Timeline({ rows, label = 'Timeline', now = Date.now(), compact = false, selected }) {
  let t0 = Infinity;
  let t1 = -Infinity;
  const times = rows.map((r) => {
    const q = toMillis(r.queuedFrom);
    const s = toMillis(r.start);
    const end = toMillis(r.end);
    for (const ms of [q, s, end, s != null && end == null ? now : null]) {
      if (ms != null) {
        t0 = Math.min(t0, ms);
        t1 = Math.max(t1, ms);
      }
    }
    return { q, s, end };
  });
  if (t0 === Infinity) return <p className="text-sm text-slate-500">No timings reported yet.</p>;
  t1 = Math.max(t1, t0 + 1000);
  const span = (t1 - t0) / 1000;
  const pct = (ms) => `${(((ms - t0) / 1000 / span) * 100).toFixed(3)}%`;
  const width = (a, b) => `${Math.max(((b - a) / 1000 / span) * 100, 0.4).toFixed(3)}%`;
  const nameCol = compact ? 'w-28 sm:w-48' : 'w-28 sm:w-56';
  const tickMarks = ticks(span);
  const row = (r, i) => {
    const { q, s, end } = times[i];
    const e = end ?? (s != null ? now : null);
    const dur = s != null && e != null ? (e - s) / 1000 : null;
    const Name = r.onSelect ? 'button' : 'span';
    const on = r.selected || (selected && selected.has(String(r.key)));
    return (
      <div role="row" key={r.key} className={`flex items-center border-t border-slate-100 ${on ? 'bg-sky-50' : ''}`}>
        <div role="cell" className={`${nameCol} shrink-0 truncate py-1.5 pr-3`}>
          <Name
            {...(r.onSelect ? { type: 'button', onClick: r.onSelect } : {})}
            className={`truncate text-left ${r.onSelect ? 'text-slate-800 hover:text-sky-700 hover:underline' : 'text-slate-700'}`}
            title={r.label}
          >
            {r.label}
          </Name>
          {r.sublabel && <span className="ml-1 text-xs text-slate-400">{r.sublabel}</span>}
        </div>
        <div role="cell" className="relative h-6 flex-1">
          {q != null && s != null && s > q && (
            <span
              className="absolute top-1/2 h-1.5 -translate-y-1/2 rounded-l-full bg-slate-200"
              style={{ left: pct(q), width: width(q, s) }}
              title={`queued ${formatDuration((s - q) / 1000)}`}
              aria-hidden="true"
            />
          )}
          {s != null && (
            <span
              className={`absolute top-1/2 h-3.5 -translate-y-1/2 rounded ${FILL[r.tone] || FILL.gray} ${end == null ? 'animate-pulse' : ''}`}
              style={{ left: pct(s), width: width(s, e) }}
              title={`${r.label}: ${formatDuration(dur)}`}
              aria-hidden="true"
            />
          )}
        </div>
        <div role="cell" className="w-16 shrink-0 text-right tabular-nums text-slate-600 sm:w-20">{s == null ? 'not started' : formatDuration(dur)}</div>
      </div>
    );
  };

  return (
    <div role="table" aria-label={label} className="text-sm">
      <div role="rowgroup">
        <div role="row" className="flex items-end text-[11px] text-slate-400">
          <div role="columnheader" className={`${nameCol} shrink-0 pb-1`}>
            <span className="sr-only">Name</span>
          </div>
          <div role="columnheader" className="relative h-5 flex-1">
            <span className="sr-only">Time</span>
            {tickMarks.map((t) => {
              // The first label starts at its tick and labels near the right edge end at it.
              const f = t / span;
              const shift = f === 0 ? '' : f > 0.92 ? '-translate-x-full' : '-translate-x-1/2';
              return (
                <span key={t} className={`absolute whitespace-nowrap tabular-nums ${shift} ${f === 0 ? '' : 'hidden sm:inline'}`} style={{ left: `${f * 100}%` }} aria-hidden="true">
                  {t === 0 ? '0s' : formatDuration(t)}
                </span>
              );
            })}
          </div>
          <div role="columnheader" className="w-16 shrink-0 pb-1 text-right sm:w-20"><span className="sr-only">Duration</span></div>
        </div>
      </div>
      <div role="rowgroup" className="relative">
        {/* The grid lines, once for all rows (not in every row), behind the bars. */}
        <div className="pointer-events-none absolute inset-0 flex" aria-hidden="true">
          <div className={`${nameCol} shrink-0`} />
          <div className="relative flex-1">
            {tickMarks.map((t) => (
              <span key={t} className="absolute inset-y-0 border-l border-dashed border-slate-100" style={{ left: `${(t / span) * 100}%` }} />
            ))}
          </div>
          <div className="w-16 shrink-0 sm:w-20" />
        </div>
        {rows.length <= LAZY_ROWS
          ? rows.map(row)
          : blocksOf(rows.map((r, i) => i), ROW_BLOCK, ROW_FIRST).map((block, b) => (
              <LazyBlock key={b} eager={b === 0} height={block.length * ROW_PX} role="presentation">
                {() => block.map((i) => row(rows[i], i))}
              </LazyBlock>
            ))}
      </div>
    </div>
  );
}
