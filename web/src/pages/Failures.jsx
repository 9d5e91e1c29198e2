// Failure groups: failed jobs whose error lines normalise to the same fingerprint, across runs
// and repositories. The list (/failures) and one group (/failures/{fingerprint}); its own chunk.
import { apiPath, repoPath, useCursorPages } from '../api.js';
import { Link, useNavigate, useQuery, withQuery } from '../router.jsx';
import { Async, Card, EmptyState, PageHeader, Pager, PendingPage, RepoFilter, Segmented, Stat } from '../components/ui.jsx';
import { TrendBars } from '../components/TestBits.jsx';
import { DASH, formatCount, formatDateTime, formatRelative } from '../lib/format.js';
import { TEST_WINDOWS, groupStory, runJobHref } from '../lib/tests.js';
import { normFailureDetail, normFailureGroup } from '../model.js';

function RunLink({ r }) {
  return (
    <Link to={runJobHref(r.runId, r.attempt, r.jobId)} className="text-sky-700 hover:underline">
      {r.repo ? `${r.repo} ` : ''}run {r.runId}{r.attempt > 1 ? ` · attempt ${r.attempt}` : ''}{r.jobName ? ` · ${r.jobName}` : ''}
    </Link>
  );
}

export function FailureList() {
  const query = useQuery();
  const navigate = useNavigate();
  const repo = (query.repo || '').trim();
  const win = TEST_WINDOWS.includes(query.window) ? query.window : '7d';
  const go = (q) => navigate(withQuery('/failures', { repo, window: win === '7d' ? '' : win, ...q }), { replace: true });
  const pager = useCursorPages(JSON.stringify([repo, win]), (cursor) => apiPath('/failures', { repo, window: win, limit: 50, cursor }));
  const groups = (pager.data && Array.isArray(pager.data.failures) ? pager.data.failures : []).map(normFailureGroup);
  return (
    <div>
      <PageHeader
        title="Failure groups"
        subtitle="Failed jobs whose error lines are the same once numbers, paths and ids are taken out."
        actions={
          <div className="flex flex-wrap items-center gap-3">
            <RepoFilter value={repo} onApply={(r) => go({ repo: r })} />
            <Segmented label="Window" options={TEST_WINDOWS.map((w) => ({ value: w, label: w }))} value={win} onChange={(v) => go({ window: v === '7d' ? '' : v })} />
          </div>
        }
      />
      <Card title="Failure groups" bodyClass="">
        <Async res={pager} what="failure groups" rows={5}>
          {() =>
            groups.length ? (
              <ul className="divide-y divide-slate-100" aria-label="Failure groups">
                {groups.map((g) => (
                  <li key={g.fingerprint} className="flex flex-wrap items-start gap-4 px-4 py-3" aria-label={`Failure group ${g.fingerprint}`}>
                    <div className="min-w-0 flex-1">
                      <Link to={`/failures/${encodeURIComponent(g.fingerprint)}`} className="break-words font-mono text-sm font-medium text-slate-900 hover:text-sky-700 hover:underline">
                        {g.title || g.fingerprint}
                      </Link>
                      <p className="mt-0.5 text-sm text-slate-500">{groupStory(g)}{g.repos.length ? ` · ${g.repos.join(', ')}` : ''}</p>
                      {g.examples.length > 0 && (
                        <p className="mt-0.5 flex flex-wrap gap-x-3 text-xs">
                          {g.examples.slice(0, 3).map((r, i) => <RunLink key={i} r={r} />)}
                        </p>
                      )}
                    </div>
                    <div className="text-right text-xs text-slate-500">
                      <TrendBars trend={g.trend} />
                      <div title={formatDateTime(g.lastSeen)}>last {formatRelative(g.lastSeen)}</div>
                    </div>
                  </li>
                ))}
              </ul>
            ) : (
              <div className="p-4">
                <EmptyState title="No failure groups">Failed jobs with error lines are grouped here.</EmptyState>
              </div>
            )
          }
        </Async>
        <Pager pager={pager} label="Failure group pages" />
      </Card>
    </div>
  );
}

export function FailureDetail({ params }) {
  const fp = params.fingerprint;
  const pager = useCursorPages(fp, (cursor) => apiPath(`/failures/${encodeURIComponent(fp)}`, { limit: 50, cursor }));
  const crumbs = [{ label: 'Failure groups', to: '/failures' }, { label: fp }];
  if (!pager.data) return <PendingPage crumbs={crumbs} title="Failure group" res={pager} what="this failure group" />;
  const d = normFailureDetail(pager.data);
  const g = d.group;
  return (
    <div>
      <PageHeader crumbs={crumbs} title={<span className="font-mono text-xl">{g.title || fp}</span>} subtitle={groupStory(g)} />
      <div className="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-4">
        <Stat label="Runs" value={formatCount(g.runs)} tone="red" />
        <Stat label="Repositories" value={formatCount(g.repositories)} hint={g.repos.join(', ') || undefined} />
        <Stat label="First seen" value={formatRelative(g.firstSeen)} hint={formatDateTime(g.firstSeen)} />
        <Stat label="Last seen" value={formatRelative(g.lastSeen)} hint={formatDateTime(g.lastSeen)} />
      </div>
      <Card title="Trend" className="mb-6">
        <TrendBars trend={g.trend} days={30} className="h-16 w-full" />
      </Card>
      <Card title="Normalised error lines" className="mb-6">
        {d.lines.length ? (
          <pre className="overflow-x-auto whitespace-pre-wrap break-words rounded bg-slate-950 p-3 font-mono text-xs text-slate-100" aria-label="Normalised lines">{d.lines.join('\n')}</pre>
        ) : (
          <p className="text-sm text-slate-500">No lines kept for this group.</p>
        )}
      </Card>
      <Card title="Runs" bodyClass="">
        <Async res={pager} what="runs" rows={4}>
          {() =>
            d.runs.length ? (
              <ul className="divide-y divide-slate-100 text-sm" aria-label="Runs in this group">
                {d.runs.map((r, i) => (
                  <li key={`${r.runId}-${r.attempt}-${r.jobId}-${i}`} className="flex flex-wrap items-center gap-3 px-4 py-2">
                    <RunLink r={r} />
                    {r.branch && <span className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-700">{r.branch}</span>}
                    {r.repo && <Link to={`/repos/${repoPath(r.repo)}`} className="text-xs text-slate-500 hover:underline">{r.repo}</Link>}
                    <span className="ml-auto text-xs text-slate-500" title={formatDateTime(r.completedAt)}>{r.completedAt ? formatRelative(r.completedAt) : DASH}</span>
                  </li>
                ))}
              </ul>
            ) : (
              <div className="p-4"><EmptyState title="No runs" /></div>
            )
          }
        </Async>
        <Pager pager={pager} label="Run pages" />
      </Card>
    </div>
  );
}

export default FailureList;
