// The tests page: every test the agents reported, filtered by repository, workflow, branch and
// state (flaky, failing), sorted by flakiness, failures or duration. Its own chunk.
import { useEffect, useState } from 'react';
import { apiPath, useCursorPages, useWorkflowNames } from '../api.js';
import { Link, useNavigate, useQuery, withQuery } from '../router.jsx';
import { Async, Card, EmptyState, PageHeader, Pager, Segmented } from '../components/ui.jsx';
import { ResultLabel, TestStateBadge } from '../components/TestBits.jsx';
import { DASH, formatCount, formatDateTime, formatDuration, formatPercent, formatRelative } from '../lib/format.js';
import { TEST_SORTS, TEST_WINDOWS, msToS, testLabel, testsQuery } from '../lib/tests.js';
import { normTest } from '../model.js';

const INPUT = 'w-40 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm shadow-sm focus:border-sky-500 focus:outline-none';

function Flag({ label, checked, onChange }) {
  return (
    <label className="flex items-center gap-1.5 text-sm text-slate-600">
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} className="h-4 w-4 rounded border-slate-300" />
      {label}
    </label>
  );
}

export default function Tests() {
  const raw = useQuery();
  const q = testsQuery(raw);
  const navigate = useNavigate();
  const go = (next) => navigate(withQuery('/tests', { ...q, sort: q.sort === 'flakiness' ? '' : q.sort, window: q.window === '7d' ? '' : q.window, ...next }), { replace: true });
  const [repoIn, setRepoIn] = useState(q.repo);
  const [branchIn, setBranchIn] = useState(q.branch);
  useEffect(() => setRepoIn(q.repo), [q.repo]);
  useEffect(() => setBranchIn(q.branch), [q.branch]);
  const wfNames = useWorkflowNames(q.repo ? [q.repo] : []);
  const workflows = Object.entries(wfNames[q.repo] || {});
  const pager = useCursorPages(JSON.stringify(q), (cursor) => apiPath('/tests', { ...q, limit: 50, cursor }));
  const tests = (pager.data && Array.isArray(pager.data.tests) ? pager.data.tests : []).map(normTest);

  return (
    <div>
      <PageHeader
        title="Tests"
        subtitle="Test cases from the JUnit reports the agents sent: which are flaky, which fail, which are slow."
        actions={<Segmented label="Window" options={TEST_WINDOWS.map((w) => ({ value: w, label: w }))} value={q.window} onChange={(v) => go({ window: v === '7d' ? '' : v })} />}
      />
      <form
        aria-label="Test filters"
        className="mb-4 flex flex-wrap items-end gap-4"
        onSubmit={(e) => {
          e.preventDefault();
          go({ repo: repoIn.trim(), branch: branchIn.trim(), workflow: repoIn.trim() === q.repo ? q.workflow : '' });
        }}
      >
        <label className="flex items-center gap-2 text-sm text-slate-600">
          Repository
          <input value={repoIn} onChange={(e) => setRepoIn(e.target.value)} onBlur={() => repoIn.trim() !== q.repo && go({ repo: repoIn.trim(), workflow: '' })} placeholder="owner/name" className={INPUT} />
        </label>
        <label className="flex items-center gap-2 text-sm text-slate-600">
          Workflow
          <select value={q.workflow} disabled={!q.repo} onChange={(e) => go({ workflow: e.target.value })} className={INPUT} title={q.repo ? undefined : 'Pick a repository first'}>
            <option value="">all workflows</option>
            {workflows.map(([id, name]) => (
              <option key={id} value={id}>{name}</option>
            ))}
          </select>
        </label>
        <label className="flex items-center gap-2 text-sm text-slate-600">
          Branch
          <input value={branchIn} onChange={(e) => setBranchIn(e.target.value)} onBlur={() => branchIn.trim() !== q.branch && go({ branch: branchIn.trim() })} placeholder="all branches" className={INPUT} />
        </label>
        <Flag label="Flaky only" checked={q.flaky === 'true'} onChange={(v) => go({ flaky: v ? 'true' : '' })} />
        <Flag label="Failing only" checked={q.failing === 'true'} onChange={(v) => go({ failing: v ? 'true' : '' })} />
        <button type="submit" className="sr-only">Apply filters</button>
        <div className="ml-auto">
          <Segmented label="Sort by" options={TEST_SORTS} value={q.sort} onChange={(v) => go({ sort: v === 'flakiness' ? '' : v })} />
        </div>
      </form>
      <Card title="Tests" bodyClass="">
        <Async res={pager} what="tests" rows={6}>
          {() =>
            tests.length ? (
              <div className="overflow-x-auto">
                <table className="w-full text-sm">
                  <caption className="sr-only">Tests</caption>
                  <thead>
                    <tr className="border-b border-slate-100 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
                      <th scope="col" className="px-4 py-2">State</th>
                      <th scope="col" className="px-4 py-2">Test</th>
                      <th scope="col" className="px-4 py-2">Repository</th>
                      <th scope="col" className="px-4 py-2 text-right">Runs</th>
                      <th scope="col" className="px-4 py-2 text-right">Failures</th>
                      <th scope="col" className="px-4 py-2 text-right">Flaky runs</th>
                      <th scope="col" className="px-4 py-2 text-right">Flip rate</th>
                      <th scope="col" className="px-4 py-2 text-right">p50 / p95</th>
                      <th scope="col" className="px-4 py-2">Last</th>
                    </tr>
                  </thead>
                  <tbody className="divide-y divide-slate-100">
                    {tests.map((t) => (
                      <tr key={t.id} className="hover:bg-slate-50" data-test-id={t.id}>
                        <td className="px-4 py-2.5"><TestStateBadge state={t.state} /></td>
                        <td className="max-w-md px-4 py-2.5">
                          <Link to={`/tests/${encodeURIComponent(t.id)}`} className="break-words font-medium text-slate-900 hover:text-sky-700 hover:underline">
                            {testLabel(t)}
                          </Link>
                          <div className="truncate text-xs text-slate-500" title={t.file || t.suite}>{[t.suite, t.file].filter(Boolean).join(' · ') || DASH}</div>
                        </td>
                        <td className="px-4 py-2.5 text-slate-700">{t.repo || DASH}</td>
                        <td className="px-4 py-2.5 text-right tabular-nums">{formatCount(t.runs)}</td>
                        <td className="px-4 py-2.5 text-right tabular-nums">{formatCount(t.failures)}</td>
                        <td className="px-4 py-2.5 text-right tabular-nums">{formatCount(t.flakyRuns)}</td>
                        <td className="px-4 py-2.5 text-right tabular-nums">{formatPercent(t.flipRate)}</td>
                        <td className="whitespace-nowrap px-4 py-2.5 text-right tabular-nums text-slate-600">{formatDuration(msToS(t.p50))} / {formatDuration(msToS(t.p95))}</td>
                        <td className="whitespace-nowrap px-4 py-2.5 text-slate-500">
                          <ResultLabel result={t.lastResult} /> <span title={formatDateTime(t.lastSeen)}>{formatRelative(t.lastSeen)}</span>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <div className="p-4">
                <EmptyState title="No tests match">
                  Tests show here once an agent reports a JUnit file (the action&apos;s <code>test-results</code> input). Try a wider window or fewer filters.
                </EmptyState>
              </div>
            )
          }
        </Async>
        <Pager pager={pager} label="Test pages" />
      </Card>
    </div>
  );
}
