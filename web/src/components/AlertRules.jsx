// Alert rules and notification channels (GET/POST /api/v1/settings/alerts): rules are created,
// edited, enabled/disabled and deleted here, channels added or replaced and tried with a test
// message (POST /api/v1/settings/alerts/test). Channel destinations are secrets the API never
// returns: the destination field is write-only, and only whether one is set is shown.
import { useState } from 'react';
import { apiPath, apiSend, repoPath, useApi, useWorkflowNames } from '../api.js';
import { Link } from '../router.jsx';
import { formatDuration, formatPercent } from '../lib/format.js';
import { CHANNEL_KINDS, PARAMS_BY_KIND, RULE_KINDS, SEVERITIES, describeTest, emptyRuleForm, formToChannel, formToRule, ruleToForm } from '../lib/alerts.js';
import { Async, Card, EmptyState, humanize } from './ui.jsx';
import { BUTTON, Field, FieldError, FormActions, FormError, ReadOnlyNote, WriteButton, splitError, useWrite } from './forms.jsx';

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

const SETTINGS = apiPath('/settings/alerts');
const post = (body) => apiSend('POST', SETTINGS, body);

// Labels and hints of the params fields (docs/openapi.yaml, AlertRule.params).
const PARAM_FIELDS = {
  conclusions: { label: 'Conclusions', hint: 'Comma-separated; blank: failure, timed_out' },
  repeat_interval_s: { label: 'Repeat every (seconds)', hint: 'Remind while open; blank: never' },
  failures: { label: 'Failures', hint: 'How many failures open it' },
  runs: { label: 'Among the last runs', hint: 'e.g. 5' },
  minutes: { label: 'Or within minutes', hint: 'e.g. 30' },
  threshold: { label: 'Threshold', hint: { regression: 'Success rate 0–1 (0.8 = 80%)', slow_build: 'Seconds' } },
  window_s: { label: 'Window (seconds)', hint: '86400 = 1 day' },
  min_runs: { label: 'Minimum runs', hint: 'Fewer runs: no alert' },
  stat: { label: 'Statistic', options: [{ value: '', label: 'average' }, { value: 'p95', label: 'p95' }] },
};

const RULE_FIELDS = ['name', 'kind', 'severity', 'repo', 'workflowId', 'branch', 'channels', 'enabled'];

function RuleForm({ initial, channelNames, canWrite, onSaved, onCancel }) {
  const [f, setF] = useState(initial);
  const w = useWrite();
  const formId = initial.id != null ? `rule-${initial.id}` : 'rule-new';
  const { fields, general } = splitError(w.error, [...RULE_FIELDS, ...PARAMS_BY_KIND[f.kind]]);
  const set = (k) => (v) => setF((x) => ({ ...x, [k]: v }));
  const names = [...new Set([...channelNames, ...f.channels])];
  const submit = async (e) => {
    e.preventDefault();
    const out = await w.run(() => post({ rules: [formToRule(f)] }));
    if (out) onSaved(out);
  };
  const common = (name) => ({ formId, name, value: f[name], onChange: set(name), error: fields[name] });
  return (
    <form aria-label={initial.id != null ? `Edit rule ${initial.name}` : 'New rule'} onSubmit={submit} className="grid gap-3 border-t border-slate-100 bg-slate-50 p-4 sm:grid-cols-3">
      <Field {...common('name')} label="Name" />
      <Field {...common('kind')} label="Kind" options={RULE_KINDS.map((k) => ({ value: k, label: humanize(k) }))} />
      <Field {...common('severity')} label="Severity" options={SEVERITIES.map((k) => ({ value: k, label: humanize(k) }))} />
      <Field {...common('repo')} label="Repository" placeholder="every repository" />
      <Field {...common('workflowId')} label="Workflow id" placeholder="every workflow" />
      <Field {...common('branch')} label="Branch" placeholder="every branch" hint="@default: each repository's default branch" />
      {PARAMS_BY_KIND[f.kind].map((k) => {
        const d = PARAM_FIELDS[k];
        return <Field key={k} {...common(k)} label={d.label} options={d.options} hint={typeof d.hint === 'object' ? d.hint[f.kind] : d.hint} />;
      })}
      <fieldset className="sm:col-span-3">
        <legend className="text-xs font-medium text-slate-600">Channels</legend>
        <div className="mt-1 flex flex-wrap gap-3 text-sm">
          {names.length === 0 && <span className="text-xs text-slate-400">No channels yet: the alert is listed here but sent nowhere.</span>}
          {names.map((n) => (
            <label key={n} className="flex items-center gap-1.5">
              <input
                type="checkbox"
                checked={f.channels.includes(n)}
                onChange={(e) => setF((x) => ({ ...x, channels: e.target.checked ? [...x.channels, n] : x.channels.filter((c) => c !== n) }))}
              />
              {n}
            </label>
          ))}
        </div>
        <FieldError id={`${formId}-channels-error`} name="channels" message={fields.channels} />
      </fieldset>
      <label className="flex items-center gap-1.5 text-sm sm:col-span-3">
        <input type="checkbox" checked={f.enabled} onChange={(e) => setF((x) => ({ ...x, enabled: e.target.checked }))} />
        Enabled
      </label>
      <FormActions label={initial.id != null ? 'Save rule' : 'Create rule'} disabled={!canWrite || w.busy} onCancel={onCancel} error={general} className="sm:col-span-3" />
    </form>
  );
}

