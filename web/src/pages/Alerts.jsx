// The alerting page: open and resolved alerts (filtered by state, kind, severity and
// repository; acknowledged here), then the rules, channels and silences that drive them.
// Reads use the read token; writes need the admin token, asked for at the top of the page.
import { useState } from 'react';
import { apiPath, apiSend, getAdminToken, itemsOf, repoPath, useApi, useCursorPages, useWorkflowNames } from '../api.js';
import { Link, useNavigate, useQuery, withQuery } from '../router.jsx';
import { Async, Card, EmptyState, PageHeader, Pager, RepoFilter, Segmented, humanize } from '../components/ui.jsx';
import { AdminTokenBar, FormError, HideWrites, WriteButton, useWrite } from '../components/forms.jsx';
import { useSession } from '../session.jsx';
import { DASH, formatDateTime, formatDuration, formatRelative, secondsBetween } from '../lib/format.js';
import { RULE_KINDS, SEVERITIES } from '../lib/alerts.js';
import { normAlert } from '../model.js';
import AlertRules from '../components/AlertRules.jsx';
import Silences from '../components/Silences.jsx';

const SEVERITY_STYLE = {
  critical: 'bg-rose-600 text-white',
  warning: 'bg-amber-100 text-amber-900',
  info: 'bg-slate-100 text-slate-600',
};

const SELECT = 'rounded-md border border-slate-300 bg-white px-2 py-1 text-sm shadow-sm focus:border-sky-500 focus:outline-none';

const KIND_STYLE = {
  failure: 'bg-rose-50 text-rose-700 ring-rose-600/20',
  flapping: 'bg-amber-50 text-amber-800 ring-amber-600/25',
  regression: 'bg-violet-50 text-violet-700 ring-violet-600/20',
  slow_build: 'bg-sky-50 text-sky-700 ring-sky-600/20',
};

