// A table of runs (repository page, workflow page).
import { Link } from '../router.jsx';
import { DASH, formatDuration, formatRelative, formatDateTime, shortSha } from '../lib/format.js';
import { StatusBadge } from './ui.jsx';

export function runHref(run) {
  const base = `/runs/${encodeURIComponent(run.runId)}`;
  return run.attempt && run.attempt > 1 ? `${base}?attempt=${run.attempt}` : base;
}

export default function RunsTable({ runs, showWorkflow = true, caption = 'Runs' }) {
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr className="border-b border-slate-100 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
            <th scope="col" className="px-4 py-2">Status</th>
            <th scope="col" className="px-4 py-2">Run</th>
            {showWorkflow && <th scope="col" className="px-4 py-2">Workflow</th>}
            <th scope="col" className="px-4 py-2">Branch</th>
            <th scope="col" className="px-4 py-2">Event</th>
            <th scope="col" className="px-4 py-2 text-right">Duration</th>
            <th scope="col" className="px-4 py-2 text-right">Started</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {runs.map((r) => (
            <tr key={`${r.runId}-${r.attempt}`} className="hover:bg-slate-50">
              <td className="px-4 py-2.5"><StatusBadge status={r.status} conclusion={r.conclusion} /></td>
              <td className="px-4 py-2.5">
                <Link to={runHref(r)} className="font-medium text-slate-900 hover:text-sky-700 hover:underline">
                  {r.runNumber != null ? `#${r.runNumber}` : `Run ${r.runId}`}
                </Link>
                {r.attempt > 1 && <span className="ml-1.5 text-xs text-slate-500">attempt {r.attempt}</span>}
                <div className="text-xs text-slate-500">
                  <span className="font-mono">{shortSha(r.sha)}</span>
                  {r.actor ? ` · ${r.actor}` : ''}
                </div>
              </td>
              {showWorkflow && <td className="px-4 py-2.5 text-slate-700">{r.workflowName || DASH}</td>}
              <td className="px-4 py-2.5">
                {r.branch ? <span className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-700">{r.branch}</span> : DASH}
              </td>
              <td className="px-4 py-2.5 text-slate-600">{r.event || DASH}</td>
              <td className="px-4 py-2.5 text-right tabular-nums text-slate-700">{formatDuration(r.duration)}</td>
              <td className="px-4 py-2.5 text-right text-slate-500" title={formatDateTime(r.startedAt || r.createdAt)}>
                {formatRelative(r.startedAt || r.createdAt)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