function ChannelForm({ initial, canWrite, onSaved, onCancel }) {
  const [f, setF] = useState(initial);
  const w = useWrite();
  const replacing = initial.name !== '';
  const formId = replacing ? `channel-${initial.name}` : 'channel-new';
  const { fields, general } = splitError(w.error, ['name', 'kind', 'target', 'secret', 'enabled']);
  const common = (name) => ({ formId, name, value: f[name], onChange: (v) => setF((x) => ({ ...x, [name]: v })), error: fields[name] });
  const submit = async (e) => {
    e.preventDefault();
    const out = await w.run(() => post({ channels: [formToChannel(f)] }));
    if (out) onSaved(out);
  };
  return (
    <form aria-label={replacing ? `Replace channel ${initial.name}` : 'New channel'} onSubmit={submit} className="grid gap-3 border-t border-slate-100 bg-slate-50 p-4">
      <Field {...common('name')} label="Name" readOnly={replacing} hint={replacing ? undefined : 'A-Z a-z 0-9 . _ -'} />
      <Field {...common('kind')} label="Kind" options={CHANNEL_KINDS.map((k) => ({ value: k, label: humanize(k) }))} />
      <Field
        {...common('target')}
        type="password"
        label={f.kind === 'email' ? 'Address (write-only)' : 'Webhook URL (write-only)'}
        hint={replacing ? 'Blank keeps the stored destination; it is never shown again.' : 'Never shown again once saved.'}
      />
      {f.kind === 'webhook' && <Field {...common('secret')} type="password" label="Signing secret (write-only)" hint="16–256 characters; blank keeps the stored one" />}
      <label className="flex items-center gap-1.5 text-sm">
        <input type="checkbox" checked={f.enabled} onChange={(e) => setF((x) => ({ ...x, enabled: e.target.checked }))} />
        Enabled
      </label>
      <FormActions label={replacing ? 'Replace channel' : 'Add channel'} disabled={!canWrite || w.busy} onCancel={onCancel} error={general} />
    </form>
  );
}

function Rules({ res, canWrite }) {
  const [editing, setEditing] = useState(null); // a rule id, 'new', or null
  const [confirming, setConfirming] = useState(null);
  const [rowId, setRowId] = useState(null);
  const w = useWrite();
  const allRules = res.data && Array.isArray(res.data.rules) ? res.data.rules : [];
  const channelNames = res.data && Array.isArray(res.data.channels) ? res.data.channels.map((c) => String(c.name)) : [];
  const wfNames = useWorkflowNames(allRules.filter((r) => r.repo && r.workflow_id != null).map((r) => r.repo));
  const saved = () => {
    setEditing(null);
    setConfirming(null);
    res.reload();
  };
  const rowWrite = async (r, body) => {
    setRowId(r.id);
    if (await w.run(() => post(body))) saved();
  };
  return (
    <Card
      title="Alert rules"
      bodyClass=""
      className="lg:col-span-2"
      actions={
        <WriteButton disabled={!canWrite || editing === 'new'} onClick={() => setEditing('new')}>
          New rule
        </WriteButton>
      }
    >
      <ReadOnlyNote canWrite={canWrite} what="creating, editing and deleting rules" />
      {editing === 'new' && <RuleForm initial={emptyRuleForm()} channelNames={channelNames} canWrite={canWrite} onSaved={saved} onCancel={() => setEditing(null)} />}
      <Async res={res} what="alert rules">
        {() => {
          if (!allRules.length) return <div className="p-4"><EmptyState title="No alert rules">Without rules, failures on each repository&apos;s default branch go to the channels set in the collector&apos;s environment.</EmptyState></div>;
          return (
            <ul className="divide-y divide-slate-100" aria-label="Alert rules">
              {allRules.map((r) => (
                <li key={r.id} aria-label={`Rule ${r.name}`}>
                  <div className="flex flex-wrap items-center gap-x-3 gap-y-1 px-4 py-3 text-sm">
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
                    <span className="ml-auto flex flex-wrap items-center gap-2 text-xs">
                      {r.severity && <span className="rounded bg-slate-100 px-1.5 py-0.5 text-slate-600">{r.severity}</span>}
                      {(Array.isArray(r.channels) ? r.channels : []).map((c) => (
                        <span key={String(c)} className="rounded bg-slate-100 px-1.5 py-0.5 text-slate-600">→ {String(c)}</span>
                      ))}
                      {r.enabled === false && <span className="rounded bg-amber-50 px-1.5 py-0.5 text-amber-700">disabled</span>}
                      <WriteButton disabled={!canWrite} onClick={() => setEditing(editing === r.id ? null : r.id)}>
                        Edit
                      </WriteButton>
                      <WriteButton disabled={!canWrite || w.busy} onClick={() => rowWrite(r, { rules: [{ ...formToRule(ruleToForm(r)), enabled: r.enabled === false }] })}>
                        {r.enabled === false ? 'Enable' : 'Disable'}
                      </WriteButton>
                      {confirming === r.id ? (
                        <>
                          <WriteButton className={`${BUTTON} border-rose-300 text-rose-700`} disabled={!canWrite || w.busy} onClick={() => rowWrite(r, { rules: [{ id: r.id, delete: true }] })}>
                            Delete rule {r.name}
                          </WriteButton>
                          <button type="button" className={BUTTON} onClick={() => setConfirming(null)}>
                            Keep
                          </button>
                        </>
                      ) : (
                        <WriteButton disabled={!canWrite} onClick={() => setConfirming(r.id)}>
                          Delete
                        </WriteButton>
                      )}
                    </span>
                  </div>
                  {rowId === r.id && w.error && (
                    <div className="px-4 pb-3">
                      <FormError error={w.error} />
                    </div>
                  )}
                  {editing === r.id && <RuleForm initial={ruleToForm(r)} channelNames={channelNames} canWrite={canWrite} onSaved={saved} onCancel={() => setEditing(null)} />}
                </li>
              ))}
            </ul>
          );
        }}
      </Async>
    </Card>
  );
}

