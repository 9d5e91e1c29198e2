import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { repoPath, useApi, useInterval } from '../api.js';
import { reads } from '../reads.js';
import { Link, useNavigate, useQuery, withQuery } from '../router.jsx';
import LogView from '../components/LogView.jsx';
import { LazyBlock, blocksOf } from '../components/Lazy.jsx';
import Timeline from '../components/Timeline.jsx';
import { Card, EmptyState, ErrorState, ExternalLink, LoadingState, PageHeader, Stat, StatusBadge, outcome } from '../components/ui.jsx';
import { Pill } from '../components/TestBits.jsx';
import { DASH, formatDateTime, formatDuration, formatRelative, shortSha } from '../lib/format.js';
import { groupStory, testLabel } from '../lib/tests.js';
import { normJob, normRunDetail } from '../model.js';

function Attempts({ run, current, onPick }) {
  if (run.attempts.length < 2) return null;
  return (
    <nav aria-label="Attempts" className="mb-6 flex flex-wrap items-center gap-2">
      <span className="text-sm text-slate-500">Attempts:</span>
      {run.attempts.map((a) => {
        const active = a.attempt === current;
        return (
          <button
            key={a.attempt}
            type="button"
            aria-current={active ? 'true' : undefined}
            onClick={() => onPick(a.attempt)}
            className={`inline-flex items-center gap-2 rounded-lg border px-3 py-1.5 text-sm ${active ? 'border-slate-900 bg-white font-semibold shadow-sm' : 'border-slate-200 bg-white/60 text-slate-600 hover:bg-white'}`}
          >
            #{a.attempt}
            <StatusBadge status={a.status} conclusion={a.conclusion} size="sm" />
          </button>
        );
      })}
    </nav>
  );
}

/** A job's test counts, its failed tests (flaky / new marked) and the failure group it is in. */
function JobTests({ job }) {
  const t = job.tests;
  const g = job.failureGroup;
  if (!t && !job.failedTests.length && !g) return null;
  const shownFailed = job.failedTests.length;
  return (
    <div className="border-t border-slate-100 px-4 py-3 text-sm" aria-label={`Tests of ${job.name}`} role="group">
      {t && (
        <p className="text-slate-600" data-tests-total={t.total}>
          Tests: {t.total} · <span className="text-emerald-700">{t.passed} passed</span> · <span className={t.failed ? 'font-medium text-rose-700' : ''}>{t.failed} failed</span> · {t.skipped} skipped
        </p>
      )}
      {shownFailed > 0 && (
        <ul className="mt-2 space-y-1.5" aria-label={`Failed tests of ${job.name}`}>
          {job.failedTests.map((f) => (
            <li key={f.id} className="flex flex-wrap items-baseline gap-2">
              <Link to={`/tests/${encodeURIComponent(f.id)}`} className="break-all font-medium text-slate-900 hover:text-sky-700 hover:underline">{testLabel(f)}</Link>
              {f.flaky && <Pill tone="amber">flaky</Pill>}
              {f.newFailure && <Pill tone="red">new</Pill>}
              {f.message && <span className="basis-full truncate font-mono text-xs text-slate-500" title={f.message}>{f.message.split('\n')[0]}</span>}
            </li>
          ))}
        </ul>
      )}
      {t && t.failed > shownFailed && <p className="mt-1 text-xs text-slate-500">and {t.failed - shownFailed} more failed tests</p>}
      {g && (
        <p className="mt-2 flex flex-wrap items-baseline gap-x-2 text-slate-600" aria-label="Failure group">
          <span>Failure group</span>
          <Link to={`/failures/${encodeURIComponent(g.fingerprint)}`} className="break-all font-mono text-xs text-sky-700 hover:underline">{g.title || g.fingerprint}</Link>
          <span>{groupStory(g)}</span>
        </p>
      )}
    </div>
  );
}

