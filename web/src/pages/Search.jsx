import { Fragment, useEffect, useRef, useState } from 'react';
import { apiPath, itemsOf, repoPath, useCursorPages } from '../api.js';
import { Link, useNavigate, useQuery, withQuery } from '../router.jsx';
import { Async, Card, EmptyState, PageHeader, Pager } from '../components/ui.jsx';
import { stripAnsi } from '../lib/ansi.js';
import { normSearchHit } from '../model.js';

const inputCls = 'mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500';

// The line with each occurrence of the query marked; text only.
function Highlighted({ text, q }) {
  const needle = q.toLowerCase();
  if (!needle) return text;
  const lower = text.toLowerCase();
  const out = [];
  let i = 0;
  let k = 0;
  for (let j = lower.indexOf(needle); j >= 0; j = lower.indexOf(needle, i)) {
    out.push(<Fragment key={k++}>{text.slice(i, j)}</Fragment>);
    out.push(<mark key={k++} className="rounded-sm bg-yellow-200 px-0.5 text-slate-900">{text.slice(j, j + needle.length)}</mark>);
    i = j + needle.length;
  }
  out.push(<Fragment key={k++}>{text.slice(i)}</Fragment>);
  return out;
}

export function hitHref(h, line) {
  return withQuery(`/runs/${encodeURIComponent(h.runId)}`, {
    attempt: h.attempt,
    job: h.jobId,
    step: h.stepNumber,
    line,
  });
}

export default function Search() {
  const query = useQuery();
  const navigate = useNavigate();
  const q = (query.q || '').trim();
  const repo = (query.repo || '').trim();
  const [qIn, setQIn] = useState(q);
  const [repoIn, setRepoIn] = useState(repo);
  // The inputs follow the URL when it changes (back, forward, a link), not on the first render:
  // effects run after the paint, and text typed in between would be put back to the URL's.
  const shown = useRef([q, repo]);
  useEffect(() => {
    if (shown.current[0] === q && shown.current[1] === repo) return;
    shown.current = [q, repo];
    setQIn(q);
    setRepoIn(repo);
  }, [q, repo]);

  const key = q ? JSON.stringify([q, repo]) : null;
  const pager = useCursorPages(key, (cursor) => apiPath('/logs/search', { q, repo, limit: 25, cursor }));

  return (
    <div>
      <PageHeader title="Log search" subtitle="Find a line in the log tails of every job cipulse has seen." />
      <form
        role="search"
        aria-label="Search logs"
        className="mb-6 grid gap-3 rounded-xl border border-slate-200 bg-white p-4 shadow-sm md:grid-cols-[1fr_16rem_auto]"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(withQuery('/search', { q: qIn.trim(), repo: repoIn.trim() }));
        }}
      >
        <label className="text-xs font-medium text-slate-600">
          Text
          <input type="search" name="q" value={qIn} onChange={(e) => setQIn(e.target.value)} className={inputCls} placeholder="e.g. ECONNREFUSED, assertion failed" autoFocus />
        </label>
        <label className="text-xs font-medium text-slate-600">
          Repository
          <input name="repo" value={repoIn} onChange={(e) => setRepoIn(e.target.value)} className={inputCls} placeholder="owner/name (optional)" />
        </label>
        <div className="flex items-end">
          <button type="submit" className="w-full rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-slate-700">Search</button>
        </div>
      </form>
      {!q ? (
        <EmptyState title="Type some text to search for">At least 3 characters; matches ignore case. Each result links to its job's log at that line.</EmptyState>
      ) : (
        <Card title={`Results for “${q}”${repo ? ` in ${repo}` : ''}`} bodyClass="">
          <Async res={pager} what="search results" rows={5}>
            {(data) => {
              const hits = itemsOf(data).map(normSearchHit);
              if (!hits.length) return <div className="p-4"><EmptyState title="No matching lines">Log tails keep only the end of each step's output; older logs may have been removed by retention.</EmptyState></div>;
              return (
                <ul className="divide-y divide-slate-100" aria-label="Search results">
                  {hits.map((h) => (
                    <li key={`${h.jobId}-${h.stepNumber}`} className="px-4 py-3">
                      <div className="mb-2 flex flex-wrap items-center gap-x-2 gap-y-1 text-sm">
                        {h.repo && <Link to={`/repos/${repoPath(h.repo)}`} className="font-medium text-slate-900 hover:underline">{h.repo}</Link>}
                        <span className="text-slate-300" aria-hidden="true">/</span>
                        <Link to={hitHref(h, h.lines[0] && h.lines[0].line)} className="text-sky-700 hover:underline">
                          run {h.runId}
                          {h.attempt > 1 ? ` (attempt ${h.attempt})` : ''}
                          {` · ${h.jobName || `job ${h.jobId}`}`}
                          {h.stepName ? ` · ${h.stepName}` : h.stepNumber ? ` · step ${h.stepNumber}` : ''}
                        </Link>
                        <span className="ml-auto text-xs text-slate-400">{h.lines.length === 1 ? '1 matching line' : `${h.lines.length} matching lines`}</span>
                      </div>
                      <ol className="overflow-x-auto rounded-md bg-slate-950 py-1.5 font-mono text-xs text-slate-200" aria-label={`Matching lines in ${h.jobName || 'job'}`}>
                        {h.lines.map((l, i) => (
                          <li key={i} className="flex px-3 py-0.5 hover:bg-white/5">
                            <Link to={hitHref(h, l.line)} className="mr-4 w-10 shrink-0 text-right text-slate-500 hover:text-sky-300" aria-label={`line ${l.line}`}>
                              {l.line}
                            </Link>
                            <span className="whitespace-pre-wrap break-all"><Highlighted text={stripAnsi(l.text)} q={q} /></span>
                          </li>
                        ))}
                      </ol>
                    </li>
                  ))}
                </ul>
              );
            }}
          </Async>
          <Pager pager={pager} label="Result pages" />
        </Card>
      )}
    </div>
  );
}
