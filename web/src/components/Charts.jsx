// Plain-SVG charts for metric series: stacked run counts per bucket and duration lines.
import { useEffect, useRef, useState } from 'react';
import { bucketName, formatBucket, formatDuration, formatPercent, toMillis } from '../lib/format.js';

function useWidth(initial = 640) {
  const ref = useRef(null);
  const [w, setW] = useState(initial);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return undefined;
    const ro = new ResizeObserver((entries) => {
      const cw = Math.floor(entries[0].contentRect.width);
      if (cw > 0) setW(cw);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, w];
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  const m = v / p;
  const n = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
  return n * p;
}

// Nice round duration steps for an axis.
function niceDurationMax(v) {
  const steps = [10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  return steps.find((s) => s >= v) || niceMax(v);
}

const H = 220;

/** Bucket length and window span (seconds) of a metrics reply, from bucket_s or the series. */
export function seriesGeometry(m) {
  const series = Array.isArray(m.series) ? m.series : [];
  let bucketS = typeof m.bucket_s === 'number' ? m.bucket_s : null;
  if (bucketS == null && series.length > 1) bucketS = (toMillis(series[1].ts) - toMillis(series[0].ts)) / 1000;
  const from = toMillis(m.from);
  const to = toMillis(m.to);
  const windowS = from != null && to != null ? (to - from) / 1000 : bucketS != null ? bucketS * series.length : null;
  return { bucketS, windowS };
}
const PAD = { l: 60, r: 12, t: 12, b: 28 };

export const CONCLUSION_COLORS = {
  success: '#10b981',
  failure: '#f43f5e',
  timed_out: '#be123c',
  cancelled: '#94a3b8',
  other: '#cbd5e1',
};

// Every how many buckets an x label fits, for labels of about `chars` characters.
function labelEvery(n, width, chars = 5) {
  const fit = Math.max(1, Math.floor((width - PAD.l - PAD.r) / (chars * 6.5 + 16)));
  return Math.max(1, Math.ceil(n / fit));
}

// An x-axis label that never runs off either edge of the chart.
function XLabel({ x, width, children }) {
  const half = String(children).length * 3.3;
  const anchor = x - half < 2 ? 'start' : x + half > width - 2 ? 'end' : 'middle';
  const ax = anchor === 'start' ? Math.max(x - half, 2) : anchor === 'end' ? Math.min(x + half, width - 2) : x;
  return <text x={ax} y={H - 8} textAnchor={anchor} fontSize="11" fill="#94a3b8">{children}</text>;
}

/** Stacked bars of runs per bucket by conclusion, with the success rate as a line. */
export function RunsChart({ series, bucketS, windowS }) {
  const [ref, width] = useWidth();
  const n = series.length;
  const innerW = width - PAD.l - PAD.r;
  const innerH = H - PAD.t - PAD.b;
  const totals = series.map((b) => b.runs ?? Object.values(b.by_conclusion || {}).reduce((a, x) => a + x, 0));
  const max = niceMax(Math.max(1, ...totals));
  const bw = n ? innerW / n : innerW;
  const y = (v) => PAD.t + innerH - (v / max) * innerH;
  const every = labelEvery(n, width, n ? formatBucket(series[0].ts, bucketS, windowS).length : 5);
  const rateLine = series
    .map((b, i) => (typeof b.success_rate === 'number' ? `${PAD.l + bw * i + bw / 2},${PAD.t + innerH - b.success_rate * innerH}` : null))
    .filter(Boolean);
  const total = totals.reduce((a, x) => a + x, 0);

  return (
    <div ref={ref} className="w-full">
      <svg width={width} height={H} role="img" aria-label={`Runs per ${bucketName(bucketS)}: ${total} in the window, stacked by conclusion, with the success rate`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={PAD.l} x2={width - PAD.r} y1={y(max * f)} y2={y(max * f)} stroke="#e2e8f0" strokeDasharray={f ? '3 3' : undefined} />
            <text x={PAD.l - 6} y={y(max * f) + 4} textAnchor="end" fontSize="11" fill="#94a3b8">{Math.round(max * f)}</text>
          </g>
        ))}
        {series.map((b, i) => {
          const bc = b.by_conclusion || {};
          const parts = [
            ['success', bc.success || 0],
            ['failure', bc.failure || 0],
            ['timed_out', bc.timed_out || 0],
            ['cancelled', bc.cancelled || 0],
          ];
          const known = parts.reduce((a, [, v]) => a + v, 0);
          parts.push(['other', Math.max(0, totals[i] - known)]);
          let acc = 0;
          const x = PAD.l + bw * i + Math.max(1, bw * 0.15);
          const w = Math.max(1, bw * 0.7);
          return (
            <g key={i}>
              <title>{`${formatBucket(b.ts, bucketS, windowS)}: ${totals[i]} runs, success rate ${formatPercent(b.success_rate)}`}</title>
              {parts.map(([k, v]) => {
                if (!v) return null;
                const y0 = y(acc);
                acc += v;
                const y1 = y(acc);
                return <rect key={k} x={x} y={y1} width={w} height={Math.max(0, y0 - y1)} fill={CONCLUSION_COLORS[k]} rx="1.5" />;
              })}
              {i % every === 0 && (
                <XLabel x={PAD.l + bw * i + bw / 2} width={width}>{formatBucket(b.ts, bucketS, windowS)}</XLabel>
              )}
            </g>
          );
        })}
        {rateLine.length > 1 && <polyline points={rateLine.join(' ')} fill="none" stroke="#0f172a" strokeWidth="1.5" strokeDasharray="4 3" opacity="0.6" />}
      </svg>
      <div className="mt-1 flex flex-wrap gap-4 text-xs text-slate-500">
        {[['success', 'Success'], ['failure', 'Failure'], ['timed_out', 'Timed out'], ['cancelled', 'Cancelled'], ['other', 'Other']].map(([k, l]) => (
          <span key={k} className="inline-flex items-center gap-1.5"><span className="h-2.5 w-2.5 rounded-sm" style={{ background: CONCLUSION_COLORS[k] }} />{l}</span>
        ))}
        <span className="inline-flex items-center gap-1.5"><span className="w-4 border-t-2 border-dashed border-slate-700 opacity-60" />Success rate</span>
      </div>
    </div>
  );
}