function StepsTimeline({ job, steps, focusStep }) {
  if (!steps.length) return <p className="text-sm text-slate-500">No steps reported for this job.</p>;
  return (
    <Timeline
      label={`Steps of ${job.name}`}
      compact
      rows={steps.map((s) => ({
        key: s.number,
        label: s.name,
        sublabel: outcome(s.status, s.conclusion).key === 'success' ? null : outcome(s.status, s.conclusion).label.toLowerCase(),
        start: s.startedAt,
        end: s.completedAt,
        tone: outcome(s.status, s.conclusion).tone,
        selected: focusStep != null && Number(focusStep) === s.number,
      }))}
    />
  );
}

/**
 * The steps of a job whose steps the run's answer left out (reads.run: only the failed jobs'),
 * read when the job is opened, and again when the run changes (`version`: a running run's
 * refresh) while it stays open.
 */
function LazySteps({ job, runId, attempt, version, focusStep }) {
  const res = useApi(reads.runJob(runId, attempt, job.id));
  const { reload } = res;
  const first = useRef(version);
  useEffect(() => {
    if (first.current !== version) reload();
  }, [version, reload]);
  const steps = useMemo(() => {
    const j = res.data && Array.isArray(res.data.jobs) ? res.data.jobs.find((x) => String(x.job_id) === String(job.id)) : null;
    return j ? normJob(j).steps || [] : [];
  }, [res.data, job.id]);
  if (res.error) return <ErrorState error={res.error} title="Could not load the steps" onRetry={res.reload} />;
  if (!res.data) return <LoadingState label="Loading steps…" rows={2} />;
  return <StepsTimeline job={job} steps={steps} focusStep={focusStep} />;
}

// Memoised: opening one job of a large run re-renders that job's card, not all of them.
const JobCard = memo(function JobCard({ job, runId, attempt, version, expanded, onToggle, showLogs, onToggleLogs, focusStep, focusLine }) {
  const ref = useRef(null);
  const id = String(job.id);
  const dur = job.duration;
  const queue = job.queue;
  useEffect(() => {
    if (focusStep != null && ref.current) ref.current.scrollIntoView({ block: 'start' });
  }, [focusStep]);
  return (
    <article ref={ref} className="rounded-xl border border-slate-200 bg-white shadow-sm" aria-label={`Job ${job.name}`}>
      <header className="flex flex-wrap items-center gap-3 px-4 py-3">
        <button type="button" aria-expanded={expanded} onClick={() => onToggle(id)} className="flex min-w-0 items-center gap-2 text-left">
          <svg className={`h-3 w-3 shrink-0 text-slate-400 transition-transform ${expanded ? 'rotate-90' : ''}`} viewBox="0 0 16 16" fill="currentColor" aria-hidden="true"><path d="M6 3l5 5-5 5z" /></svg>
          <h3 className="truncate font-semibold text-slate-900">{job.name}</h3>
        </button>
        <StatusBadge status={job.status} conclusion={job.conclusion} />
        <span className="text-sm tabular-nums text-slate-500">{formatDuration(dur)}</span>
        {queue != null && queue >= 1 && <span className="text-xs text-slate-400">queued {formatDuration(queue)}</span>}
        <div className="ml-auto flex items-center gap-3 text-sm">
          {job.runnerName && <span className="hidden text-xs text-slate-500 md:inline" title={job.labels.join(', ')}>runner {job.runnerName}{job.runnerOs ? ` · ${job.runnerOs}` : ''}</span>}
          <ExternalLink href={job.htmlUrl}>GitHub</ExternalLink>
          <button
            type="button"
            aria-pressed={showLogs}
            onClick={() => onToggleLogs(id)}
            title={job.hasLogs === false ? 'No log tails were reported for this job' : undefined}
            className={`rounded-md border px-2.5 py-1 text-xs font-medium ${showLogs ? 'border-slate-900 bg-slate-900 text-white' : 'border-slate-200 bg-white text-slate-700 hover:bg-slate-50'}`}
          >
            {showLogs ? 'Hide logs' : job.hasLogs === false ? 'View logs (none)' : 'View logs'}
          </button>
        </div>
      </header>
      <JobTests job={job} />
      {expanded && (
        <div className="border-t border-slate-100 px-4 py-3">
          {job.steps ? (
            <StepsTimeline job={job} steps={job.steps} focusStep={focusStep} />
          ) : (
            <LazySteps job={job} runId={runId} attempt={attempt} version={version} focusStep={focusStep} />
          )}
        </div>
      )}
      {showLogs && (
        <div className="border-t border-slate-100 p-3">
          <LogView job={job} focusStep={focusStep} focusLine={focusLine} />
        </div>
      )}
    </article>
  );
});

