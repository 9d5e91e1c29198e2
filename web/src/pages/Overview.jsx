import { itemsOf, repoPath, useApi, useCursorPages, useInterval } from '../api.js';
import { reads } from '../reads.js';
import { Link } from '../router.jsx';
import { Async, Card, EmptyState, PageHeader, Pager, RateBar, RetiredMark, Stat, StatusBadge, rateTone } from '../components/ui.jsx';
import { LazyBlock, blocksOf } from '../components/Lazy.jsx';
import { runHref } from '../components/RunsTable.jsx';
import { DASH, formatCount, formatDuration, formatPercent, formatRelative } from '../lib/format.js';
import { normAlert, normRepo, pooledSuccessRate } from '../model.js';

// With more repositories than a page, the figures are the page's (the API gives no total).
function Summary({ repos, alerts, paged }) {
  const rate = pooledSuccessRate(repos);
  const failing = repos.filter((r) => r.lastRun && ['failure', 'timed_out', 'startup_failure'].includes(r.lastRun.conclusion)).length;
  let openAlerts = DASH;
  if (alerts.data) {
    const n = itemsOf(alerts.data).map(normAlert).filter((a) => !a.state || a.state === 'open').length;
    openAlerts = alerts.data.next_cursor ? `${n}+` : String(n);
  }
  return (
    <div className="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-4">
      <Stat label="Repositories" value={repos.length} hint={paged ? 'on this page' : undefined} />
      <Stat label="Success rate (7d)" value={formatPercent(rate)} tone={rateTone(rate)} hint={paged ? 'this page\'s repositories together' : 'all repositories together'} />
      <Stat label="Last run failed" value={failing} tone={failing ? 'red' : 'green'} hint={paged ? 'repositories on this page' : 'repositories'} />
      <Stat label="Open alerts" value={openAlerts} tone={openAlerts !== '0' && openAlerts !== DASH ? 'amber' : undefined} hint={<Link to="/alerts" className="hover:underline">view alerts</Link>} />
    </div>
  );
}

// One repository's row. A page of 50 is rendered ROW_FIRST rows first (about a screen), the
// others in blocks as they come near the viewport (components/Lazy.jsx); a row is ~ROW_PX tall.
const ROW_FIRST = 20;
const ROW_BLOCK = 30;
const ROW_PX = 53;

function RepoRow({ r }) {
  return (
    <tr className="hover:bg-slate-50">
      <th scope="row" className="px-4 py-3 text-left font-medium">
        <Link to={`/repos/${repoPath(r.fullName)}`} className="text-slate-900 hover:text-sky-700 hover:underline">
          {r.fullName}
        </Link>
        {r.retired && <RetiredMark at={r.retiredAt} />}
      </th>
      <td className="px-4 py-3">
        {r.lastRun ? (
          <div className="flex items-center gap-2">
            <StatusBadge status={r.lastRun.status} conclusion={r.lastRun.conclusion} />
            <Link to={runHref(r.lastRun)} className="truncate text-slate-700 hover:text-sky-700 hover:underline">
              {r.lastRun.workflowName || `Run ${r.lastRun.runId}`}
              {r.lastRun.runNumber != null ? ` #${r.lastRun.runNumber}` : ''}
            </Link>
            {r.lastRun.branch && <span className="hidden rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-600 md:inline">{r.lastRun.branch}</span>}
          </div>
        ) : (
          <span className="text-slate-400">No runs yet</span>
        )}
      </td>
      <td className="px-4 py-3"><RateBar rate={r.successRate} /></td>
      <td className="px-4 py-3 text-right tabular-nums">{formatCount(r.runs)}</td>
      <td className="px-4 py-3 text-right tabular-nums">{formatDuration(r.avgDuration)}</td>
      <td className="px-4 py-3 text-right text-slate-500">
        {r.lastRun ? formatRelative(r.lastRun.completedAt || r.lastRun.startedAt || r.lastRun.createdAt) : DASH}
      </td>
    </tr>
  );
}

export default function Overview() {
  // 50 a page (reads.js): a screen shows about 15, and every row rendered costs the first paint.
  const pager = useCursorPages('repos', reads.repos);
  const alerts = useApi(reads.openAlerts());
  useInterval(pager.reload, 30000);
  useInterval(alerts.reload, 30000);

  return (
    <div>
      <PageHeader title="Overview" subtitle="Every repository cipulse watches: its last run, how often it passes and how long it takes." />
      <Async res={pager} what="repositories" rows={5}>
        {(data) => {
          const repos = itemsOf(data).map(normRepo);
          return (
            <>
              <Summary repos={repos} alerts={alerts} paged={pager.hasNext || pager.hasPrev} />
              <Card title="Repositories" bodyClass="">
                {repos.length === 0 ? (
                  <div className="p-4">
                    <EmptyState title="No repositories yet">
                      Register one with <code className="rounded bg-slate-100 px-1">POST /api/v1/repos</code> and add the cipulse action to its workflows; runs show up here as soon as they report.
                    </EmptyState>
                  </div>
                ) : (
                  <div className="overflow-x-auto">
                    <table className="w-full text-sm">
                      <caption className="sr-only">Repositories</caption>
                      <thead>
                        <tr className="border-b border-slate-100 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
                          <th scope="col" className="px-4 py-2">Repository</th>
                          <th scope="col" className="px-4 py-2">Last run</th>
                          <th scope="col" className="px-4 py-2">Success rate (7d)</th>
                          <th scope="col" className="px-4 py-2 text-right">Runs (7d)</th>
                          <th scope="col" className="px-4 py-2 text-right">Avg duration</th>
                          <th scope="col" className="px-4 py-2 text-right">Last activity</th>
                        </tr>
                      </thead>
                      {/* The first rows (about a screen) before the first paint, the others as they come near. */}
                      {blocksOf(repos, ROW_BLOCK, ROW_FIRST).map((block, i) => (
                        <LazyBlock key={i} as="tbody" eager={i === 0} height={block.length * ROW_PX} className={`divide-y divide-slate-100 ${i ? 'border-t border-slate-100' : ''}`}>
                          {() => block.map((r) => <RepoRow key={r.fullName} r={r} />)}
                        </LazyBlock>
                      ))}
                    </table>
                  </div>
                )}
                <Pager pager={pager} label="Repository pages" />
              </Card>
            </>
          );
        }}
      </Async>
    </div>
  );
}