/** The messages an alert sent or is sending (GET /api/v1/alerts/{id}): one per channel and event. */
function Deliveries({ id }) {
  const res = useApi(apiPath(`/alerts/${encodeURIComponent(id)}`));
  return (
    <div className="mt-2">
      <Async res={res} what="deliveries" rows={2}>
        {(data) => {
          const list = Array.isArray(data.deliveries) ? data.deliveries : [];
          if (!list.length) return <p className="text-xs text-slate-500">No messages: the rule names no channel, or this alert only updated state.</p>;
          return (
            <table className="w-full text-left text-xs" aria-label={`Deliveries of alert ${id}`}>
              <thead className="text-slate-500">
                <tr>
                  <th className="py-1 pr-3 font-medium">Channel</th>
                  <th className="py-1 pr-3 font-medium">Event</th>
                  <th className="py-1 pr-3 font-medium">State</th>
                  <th className="py-1 pr-3 font-medium">Attempts</th>
                  <th className="py-1 pr-3 font-medium">Receiver</th>
                  <th className="py-1 font-medium">When</th>
                </tr>
              </thead>
              <tbody className="text-slate-700">
                {list.map((d) => (
                  <tr key={d.id} className="border-t border-slate-100">
                    <td className="py-1 pr-3">{d.channel} <span className="text-slate-400">({d.kind})</span></td>
                    <td className="py-1 pr-3">{d.event}</td>
                    <td className="py-1 pr-3" data-state={d.state}>{d.state}</td>
                    <td className="py-1 pr-3 tabular-nums">{d.attempts}</td>
                    <td className="py-1 pr-3">{[d.last_status, d.last_error].filter((x) => x != null && x !== '').join(' · ') || DASH}</td>
                    <td className="py-1" title={formatDateTime(d.sent_at || d.next_attempt_at || d.created_at)}>
                      {d.sent_at ? `sent ${formatRelative(d.sent_at)}` : d.next_attempt_at && d.state === 'pending' ? `next try ${formatDateTime(d.next_attempt_at)}` : formatRelative(d.created_at)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Async>
    </div>
  );
}

function Filter({ label, all, values, value, onChange }) {
  return (
    <label className="flex items-center gap-2 text-sm text-slate-600">
      {label}
      <select value={value} onChange={(e) => onChange(e.target.value)} className={SELECT}>
        <option value="">{all}</option>
        {values.map((k) => (
          <option key={k} value={k}>
            {humanize(k)}
          </option>
        ))}
      </select>
    </label>
  );
}

export default function Alerts() {
  const query = useQuery();
  const navigate = useNavigate();
  const state = query.state === 'resolved' ? 'resolved' : 'open';
  const repo = (query.repo || '').trim();
  const kind = RULE_KINDS.includes(query.kind) ? query.kind : '';
  const severity = SEVERITIES.includes(query.severity) ? query.severity : '';
  const session = useSession();
  const [admin, setAdmin] = useState(getAdminToken());
  // A signed-in maintainer or admin writes with the session; otherwise writes need the admin
  // token. A signed-in viewer sees no write controls at all.
  const canWrite = !!admin || session.canManageAlerts;
  const hideWrites = !admin && session.hideWrites;
  const ack = useWrite();
  const [ackId, setAckId] = useState(null);
  const [shown, setShown] = useState(null); // the alert whose deliveries are open
  const pager = useCursorPages(JSON.stringify([state, repo, kind, severity]), (cursor) => apiPath('/alerts', { state, repo, kind, severity, limit: 50, cursor }));
  const alerts = itemsOf(pager.data).map(normAlert);
  const wfNames = useWorkflowNames(alerts.filter((a) => a.workflowId != null && !a.workflowName).map((a) => a.repo));
  const go = (q) => navigate(withQuery('/alerts', { state, repo, kind, severity, ...q }), { replace: true });
  const acknowledge = async (id) => {
    setAckId(id);
    if (await ack.run(() => apiSend('POST', apiPath(`/alerts/${encodeURIComponent(id)}/ack`)))) pager.reload();
  };

  return (
    <HideWrites.Provider value={hideWrites}>
      <PageHeader
        title="Alerts"
        subtitle="Failures, flapping, regressions and slow builds that the alert rules caught."
        actions={
          <div className="flex flex-wrap items-center gap-3">
            <RepoFilter value={repo} onApply={(r) => go({ repo: r })} />
            <Filter label="Kind" all="all kinds" values={RULE_KINDS} value={kind} onChange={(v) => go({ kind: v })} />
            <Filter label="Severity" all="all severities" values={SEVERITIES} value={severity} onChange={(v) => go({ severity: v })} />
            <Segmented label="Alert state" options={[{ value: 'open', label: 'Open' }, { value: 'resolved', label: 'Resolved' }]} value={state} onChange={(v) => go({ state: v })} />
          </div>
        }
      />
      {session.signedIn && !admin ? (
        <p className="mb-6 text-sm text-slate-500" aria-label="Access">
          Signed in as {session.user.username} ({session.role}): {session.canManageAlerts ? 'you can change rules, channels and silences and acknowledge alerts.' : 'you can read alerting; changing it needs the maintainer role.'}
        </p>
      ) : (
        <AdminTokenBar
          token={admin}
          onChange={(t) => {
            setAdmin(t);
            session.adminTokenChanged();
          }}
        />
      )}
      <Card title={state === 'open' ? 'Open alerts' : 'Resolved alerts'} bodyClass="">
        <Async res={pager} what="alerts" rows={4}>
          {() => {
            if (!alerts.length) {
              return (
                <div className="p-4">
                  <EmptyState title={state === 'open' ? 'No open alerts' : 'No resolved alerts'}>
                    {state === 'open' ? 'All quiet: nothing needs attention right now.' : 'Alerts show here once their condition has cleared.'}
                  </EmptyState>
                </div>
              );
            }
            return (
              <ul className="divide-y divide-slate-100" aria-label="Alerts">
                {alerts.map((a) => (
                  <li key={a.id} aria-label={`Alert ${a.id}`} className="flex flex-wrap items-start gap-3 px-4 py-3">
                    <span className={`mt-0.5 inline-flex rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${KIND_STYLE[a.kind] || 'bg-slate-100 text-slate-600 ring-slate-500/20'}`}>
                      {humanize(a.kind || 'alert')}
                    </span>
                    {a.severity && <span className={`mt-0.5 inline-flex rounded px-1.5 py-0.5 text-xs font-medium ${SEVERITY_STYLE[a.severity] || SEVERITY_STYLE.info}`}>{a.severity}</span>}
                    <div className="min-w-0 flex-1">
                      <p className="font-medium text-slate-900">{a.summary}</p>
                      <p className="mt-0.5 flex flex-wrap gap-x-3 text-sm text-slate-500">
                        {a.repo && <Link to={`/repos/${repoPath(a.repo)}`} className="hover:underline">{a.repo}</Link>}
                        {a.repo && a.workflowId != null && (
                          <Link to={`/repos/${repoPath(a.repo)}/workflows/${encodeURIComponent(a.workflowId)}`} className="hover:underline">{a.workflowName || (wfNames[a.repo] && wfNames[a.repo][String(a.workflowId)]) || `workflow ${a.workflowId}`}</Link>
                        )}
                        {a.branch && <span className="font-mono text-xs">{a.branch}</span>}
                        {a.runId != null && <Link to={`/runs/${encodeURIComponent(a.runId)}${a.attempt > 1 ? `?attempt=${a.attempt}` : ''}`} className="text-sky-700 hover:underline">run {a.runId}</Link>}
                        {a.runCount > 1 && <span>{a.runCount} runs</span>}
                        <button type="button" className="text-sky-700 hover:underline" aria-expanded={shown === a.id} onClick={() => setShown(shown === a.id ? null : a.id)}>
                          {shown === a.id ? 'Hide deliveries' : 'Deliveries'}
                        </button>
                      </p>
                      {shown === a.id && <Deliveries id={a.id} />}
                      {ackId === a.id && <FormError error={ack.error} />}
                    </div>
                    {a.ackedAt ? (
                      <span className="mt-0.5 rounded bg-emerald-50 px-1.5 py-0.5 text-xs text-emerald-700" title={formatDateTime(a.ackedAt)}>
                        acknowledged {formatRelative(a.ackedAt)}
                      </span>
                    ) : (
                      !a.resolvedAt && (
                        <WriteButton disabled={!canWrite || ack.busy} title={canWrite ? undefined : 'Needs the maintainer role or the admin token'} onClick={() => acknowledge(a.id)}>
                          Acknowledge
                        </WriteButton>
                      )
                    )}
                    <div className="text-right text-xs text-slate-500">
                      <div title={formatDateTime(a.openedAt)}>opened {formatRelative(a.openedAt)}</div>
                      {a.resolvedAt ? (
                        <div title={formatDateTime(a.resolvedAt)}>resolved after {formatDuration(secondsBetween(a.openedAt, a.resolvedAt))}</div>
                      ) : (
                        <div>{state === 'open' ? 'still open' : DASH}</div>
                      )}
                    </div>
                  </li>
                ))}
              </ul>
            );
          }}
        </Async>
        <Pager pager={pager} label="Alert pages" />
      </Card>
      <AlertRules canWrite={canWrite} />
      <Silences canWrite={canWrite} />
    </HideWrites.Provider>
  );
}