// A run with more jobs than this shows them in blocks of JOB_BLOCK, each rendered when it comes
// near the viewport (the first block, of JOB_FIRST, and the one with a job the address points
// to, at once). The job list starts below the run's timeline, over a screen down: the first
// block is small, as it is rendered before the first paint without being seen.
const LAZY_JOBS = 40;
const JOB_BLOCK = 20;
const JOB_FIRST = 10;

/** About how tall a block of job cards is before it is rendered (px; the page's height). */
function jobsHeight(jobs, expanded) {
  let h = 0;
  for (const j of jobs) {
    h += 64; // a collapsed card and the gap after it
    if (expanded.has(String(j.id))) h += 26 + 33 * Math.max(1, j.steps ? j.steps.length : 3);
    if (j.tests || j.failedTests.length || j.failureGroup) h += 48 + 26 * j.failedTests.length;
  }
  return h;
}

function RunBody({ run, query, setQuery }) {
  const focusJob = query.job != null ? String(query.job) : null;
  const [expanded, setExpanded] = useState(() => new Set(focusJob ? [focusJob] : run.jobs.filter((j) => ['failure', 'timed_out'].includes(j.conclusion)).map((j) => String(j.id))));
  const [logsOpen, setLogsOpen] = useState(() => new Set(focusJob ? [focusJob] : []));
  const toggler = (setter) => (id) =>
    setter((set) => {
      const next = new Set(set);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const toggleJob = useCallback(toggler(setExpanded), []);
  const toggleLogs = useCallback(toggler(setLogsOpen), []);
  const queues = run.jobs.map((j) => j.queue).filter((x) => x != null);
  const maxQueue = queues.length ? Math.max(...queues) : null;
  const failedJobs = run.jobs.filter((j) => ['failure', 'timed_out'].includes(j.conclusion)).length;
  const timelineRows = useMemo(
    () =>
      run.jobs.map((j) => ({
        key: j.id,
        label: j.name,
        start: j.startedAt,
        end: j.completedAt,
        queuedFrom: j.createdAt,
        tone: outcome(j.status, j.conclusion).tone,
        onSelect: () => toggleJob(String(j.id)),
      })),
    [run.jobs, toggleJob],
  );
  const card = (j) => {
    const id = String(j.id);
    const focused = focusJob === id;
    return (
      <JobCard
        key={id}
        job={j}
        runId={run.runId}
        attempt={run.attempt}
        version={run.updatedAt}
        expanded={expanded.has(id)}
        onToggle={toggleJob}
        showLogs={logsOpen.has(id)}
        onToggleLogs={toggleLogs}
        focusStep={focused && query.step != null ? query.step : null}
        focusLine={focused && query.line != null ? query.line : null}
      />
    );
  };

  return (
    <>
      <div className="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-4">
        <Stat label="Duration" value={formatDuration(run.duration)} hint={run.completedAt ? `finished ${formatRelative(run.completedAt)}` : run.status !== 'completed' ? 'still running' : undefined} />
        <Stat label="Jobs" value={run.jobs.length} hint={failedJobs ? `${failedJobs} failed` : undefined} tone={failedJobs ? 'red' : undefined} />
        <Stat label="Longest queue" value={formatDuration(maxQueue)} hint="job waiting for a runner" />
        <Stat label="Attempt" value={`${run.attempt}${run.attempts.length > 1 ? ` of ${run.attempts.length}` : ''}`} hint={run.event ? `triggered by ${run.event}` : undefined} />
      </div>
      <Attempts run={run} current={run.attempt} onPick={(a) => setQuery({ attempt: a })} />
      <Card title="Timeline" className="mb-6">
        {run.jobs.length ? (
          <Timeline label="Jobs timeline" rows={timelineRows} selected={expanded} />
        ) : (
          <EmptyState title="No jobs reported for this attempt yet" />
        )}
      </Card>
      <section aria-label="Jobs" className="space-y-3">
        <h2 className="text-sm font-semibold text-slate-800">Jobs</h2>
        {run.jobs.length <= LAZY_JOBS
          ? run.jobs.map(card)
          : blocksOf(run.jobs, JOB_BLOCK, JOB_FIRST).map((block, i) => (
              <LazyBlock
                key={i}
                eager={i === 0 || block.some((j) => String(j.id) === focusJob)}
                height={jobsHeight(block, expanded)}
                className="space-y-3"
              >
                {() => block.map(card)}
              </LazyBlock>
            ))}
      </section>
    </>
  );
}

export default function Run({ params }) {
  const query = useQuery();
  const navigate = useNavigate();
  const runId = params.runId;
  const res = useApi(reads.run(runId, query));
  // A run that is still going is refreshed every 10 seconds.
  const live = !!(res.data && res.data.status && res.data.status !== 'completed');
  useInterval(res.reload, 10000, live);
  const setQuery = (q) => navigate(withQuery(`/runs/${encodeURIComponent(runId)}`, q), { keepScroll: true });
  const detail = useMemo(() => res.data && normRunDetail(res.data), [res.data]);

  if (res.error) {
    return (
      <div>
        <PageHeader crumbs={[{ label: 'Overview', to: '/' }, { label: `Run ${runId}` }]} title={`Run ${runId}`} />
        <ErrorState error={res.error} title="Could not load this run" onRetry={res.reload} />
      </div>
    );
  }
  if (!res.data) {
    return (
      <div>
        <PageHeader crumbs={[{ label: 'Overview', to: '/' }, { label: `Run ${runId}` }]} title={`Run ${runId}`} />
        <LoadingState label="Loading run…" rows={6} />
      </div>
    );
  }
  const run = detail;
  const repo = run.repo;
  const crumbs = [{ label: 'Overview', to: '/' }];
  if (repo) crumbs.push({ label: repo, to: `/repos/${repoPath(repo)}` });
  if (repo && run.workflowId != null) crumbs.push({ label: run.workflowName || 'Workflow', to: `/repos/${repoPath(repo)}/workflows/${encodeURIComponent(run.workflowId)}` });
  crumbs.push({ label: run.runNumber != null ? `#${run.runNumber}` : `Run ${run.runId}` });

  return (
    <div>
      <PageHeader
        crumbs={crumbs}
        title={`${run.workflowName || 'Run'}${run.runNumber != null ? ` #${run.runNumber}` : ''}`}
        badge={<StatusBadge status={run.status} conclusion={run.conclusion} />}
        subtitle={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            {run.name && run.name !== run.workflowName && <span className="text-slate-700">{run.name}</span>}
            {run.branch && <span className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-700">{run.branch}</span>}
            <span className="font-mono text-xs" title={run.sha || undefined}>{shortSha(run.sha)}</span>
            {run.actor && <span>by {run.actor}</span>}
            <span title={formatDateTime(run.createdAt)}>created {formatRelative(run.createdAt)}</span>
            <span className="text-slate-400">run id {run.runId ?? DASH}</span>
          </span>
        }
        actions={
          <>
            {repo && <Link to={withQuery('/search', { repo })} className="rounded-md border border-slate-200 bg-white px-3 py-1.5 text-sm font-medium text-slate-700 shadow-sm hover:bg-slate-50">Search logs</Link>}
            {run.htmlUrl && <span className="rounded-md border border-slate-200 bg-white px-3 py-1.5 text-sm shadow-sm"><ExternalLink href={run.htmlUrl}>Open on GitHub</ExternalLink></span>}
          </>
        }
      />
      <RunBody key={`${run.runId}-${run.attempt}`} run={run} query={query} setQuery={setQuery} />
    </div>
  );
}
