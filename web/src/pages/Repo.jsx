import { useEffect, useState } from 'react';
import { apiPath, itemsOf, repoPath, useApi, useCursorPages } from '../api.js';
import { Link, useNavigate, useQuery, withQuery } from '../router.jsx';
import RunsTable from '../components/RunsTable.jsx';
import { Async, Card, EmptyState, ExternalLink, PageHeader, Pager, RateBar, RetiredMark } from '../components/ui.jsx';
import { formatCount, formatDuration } from '../lib/format.js';
import { normRun, normWorkflow } from '../model.js';

export const STATUSES = ['queued', 'in_progress', 'completed'];
export const CONCLUSIONS = ['success', 'failure', 'cancelled', 'timed_out', 'skipped', 'action_required', 'neutral', 'startup_failure', 'stale'];
const label = (s) => s.replace(/_/g, ' ');

// A workflow row; when the list reply carries no metrics, asks /metrics for this workflow's week.
function WorkflowRow({ repo, wf }) {
  const m = useApi(wf.hasMetrics ? null : apiPath('/metrics', { repo, workflow: wf.id, window: '7d' }));
  const md = m.data || {};
  const rate = wf.hasMetrics ? wf.successRate : md.success_rate;
  const runs = wf.hasMetrics ? wf.runs : md.runs;
  const avg = wf.hasMetrics ? wf.avgDuration : md.avg_duration_s;
  return (
    <tr className="hover:bg-slate-50">
      <th scope="row" className="px-4 py-3 text-left font-medium">
        <Link to={`/repos/${repoPath(repo)}/workflows/${encodeURIComponent(wf.id)}`} className="text-slate-900 hover:text-sky-700 hover:underline">
          {wf.name}
        </Link>
        {wf.path && <div className="font-mono text-xs font-normal text-slate-500">{wf.path}</div>}
      </th>
      <td className="px-4 py-3"><RateBar rate={rate} /></td>
      <td className="px-4 py-3 text-right tabular-nums">{formatCount(runs)}</td>
      <td className="px-4 py-3 text-right tabular-nums">{formatDuration(avg)}</td>
      <td className="px-4 py-3 text-right text-xs text-slate-500">{wf.state && wf.state !== 'active' ? label(wf.state) : ''}</td>
    </tr>
  );
}

function Workflows({ repo, res }) {
  return (
    <Card title="Workflows" bodyClass="" className="mb-6">
      <Async res={res} what="workflows">
        {(data) => {
          const wfs = itemsOf(data).map(normWorkflow);
          if (!wfs.length) return <div className="p-4"><EmptyState title="No workflows seen yet">Workflows appear once one of their runs has been reported.</EmptyState></div>;
          return (
            <div className="overflow-x-auto">
              <table className="w-full text-sm">
                <caption className="sr-only">Workflows</caption>
                <thead>
                  <tr className="border-b border-slate-100 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
                    <th scope="col" className="px-4 py-2">Workflow</th>
                    <th scope="col" className="px-4 py-2">Success rate (7d)</th>
                    <th scope="col" className="px-4 py-2 text-right">Runs (7d)</th>
                    <th scope="col" className="px-4 py-2 text-right">Avg duration</th>
                    <th scope="col" className="px-4 py-2"><span className="sr-only">State</span></th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {wfs.map((wf) => <WorkflowRow key={wf.id} repo={repo} wf={wf} />)}
                </tbody>
              </table>
            </div>
          );
        }}
      </Async>
    </Card>
  );
}

const selectCls = 'mt-1 block w-full rounded-md border border-slate-300 bg-white px-2.5 py-1.5 text-sm shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500';

