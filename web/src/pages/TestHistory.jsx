// One test's history: its state and figures, the strip of its results (oldest first), and every
// execution with its duration, retries, message and a link to the run's job. Its own chunk.
import { apiPath, repoPath, useCursorPages } from '../api.js';
import { Link, withQuery } from '../router.jsx';
import { Async, Card, EmptyState, PageHeader, Pager, PendingPage, Stat } from '../components/ui.jsx';
import { ResultLabel, ResultStrip, TestStateBadge } from '../components/TestBits.jsx';
import { DASH, formatCount, formatDateTime, formatDuration, formatPercent, formatRelative, shortSha } from '../lib/format.js';
import { msToS, runJobHref, testLabel } from '../lib/tests.js';
import { normTest, normTestRun } from '../model.js';

export default function TestHistory({ params }) {
  const id = params.id;
  const pager = useCursorPages(id, (cursor) => apiPath(`/tests/${encodeURIComponent(id)}`, { limit: 100, cursor }));
  const crumbs = [{ label: 'Tests', to: '/tests' }];
  if (!pager.data) return <PendingPage crumbs={crumbs} title="Test" res={pager} what="this test" />;
  const t = normTest(pager.data.test || {});
  const history = (Array.isArray(pager.data.history) ? pager.data.history : []).map(normTestRun);
  if (t.repo) crumbs.push({ label: t.repo, to: withQuery('/tests', { repo: t.repo }) });
  crumbs.push({ label: t.name || id });
  return (
    <div>
      <PageHeader
        crumbs={crumbs}
        title={testLabel(t)}
        badge={<TestStateBadge state={t.state} />}
        subtitle={
          <span className="flex flex-wrap gap-x-3">
            {t.repo && <Link to={`/repos/${repoPath(t.repo)}`} className="hover:underline">{t.repo}</Link>}
            {t.suite && <span>suite {t.suite}</span>}
            {t.file && <span className="font-mono text-xs">{t.file}</span>}
            <span>last seen <span title={formatDateTime(t.lastSeen)}>{formatRelative(t.lastSeen)}</span></span>
          </span>
        }
      />
      <div className="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-5">
        <Stat label="Runs" value={formatCount(t.runs)} />
        <Stat label="Failures" value={formatCount(t.failures)} tone={t.failures ? 'red' : undefined} />
        <Stat label="Flaky runs" value={formatCount(t.flakyRuns)} tone={t.flakyRuns ? 'amber' : undefined} hint="failed, then passed on the same commit" />
        <Stat label="Flip rate" value={formatPercent(t.flipRate)} hint="result changes between runs" />
        <Stat label="Duration p50 / p95" value={`${formatDuration(msToS(t.p50))} / ${formatDuration(msToS(t.p95))}`} />
      </div>
      <Card title="History" bodyClass="">
        <Async res={pager} what="the history" rows={5}>
          {() =>
            history.length ? (
              <>
                <div className="border-b border-slate-100 px-4 py-3">
                  <ResultStrip history={history} />
                </div>
                <div className="overflow-x-auto">
                  <table className="w-full text-sm">
                    <caption className="sr-only">Executions of this test, newest first</caption>
                    <thead>
                      <tr className="border-b border-slate-100 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
                        <th scope="col" className="px-4 py-2">Result</th>
                        <th scope="col" className="px-4 py-2">Run</th>
                        <th scope="col" className="px-4 py-2">Branch</th>
                        <th scope="col" className="px-4 py-2 text-right">Duration</th>
                        <th scope="col" className="px-4 py-2 text-right">Retries</th>
                        <th scope="col" className="px-4 py-2">Message</th>
                        <th scope="col" className="px-4 py-2 text-right">When</th>
                      </tr>
                    </thead>
                    <tbody className="divide-y divide-slate-100">
                      {history.map((h, i) => (
                        <tr key={`${h.runId}-${h.attempt}-${h.jobId}-${i}`} className="align-top hover:bg-slate-50">
                          <td className="px-4 py-2.5"><ResultLabel result={h.result} /></td>
                          <td className="whitespace-nowrap px-4 py-2.5">
                            <Link to={runJobHref(h.runId, h.attempt, h.jobId)} className="font-medium text-sky-700 hover:underline">
                              run {h.runId}{h.attempt > 1 ? ` · attempt ${h.attempt}` : ''}
                            </Link>
                            <div className="text-xs text-slate-500">{h.jobName || DASH} · <span className="font-mono">{shortSha(h.sha)}</span></div>
                          </td>
                          <td className="px-4 py-2.5">{h.branch ? <span className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-700">{h.branch}</span> : DASH}</td>
                          <td className="px-4 py-2.5 text-right tabular-nums">{formatDuration(msToS(h.durationMs))}</td>
                          <td className="px-4 py-2.5 text-right tabular-nums">{h.retries || DASH}</td>
                          <td className="max-w-lg px-4 py-2.5">
                            {h.message ? <pre className="max-h-24 overflow-auto whitespace-pre-wrap break-words font-mono text-xs text-slate-700">{h.message}</pre> : DASH}
                          </td>
                          <td className="whitespace-nowrap px-4 py-2.5 text-right text-slate-500" title={formatDateTime(h.completedAt)}>{formatRelative(h.completedAt)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </>
            ) : (
              <div className="p-4"><EmptyState title="No executions recorded" /></div>
            )
          }
        </Async>
        <Pager pager={pager} label="History pages" />
      </Card>
    </div>
  );
}
