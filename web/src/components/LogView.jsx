// The log viewer: a job's log tails, one section per step. Text is rendered only as React text
// nodes inside spans (never as HTML); ANSI colours come from lib/ansi.js.
import { Fragment, useEffect, useMemo, useRef, useState } from 'react';
import { apiPath, itemsOf, useApi } from '../api.js';
import { parseAnsi, styleToCss } from '../lib/ansi.js';
import { formatBytes } from '../lib/format.js';
import { normLog } from '../model.js';
import { EmptyState, ErrorState, LoadingState, StatusBadge } from './ui.jsx';

function lineText(segs) {
  return segs.map((s) => s.text).join('');
}

// Text with the matches of `needle` marked, all as text nodes.
function Marked({ text, needle }) {
  if (!needle) return text;
  const lower = text.toLowerCase();
  const n = needle.toLowerCase();
  const out = [];
  let i = 0;
  let k = 0;
  for (;;) {
    const j = lower.indexOf(n, i);
    if (j < 0) break;
    if (j > i) out.push(<Fragment key={k++}>{text.slice(i, j)}</Fragment>);
    out.push(<mark key={k++} className="rounded-sm bg-yellow-300/80 text-slate-900">{text.slice(j, j + n.length)}</mark>);
    i = j + n.length;
  }
  if (!out.length) return text;
  if (i < text.length) out.push(<Fragment key={k++}>{text.slice(i)}</Fragment>);
  return out;
}

export function LogLines({ content, find = '', highlightLine = null, startAt = 1 }) {
  const lines = useMemo(() => parseAnsi(content), [content]);
  const hl = useRef(null);
  useEffect(() => {
    if (hl.current) hl.current.scrollIntoView({ block: 'center' });
  }, [highlightLine]);
  const needle = find.trim();
  return (
    <ol className="log-lines overflow-x-auto py-2 font-mono text-[12.5px] leading-5 text-slate-200" aria-label="Log lines">
      {lines.map((segs, i) => {
        const no = i + startAt;
        const isHl = highlightLine === no;
        const hit = needle && lineText(segs).toLowerCase().includes(needle.toLowerCase());
        return (
          <li key={i} ref={isHl ? hl : undefined} data-line={no} className={`flex px-3 ${isHl ? 'bg-amber-400/20 ring-1 ring-inset ring-amber-400/50' : hit ? 'bg-yellow-400/10' : 'hover:bg-white/5'}`}>
            <span className="mr-4 w-10 shrink-0 select-none text-right text-slate-500" aria-hidden="true">{no}</span>
            <span className="whitespace-pre-wrap break-all">
              {segs.length === 0 ? '\u200b' : segs.map((s, j) => (
                <span key={j} style={styleToCss(s.style)}>
                  {hit ? <Marked text={s.text} needle={needle} /> : s.text}
                </span>
              ))}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

function StepLog({ log, step, open, onToggle, find, highlightLine }) {
  const title = step ? step.name : log.stepNumber === 0 ? 'Job output' : `Step ${log.stepNumber}`;
  const id = `log-step-${log.stepNumber}`;
  return (
    <section className="border-b border-white/5 last:border-0" aria-label={`Log of ${title}`} id={id}>
      <h4>
        <button
          type="button"
          aria-expanded={open}
          onClick={onToggle}
          className="flex w-full items-center gap-2 px-3 py-2 text-left text-sm text-slate-200 hover:bg-white/5"
        >
          <svg className={`h-3 w-3 shrink-0 text-slate-400 transition-transform ${open ? 'rotate-90' : ''}`} viewBox="0 0 16 16" fill="currentColor" aria-hidden="true"><path d="M6 3l5 5-5 5z" /></svg>
          <span className="font-medium">{title}</span>
          {step && <StatusBadge status={step.status} conclusion={step.conclusion} size="sm" />}
          <span className="ml-auto flex items-center gap-3 text-xs text-slate-400">
            {log.exitCode != null && <span className={log.exitCode === 0 ? '' : 'text-rose-300'}>exit code {log.exitCode}</span>}
            {log.truncated && <span title="Only the tail of this log was kept">last part of {log.originalSize != null ? formatBytes(log.originalSize) : 'a longer log'}</span>}
          </span>
        </button>
      </h4>
      {open && (log.content ? <LogLines content={log.content} find={find} highlightLine={highlightLine} /> : <p className="px-10 pb-3 text-xs text-slate-500">(empty)</p>)}
    </section>
  );
}

export default function LogView({ job, focusStep = null, focusLine = null }) {
  const res = useApi(apiPath(`/jobs/${encodeURIComponent(job.id)}/logs`));
  const [openSet, setOpenSet] = useState(null);
  const [find, setFind] = useState('');

  const logs = useMemo(() => {
    const d = res.data;
    const raw = d ? (Array.isArray(d.logs) ? d.logs : itemsOf(d)) : [];
    return raw.map(normLog).sort((a, b) => a.stepNumber - b.stepNumber);
  }, [res.data]);

  // By default open the step asked for, else the failed steps, else everything.
  const defaultOpen = useMemo(() => {
    if (focusStep != null) return new Set([Number(focusStep)]);
    const failed = (job.steps || []).filter((s) => ['failure', 'timed_out'].includes(s.conclusion)).map((s) => s.number);
    const withLogs = new Set(logs.map((l) => l.stepNumber));
    const f = failed.filter((n) => withLogs.has(n));
    return new Set(f.length ? f : logs.map((l) => l.stepNumber));
  }, [focusStep, job.steps, logs]);
  const open = openSet || defaultOpen;
  const toggle = (n) => {
    const next = new Set(open);
    if (next.has(n)) next.delete(n);
    else next.add(n);
    setOpenSet(next);
  };

  let body;
  if (res.error) body = <div className="p-3"><ErrorState error={res.error} title="Could not load the logs" onRetry={res.reload} /></div>;
  else if (res.loading || !res.data) body = <div className="p-3"><LoadingState label="Loading logs…" /></div>;
  else if (!logs.length) body = <div className="p-3"><EmptyState title="No log tails for this job">The agent sends log tails for steps it ran with <code>cipulse-agent exec</code>, for log files it was told about, and for finished jobs in run mode.</EmptyState></div>;
  else {
    body = (
      <div className="bg-slate-950">
        {logs.map((l) => (
          <StepLog
            key={l.stepNumber}
            log={l}
            step={(job.steps || []).find((s) => s.number === l.stepNumber)}
            open={open.has(l.stepNumber)}
            onToggle={() => toggle(l.stepNumber)}
            find={find}
            highlightLine={focusStep != null && Number(focusStep) === l.stepNumber && focusLine != null ? Number(focusLine) : null}
          />
        ))}
      </div>
    );
  }

  return (
    <div className="overflow-hidden rounded-lg border border-slate-800 bg-slate-900" role="region" aria-label={`Logs of ${job.name}`}>
      <div className="flex items-center gap-3 border-b border-slate-800 px-3 py-2">
        <span className="text-xs font-semibold uppercase tracking-wide text-slate-400">Logs</span>
        <label className="ml-auto flex items-center gap-2 text-xs text-slate-400">
          <span>Find in log</span>
          <input
            type="search"
            value={find}
            onChange={(e) => setFind(e.target.value)}
            className="w-48 rounded border border-slate-700 bg-slate-800 px-2 py-1 text-xs text-slate-100 placeholder-slate-500 focus:border-sky-500 focus:outline-none"
            placeholder="text"
          />
        </label>
      </div>
      {body}
    </div>
  );
}