/** p50 / p95 / average duration per bucket as lines. */
export function DurationChart({ series, bucketS, windowS }) {
  const [ref, width] = useWidth();
  const n = series.length;
  const innerW = width - PAD.l - PAD.r;
  const innerH = H - PAD.t - PAD.b;
  const vals = series.flatMap((b) => [b.p95_duration_s, b.p50_duration_s, b.avg_duration_s]).filter((v) => typeof v === 'number');
  const max = niceDurationMax(Math.max(1, ...vals));
  // Points sit in the middle of their bucket, as the bars of the runs chart do.
  const x = (i) => PAD.l + (n ? (innerW * (i + 0.5)) / n : innerW / 2);
  const y = (v) => PAD.t + innerH - (v / max) * innerH;
  const every = labelEvery(n, width, n ? formatBucket(series[0].ts, bucketS, windowS).length : 5);
  const lines = [
    ['p95_duration_s', '#f59e0b', 'p95'],
    ['p50_duration_s', '#0ea5e9', 'p50'],
    ['avg_duration_s', '#64748b', 'average'],
  ];
  return (
    <div ref={ref} className="w-full">
      <svg width={width} height={H} role="img" aria-label="Run duration per bucket: p50, p95 and average">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={PAD.l} x2={width - PAD.r} y1={y(max * f)} y2={y(max * f)} stroke="#e2e8f0" strokeDasharray={f ? '3 3' : undefined} />
            <text x={PAD.l - 6} y={y(max * f) + 4} textAnchor="end" fontSize="11" fill="#94a3b8">{formatDuration(max * f)}</text>
          </g>
        ))}
        {series.map((b, i) => (i % every === 0 ? <XLabel key={i} x={x(i)} width={width}>{formatBucket(b.ts, bucketS, windowS)}</XLabel> : null))}
        {lines.map(([k, color, name]) => {
          const pts = series.map((b, i) => (typeof b[k] === 'number' ? [x(i), y(b[k]), b] : null));
          // Break the line where a bucket has no runs.
          const segs = [];
          let cur = [];
          for (const p of pts) {
            if (p) cur.push(p);
            else if (cur.length) {
              segs.push(cur);
              cur = [];
            }
          }
          if (cur.length) segs.push(cur);
          return (
            <g key={k}>
              {segs.map((s, j) => (s.length > 1 ? <polyline key={j} points={s.map((p) => `${p[0]},${p[1]}`).join(' ')} fill="none" stroke={color} strokeWidth={k === 'avg_duration_s' ? 1.25 : 2} strokeDasharray={k === 'avg_duration_s' ? '4 3' : undefined} /> : null))}
              {pts.map((p, i) => p && (
                <circle key={i} cx={p[0]} cy={p[1]} r="2.5" fill={color}>
                  <title>{`${formatBucket(p[2].ts, bucketS, windowS)} ${name}: ${formatDuration(p[2][k])}`}</title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
      <div className="mt-1 flex flex-wrap gap-4 text-xs text-slate-500">
        {lines.map(([k, color, name]) => (
          <span key={k} className="inline-flex items-center gap-1.5"><span className="h-0.5 w-4" style={{ background: color }} />{name}</span>
        ))}
      </div>
    </div>
  );
}

/** One horizontal bar split by conclusion, with a legend of counts. */
export function ConclusionBar({ byConclusion }) {
  const entries = Object.entries(byConclusion || {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((a, [, v]) => a + v, 0);
  if (!total) return <p className="text-sm text-slate-500">No runs concluded in this window.</p>;
  const color = (k) => CONCLUSION_COLORS[k] || CONCLUSION_COLORS.other;
  return (
    <div>
      <div className="flex h-3 overflow-hidden rounded-full bg-slate-100" aria-hidden="true">
        {entries.map(([k, v]) => <span key={k} style={{ width: `${(v / total) * 100}%`, background: color(k) }} />)}
      </div>
      <ul className="mt-3 grid grid-cols-2 gap-x-6 gap-y-1 text-sm sm:grid-cols-3" aria-label="Runs by conclusion">
        {entries.map(([k, v]) => (
          <li key={k} className="flex items-center gap-2">
            <span className="h-2.5 w-2.5 rounded-sm" style={{ background: color(k) }} aria-hidden="true" />
            <span className="text-slate-600">{k.replace(/_/g, ' ')}</span>
            <span className="ml-auto font-medium tabular-nums text-slate-900">{v}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
