// Silences (GET/POST /api/v1/silences, DELETE /api/v1/silences/{id}): a silenced scope still
// opens and resolves alerts, but their notifications are dropped until the silence ends.
import { useState } from 'react';
import { apiPath, apiSend, itemsOf, useApi } from '../api.js';
import { RULE_KINDS, describeScope, formToSilence } from '../lib/alerts.js';
import { formatDateTime, formatRelative } from '../lib/format.js';
import { Async, Card, EmptyState, humanize } from './ui.jsx';
import { BUTTON, Field, FormActions, FormError, ReadOnlyNote, WriteButton, splitError, useWrite } from './forms.jsx';

const BLANK = { repo: '', workflowId: '', branch: '', kind: '', until: '', comment: '' };

function SilenceForm({ canWrite, onSaved, onCancel }) {
  const [f, setF] = useState(BLANK);
  const w = useWrite();
  const { fields, general } = splitError(w.error, ['repo', 'workflowId', 'branch', 'kind', 'until', 'comment']);
  const common = (name) => ({ formId: 'silence-new', name, value: f[name], onChange: (v) => setF((x) => ({ ...x, [name]: v })), error: fields[name] });
  const submit = async (e) => {
    e.preventDefault();
    const out = await w.run(() => apiSend('POST', apiPath('/silences'), formToSilence(f)));
    if (out) onSaved(out);
  };
  return (
    <form aria-label="New silence" onSubmit={submit} className="grid gap-3 border-b border-slate-100 bg-slate-50 p-4 sm:grid-cols-3">
      <Field {...common('repo')} label="Repository" placeholder="every repository" />
      <Field {...common('workflowId')} label="Workflow id" placeholder="every workflow" />
      <Field {...common('branch')} label="Branch" placeholder="every branch" />
      <Field {...common('kind')} label="Alert kind" options={[{ value: '', label: 'every kind' }, ...RULE_KINDS.map((k) => ({ value: k, label: humanize(k) }))]} />
      <Field {...common('until')} type="datetime-local" label="Until" hint="In this browser's time zone (listed in UTC)" />
      <Field {...common('comment')} label="Comment" placeholder="why, who" />
      <FormActions label="Create silence" disabled={!canWrite || w.busy} onCancel={onCancel} error={general} className="sm:col-span-3" />
    </form>
  );
}

export default function Silences({ canWrite }) {
  const res = useApi(apiPath('/silences'));
  const [adding, setAdding] = useState(false);
  const [rowId, setRowId] = useState(null);
  const w = useWrite();
  const remove = async (id) => {
    setRowId(id);
    if (await w.run(() => apiSend('DELETE', apiPath(`/silences/${encodeURIComponent(id)}`)))) res.reload();
  };
  return (
    <Card
      title="Silences"
      bodyClass=""
      className="mt-6"
      actions={
        <WriteButton disabled={!canWrite || adding} onClick={() => setAdding(true)}>
          New silence
        </WriteButton>
      }
    >
      <ReadOnlyNote canWrite={canWrite} what="creating and deleting silences" />
      {adding && (
        <SilenceForm
          canWrite={canWrite}
          onSaved={() => {
            setAdding(false);
            res.reload();
          }}
          onCancel={() => setAdding(false)}
        />
      )}
      <Async res={res} what="silences">
        {(data) => {
          const items = itemsOf(data);
          if (!items.length) return <div className="p-4"><EmptyState title="No silences">Every alert is sent to its channels.</EmptyState></div>;
          return (
            <ul className="divide-y divide-slate-100" aria-label="Silences">
              {items.map((s) => (
                <li key={s.id} aria-label={`Silence ${s.id}`} className="px-4 py-3 text-sm">
                  <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
                    <span className="font-medium text-slate-900">{describeScope({ repo: s.repo, workflow: s.workflow_id, branch: s.branch, kind: s.kind })}</span>
                    <span className="text-slate-500" title={formatDateTime(s.until)}>
                      {s.active ? `until ${formatDateTime(s.until)}` : `ended ${formatRelative(s.until)}`}
                    </span>
                    {s.comment && <span className="text-slate-600">“{s.comment}”</span>}
                    <span className={`rounded px-1.5 py-0.5 text-xs ${s.active ? 'bg-sky-50 text-sky-700' : 'bg-slate-100 text-slate-500'}`}>{s.active ? 'active' : 'expired'}</span>
                    <WriteButton className={`${BUTTON} ml-auto`} disabled={!canWrite || w.busy} onClick={() => remove(s.id)}>
                      Delete
                    </WriteButton>
                  </div>
                  {rowId === s.id && <FormError error={w.error} />}
                </li>
              ))}
            </ul>
          );
        }}
      </Async>
    </Card>
  );
}
