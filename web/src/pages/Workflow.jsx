import { useEffect, useState } from 'react';
import { itemsOf, repoPath, useApi } from '../api.js';
import { WINDOWS, reads, workflowWindow } from '../reads.js';
import { useNavigate, useQuery, withQuery } from '../router.jsx';
import RunsTable from '../components/RunsTable.jsx';
import { ConclusionBar, DurationChart, RunsChart, seriesGeometry } from '../components/Charts.jsx';
import { Async, Card, EmptyState, PageHeader, Segmented, Stat, rateTone } from '../components/ui.jsx';
import { bucketName, formatCount, formatDuration, formatPercent } from '../lib/format.js';
import { normRun, normWorkflow } from '../model.js';

function Metrics({ m }) {
  const series = Array.isArray(m.series) ? m.series : [];
  const geo = seriesGeometry(m);
  return (
    <>
      <div className="mb-6 grid grid-cols-2 gap-4 md:grid-cols-3 lg:grid-cols-5">
        <Stat label="Success rate" value={formatPercent(m.success_rate)} tone={rateTone(m.success_rate)} hint="success ÷ (success + failure + timed out)" />
        <Stat label="Runs" value={formatCount(m.runs)} hint="latest attempts completed" />
        <Stat label="Avg duration" value={formatDuration(m.avg_duration_s)} />
        <Stat label="p50 duration" value={formatDuration(m.p50_duration_s)} />
        <Stat label="p95 duration" value={formatDuration(m.p95_duration_s)} />
        <Stat label="Avg queue" value={formatDuration(m.avg_queue_s)} hint="job start − job created" />
        <Stat label="p95 queue" value={formatDuration(m.p95_queue_s)} />
        <Stat label="MTTR" value={formatDuration(m.mttr_s)} hint="first failure → next success" />
        <Stat label="Flaky runs" value={formatCount(m.flaky_runs)} tone={m.flaky_runs ? 'amber' : undefined} hint="failed, then passed on re-run" />
      </div>
      <div className="mb-6 grid gap-6 lg:grid-cols-3">
        <Card title="Runs by conclusion">
          <ConclusionBar byConclusion={m.by_conclusion} />
        </Card>
        <Card title={`Runs per ${bucketName(geo.bucketS)}`} className="lg:col-span-2">
          {series.length ? <RunsChart series={series} {...geo} /> : <EmptyState title="No series for this window" />}
        </Card>
      </div>
      <Card title="Duration" className="mb-6">
        {series.length ? <DurationChart series={series} {...geo} /> : <EmptyState title="No series for this window" />}
      </Card>
    </>
  );
}

export default function Workflow({ params }) {
  const repo = `${params.owner}/${params.name}`;
  const wfId = params.id;
  const query = useQuery();
  const navigate = useNavigate();
  const window = workflowWindow(query);
  const branch = query.branch || '';
  const [branchInput, setBranchInput] = useState(branch);
  useEffect(() => setBranchInput(branch), [branch]);
  const here = `/repos/${repoPath(repo)}/workflows/${encodeURIComponent(wfId)}`;
  const setQuery = (q) => navigate(withQuery(here, { window, branch, ...q }), { replace: true, keepScroll: true });

  const wfs = useApi(reads.workflows(repo));
  const wf = itemsOf(wfs.data).map(normWorkflow).find((w) => String(w.id) === String(wfId));
  const metrics = useApi(reads.workflowMetrics(repo, wfId, query));
  const runs = useApi(reads.workflowRuns(repo, wfId, query));
  const name = wf ? wf.name : wfs.loading ? 'Workflow' : `Workflow ${wfId}`;

  return (
    <div>
      <PageHeader
        crumbs={[{ label: 'Overview', to: '/' }, { label: repo, to: `/repos/${repoPath(repo)}` }, { label: name }]}
        title={name}
        subtitle={wf && wf.path ? <span className="font-mono text-xs">{wf.path}</span> : null}
        actions={
          <div className="flex flex-wrap items-center gap-3">
            <form
              onSubmit={(e) => {
                e.preventDefault();
                setQuery({ branch: branchInput.trim() });
              }}
              className="flex items-center gap-2"
            >
              <label className="flex items-center gap-2 text-sm text-slate-600">
                Branch
                <input value={branchInput} onChange={(e) => setBranchInput(e.target.value)} placeholder="all branches" className="w-36 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm shadow-sm focus:border-sky-500 focus:outline-none" />
              </label>
            </form>
            <Segmented label="Window" options={WINDOWS} value={window} onChange={(v) => setQuery({ window: v })} />
          </div>
        }
      />
      <Async res={metrics} what="metrics" rows={6}>{(m) => <Metrics m={m} />}</Async>
      <Card title="Recent runs" bodyClass="">
        <Async res={runs} what="runs">
          {(data) => {
            const list = itemsOf(data).map(normRun);
            if (!list.length) return <div className="p-4"><EmptyState title="No runs of this workflow yet" /></div>;
            return <RunsTable runs={list} showWorkflow={false} caption={`Recent runs of ${name}`} />;
          }}
        </Async>
      </Card>
    </div>
  );
}
