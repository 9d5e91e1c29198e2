// Read-only view of the alert rules and notification channels (GET /api/v1/settings/alerts).
// Channel destinations are secrets the API never returns; only whether one is set is shown.
import { apiPath, repoPath, useApi, useWorkflowNames } from '../api.js';
import { Link } from '../router.jsx';
import { formatDuration, formatPercent } from '../lib/format.js';
import { Async, Card, EmptyState, humanize } from './ui.jsx';

// "1 day", "6 hours", "90 minutes": how long a rule's window is.
function span(seconds) {
  if (seconds % 86400 === 0) return seconds === 86400 ? '1 day' : `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return `${seconds / 60} minutes`;
  return formatDuration(seconds);
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** What a rule fires on, in words, from its kind and params. */
export function describeRule(kind, params) {
  const p = params || {};
  switch (kind) {
    case 'failure':
      return 'a run concludes with failure';
    case 'flapping': {
      const f = num(p.failures);
      const within = [num(p.runs) != null ? `${p.runs} runs` : null, num(p.minutes) != null ? `${p.minutes} minutes` : null].filter(Boolean).join(' or ');
      return `${f != null ? f : 'several'} runs fail within ${within || 'a short span'}`;
    }
    case 'regression':
      return `the success rate is below ${formatPercent(num(p.threshold), 0)}${num(p.window_s) != null ? ` over ${span(p.window_s)}` : ''}`;
    case 'slow_build':
      return `the average duration is above ${formatDuration(num(p.threshold))}${num(p.window_s) != null ? ` over ${span(p.window_s)}` : ''}`;
    default:
      return humanize(kind || 'rule');
  }
}

export default function AlertRules() {
  const res = useApi(apiPath('/settings/alerts'));
  const allRules = res.data && Array.isArray(res.data.rules) ? res.data.rules : [];
  const wfNames = useWorkflowNames(allRules.filter((r) => r.repo && r.workflow_id != null).map((r) => r.repo));
  return (
    <div className="mt-6 grid gap-6 lg:grid-cols-3">
      <Card title="Alert rules" bodyClass="" className="lg:col-span-2">
        <Async res={res} what="alert rules">
          {(data) => {
            const rules = Array.isArray(data.rules) ? data.rules : [];
            if (!rules.length) return <div className="p-4"><EmptyState title="No alert rules">Rules are set with <code className="rounded bg-slate-100 px-1">POST /api/v1/settings/alerts</code> (admin token).</EmptyState></div>;
            return (
              <ul className="divide-y divide-slate-100" aria-label="Alert rules">
                {rules.map((r) => (
                  <li key={r.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 px-4 py-3 text-sm">
                    <span className="font-medium text-slate-900">{r.name}</span>
                    <span className="text-slate-600">when {describeRule(r.kind, r.params)}</span>
                    <span className="text-slate-500">
                      {r.repo ? (
                        <>
                          in <Link to={`/repos/${repoPath(r.repo)}`} className="hover:underline">{r.repo}</Link>
                        </>
                      ) : 'in every repository'}
                      {r.workflow_id != null ? `, workflow ${(wfNames[r.repo] && wfNames[r.repo][String(r.workflow_id)]) || r.workflow_id}` : ''}
                      {r.branch ? `, branch ${r.branch}` : ''}
                    </span>
                    <span className="ml-auto flex items-center gap-2 text-xs">
                      {(Array.isArray(r.channels) ? r.channels : []).map((c) => (
                        <span key={String(c)} className="rounded bg-slate-100 px-1.5 py-0.5 text-slate-600">→ {String(c)}</span>
                      ))}
                      {r.enabled === false && <span className="rounded bg-amber-50 px-1.5 py-0.5 text-amber-700">disabled</span>}
                    </span>
                  </li>
                ))}
              </ul>
            );
          }}
        </Async>
      </Card>
      <Card title="Notification channels" bodyClass="">
        <Async res={res} what="notification channels">
          {(data) => {
            const chans = Array.isArray(data.channels) ? data.channels : [];
            if (!chans.length) return <div className="p-4"><EmptyState title="No channels">Alerts are listed here but not sent anywhere.</EmptyState></div>;
            return (
              <ul className="divide-y divide-slate-100" aria-label="Notification channels">
                {chans.map((c) => (
                  <li key={c.id} className="flex items-center gap-2 px-4 py-3 text-sm">
                    <span className="font-medium text-slate-900">{c.name}</span>
                    <span className="rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-600">{humanize(c.kind)}</span>
                    <span className="ml-auto text-xs text-slate-500">
                      {c.enabled === false ? 'disabled' : c.target_set === false ? 'no destination' : 'active'}
                    </span>
                  </li>
                ))}
              </ul>
            );
          }}
        </Async>
      </Card>
    </div>
  );
}