function Filters({ query, workflows, onChange }) {
  const [branch, setBranch] = useState(query.branch || '');
  useEffect(() => setBranch(query.branch || ''), [query.branch]);
  const set = (k, v) => onChange({ ...query, [k]: v });
  return (
    <form
      role="search"
      aria-label="Filter runs"
      className="grid grid-cols-2 gap-3 border-b border-slate-100 px-4 py-3 md:grid-cols-5"
      onSubmit={(e) => {
        e.preventDefault();
        set('branch', branch.trim());
      }}
    >
      <label className="text-xs font-medium text-slate-600">
        Branch
        <input className={selectCls} value={branch} placeholder="any branch" onChange={(e) => setBranch(e.target.value)} onBlur={() => branch.trim() !== (query.branch || '') && set('branch', branch.trim())} />
      </label>
      <label className="text-xs font-medium text-slate-600">
        Workflow
        <select className={selectCls} value={query.workflow || ''} onChange={(e) => set('workflow', e.target.value)}>
          <option value="">All workflows</option>
          {workflows.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
        </select>
      </label>
      <label className="text-xs font-medium text-slate-600">
        Status
        <select className={selectCls} value={query.status || ''} onChange={(e) => set('status', e.target.value)}>
          <option value="">Any status</option>
          {STATUSES.map((s) => <option key={s} value={s}>{label(s)}</option>)}
        </select>
      </label>
      <label className="text-xs font-medium text-slate-600">
        Conclusion
        <select className={selectCls} value={query.conclusion || ''} onChange={(e) => set('conclusion', e.target.value)}>
          <option value="">Any conclusion</option>
          {CONCLUSIONS.map((s) => <option key={s} value={s}>{label(s)}</option>)}
        </select>
      </label>
      <div className="flex items-end gap-2">
        <button type="submit" className="rounded-md bg-slate-900 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-slate-700">Apply</button>
        {(query.branch || query.workflow || query.status || query.conclusion) && (
          <button type="button" className="rounded-md px-2 py-1.5 text-sm text-slate-600 hover:bg-slate-100" onClick={() => onChange({})}>Clear</button>
        )}
      </div>
    </form>
  );
}

export default function Repo({ params }) {
  const repo = `${params.owner}/${params.name}`;
  const query = useQuery();
  const navigate = useNavigate();
  const wfRes = useApi(apiPath(`/repos/${repoPath(repo)}/workflows`, { limit: 100 }));
  const filters = { branch: query.branch, status: query.status, conclusion: query.conclusion, workflow: query.workflow };
  const key = JSON.stringify([repo, filters]);
  const pager = useCursorPages(key, (cursor) => apiPath(`/repos/${repoPath(repo)}/runs`, { ...filters, limit: 25, cursor }));
  const repoRes = useApi(apiPath(`/repos/${repoPath(repo)}`));
  const detail = repoRes.data && repoRes.data.repository;
  const workflows = itemsOf(wfRes.data).map(normWorkflow);
  const server = 'https://github.com';

  return (
    <div>
      <PageHeader
        crumbs={[{ label: 'Overview', to: '/' }, { label: repo }]}
        title={detail && detail.retired ? <>{repo} <RetiredMark at={detail.retired_at} /></> : repo}
        subtitle={<ExternalLink href={`${server}/${repo}/actions`}>Actions on GitHub</ExternalLink>}
        actions={<Link to={withQuery('/search', { repo })} className="rounded-md border border-slate-200 bg-white px-3 py-1.5 text-sm font-medium text-slate-700 shadow-sm hover:bg-slate-50">Search logs</Link>}
      />
      <Workflows repo={repo} res={wfRes} />
      <Card title="Recent runs" bodyClass="">
        <Filters query={filters} workflows={workflows} onChange={(q) => navigate(withQuery(`/repos/${repoPath(repo)}`, q), { replace: true, keepScroll: true })} />
        <Async res={pager} what="runs" rows={6}>
          {(data) => {
            const runs = itemsOf(data).map((r) => normRun(r));
            for (const r of runs) {
              if (!r.workflowName && r.workflowId != null) {
                const wf = workflows.find((w) => String(w.id) === String(r.workflowId));
                if (wf) r.workflowName = wf.name;
              }
            }
            if (!runs.length) return <div className="p-4"><EmptyState title="No runs match">Try another branch, status or workflow.</EmptyState></div>;
            return <RunsTable runs={runs} caption={`Runs of ${repo}`} />;
          }}
        </Async>
        <Pager pager={pager} label="Run pages" />
      </Card>
    </div>
  );
}