function Channels({ res, canWrite }) {
  const [editing, setEditing] = useState(null); // a channel, 'new', or null
  const [tests, setTests] = useState({}); // name -> {busy, ok, text}
  const sendTest = async (name) => {
    setTests((t) => ({ ...t, [name]: { busy: true, ok: null, text: 'Sending…' } }));
    try {
      const out = await apiSend('POST', apiPath('/settings/alerts/test'), { channel: name });
      setTests((t) => ({ ...t, [name]: { busy: false, ok: !!out.delivered, text: describeTest(out) } }));
    } catch (e) {
      const auth = e.status === 401 || e.status === 403 || e.code === 'no_admin_token';
      setTests((t) => ({ ...t, [name]: { busy: false, ok: false, text: `${e.message}${auth ? ' Enter the admin token at the top of this page.' : ''}` } }));
    }
  };
  const saved = () => {
    setEditing(null);
    res.reload();
  };
  const blank = { name: '', kind: 'slack', target: '', secret: '', enabled: true };
  return (
    <Card
      title="Notification channels"
      bodyClass=""
      actions={
        <WriteButton disabled={!canWrite || editing === 'new'} onClick={() => setEditing('new')}>
          New channel
        </WriteButton>
      }
    >
      <ReadOnlyNote canWrite={canWrite} what="adding channels and sending test messages" />
      {editing === 'new' && <ChannelForm initial={blank} canWrite={canWrite} onSaved={saved} onCancel={() => setEditing(null)} />}
      <Async res={res} what="notification channels">
        {(data) => {
          const chans = Array.isArray(data.channels) ? data.channels : [];
          if (!chans.length) return <div className="p-4"><EmptyState title="No channels">Alerts are listed here but not sent anywhere.</EmptyState></div>;
          return (
            <ul className="divide-y divide-slate-100" aria-label="Notification channels">
              {chans.map((c) => {
                const t = tests[c.name];
                return (
                  <li key={c.id} aria-label={`Channel ${c.name}`}>
                    <div className="flex flex-wrap items-center gap-2 px-4 py-3 text-sm">
                      <span className="font-medium text-slate-900">{c.name}</span>
                      <span className="rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-600">{humanize(c.kind)}</span>
                      <span className="text-xs text-slate-500">{c.enabled === false ? 'disabled' : c.target_set === false ? 'no destination' : 'active'}</span>
                      <span className="ml-auto flex gap-2">
                        <WriteButton disabled={!canWrite || (t && t.busy)} onClick={() => sendTest(c.name)}>
                          Send test
                        </WriteButton>
                        <WriteButton disabled={!canWrite} onClick={() => setEditing(editing && editing.name === c.name ? null : c)}>
                          Replace
                        </WriteButton>
                      </span>
                      {t && (
                        <p role="status" aria-label={`Test of ${c.name}`} data-delivered={t.ok == null ? undefined : String(t.ok)} className={`basis-full text-xs ${t.ok ? 'text-emerald-700' : t.ok === false ? 'text-rose-700' : 'text-slate-500'}`}>
                          {t.text}
                        </p>
                      )}
                    </div>
                    {editing && editing !== 'new' && editing.name === c.name && (
                      <ChannelForm initial={{ ...blank, name: c.name, kind: c.kind, enabled: c.enabled !== false }} canWrite={canWrite} onSaved={saved} onCancel={() => setEditing(null)} />
                    )}
                  </li>
                );
              })}
            </ul>
          );
        }}
      </Async>
    </Card>
  );
}

export default function AlertRules({ canWrite }) {
  const res = useApi(SETTINGS);
  return (
    <div className="mt-6 grid gap-6 lg:grid-cols-3">
      <Rules res={res} canWrite={canWrite} />
      <Channels res={res} canWrite={canWrite} />
    </div>
  );
}
