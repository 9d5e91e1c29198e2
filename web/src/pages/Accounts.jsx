// Accounts pages (their own chunk): users (admin), API tokens (everyone signed in: their own;
// admins: everyone's too) and the audit log (admin). Writes go with the session's CSRF token or
// the saved admin token (src/api.js apiSend).
import { useState } from 'react';
import { apiPath, apiSend, useApi, useCursorPages } from '../api.js';
import { Link, useNavigate, useQuery, withQuery } from '../router.jsx';
import { Async, Card, EmptyState, PageHeader, Pager, Segmented } from '../components/ui.jsx';
import { BUTTON, Field, FormError, PRIMARY, splitError, useWrite } from '../components/forms.jsx';
import { DASH, formatDateTime, formatRelative } from '../lib/format.js';
import { ROLES } from '../lib/roles.js';
import { useSession } from '../session.jsx';

const TH = 'px-4 py-2 text-left text-xs font-medium uppercase tracking-wide text-slate-500';
const TD = 'px-4 py-2.5';

/** Shown instead of a page the current user may not use. */
function NotAllowed({ title, what }) {
  const session = useSession();
  return (
    <div>
      <PageHeader title={title} />
      <EmptyState title={session.signedIn ? `Your role (${session.role}) cannot see ${what}.` : `Sign in to see ${what}.`}>
        {!session.signedIn && <Link to={withQuery('/signin', { next: window.location.pathname })} className="text-sky-700 hover:underline">Sign in</Link>}
      </EmptyState>
    </div>
  );
}

function NewUser({ onSaved }) {
  const [f, setF] = useState({ username: '', display_name: '', role: 'viewer', password: '' });
  const w = useWrite();
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const { fields, general } = splitError(w.error, ['username', 'display_name', 'role', 'password']);
  const submit = async (e) => {
    e.preventDefault();
    if (await w.run(() => apiSend('POST', apiPath('/users'), f))) {
      setF({ username: '', display_name: '', role: 'viewer', password: '' });
      onSaved();
    }
  };
  return (
    <form aria-label="New user" onSubmit={submit} className="grid gap-3 border-b border-slate-100 px-4 py-3 sm:grid-cols-5 sm:items-end">
      <Field formId="user" label="Username" name="username" value={f.username} onChange={set('username')} error={fields.username} />
      <Field formId="user" label="Display name" name="display_name" value={f.display_name} onChange={set('display_name')} error={fields.display_name} />
      <Field formId="user" label="Role" name="role" value={f.role} onChange={set('role')} error={fields.role} options={ROLES.map((r) => ({ value: r, label: r }))} />
      <Field formId="user" label="Password" name="password" type="password" value={f.password} onChange={set('password')} error={fields.password} />
      <div>
        <button type="submit" className={PRIMARY} disabled={w.busy || !f.username.trim()}>Add user</button>
      </div>
      <div className="sm:col-span-5"><FormError error={general} /></div>
    </form>
  );
}

export function Users() {
  const session = useSession();
  const res = useApi(session.isAdmin ? apiPath('/users') : null, { admin: true });
  const w = useWrite();
  const [rowUser, setRowUser] = useState(null);
  if (!session.isAdmin) return <NotAllowed title="Users" what="users" />;
  const patch = async (u, body) => {
    setRowUser(u.username);
    if (await w.run(() => apiSend('PATCH', apiPath(`/users/${encodeURIComponent(u.username)}`), body))) res.reload();
  };
  const users = res.data && Array.isArray(res.data.users) ? res.data.users : [];
  return (
    <div>
      <PageHeader title="Users" subtitle="Who may sign in, and with which role: viewers read, maintainers also manage alerting, admins everything." />
      <Card title="Users" bodyClass="">
        <NewUser onSaved={res.reload} />
        <Async res={res} what="users" rows={4}>
          {() =>
            users.length ? (
              <table className="w-full text-sm">
                <caption className="sr-only">Users</caption>
                <thead>
                  <tr className="border-b border-slate-100">
                    <th className={TH}>User</th><th className={TH}>Role</th><th className={TH}>Source</th><th className={TH}>Last sign-in</th><th className={TH}>Created</th><th className={TH}><span className="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {users.map((u) => (
                    <tr key={u.username} aria-label={`User ${u.username}`} className={u.disabled ? 'text-slate-400' : ''}>
                      <td className={TD}>
                        <span className="font-medium">{u.username}</span>
                        {u.display_name && u.display_name !== u.username && <span className="ml-2 text-slate-500">{u.display_name}</span>}
                        {u.disabled && <span className="ml-2 rounded bg-slate-100 px-1.5 py-0.5 text-xs">disabled</span>}
                        {rowUser === u.username && <FormError error={w.error} />}
                      </td>
                      <td className={TD}>
                        <select aria-label={`Role of ${u.username}`} value={u.role} disabled={w.busy} onChange={(e) => patch(u, { role: e.target.value })} className="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm">
                          {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                        </select>
                      </td>
                      <td className={TD}>{u.source || DASH}</td>
                      <td className={TD} title={formatDateTime(u.last_login_at)}>{u.last_login_at ? formatRelative(u.last_login_at) : 'never'}</td>
                      <td className={TD} title={formatDateTime(u.created_at)}>{formatRelative(u.created_at)}</td>
                      <td className={`${TD} text-right`}>
                        <button type="button" className={BUTTON} disabled={w.busy} onClick={() => patch(u, { disabled: !u.disabled })}>
                          {u.disabled ? 'Enable' : 'Disable'}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <div className="p-4"><EmptyState title="No users yet" /></div>
            )
          }
        </Async>
      </Card>
    </div>
  );
}

function NewToken({ onCreated }) {
  const [f, setF] = useState({ name: '', scope: 'read', expires_in_days: '90' });
  const w = useWrite();
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const { fields, general } = splitError(w.error, ['name', 'scope', 'expires_in_days']);
  const submit = async (e) => {
    e.preventDefault();
    const days = f.expires_in_days.trim();
    const body = { name: f.name.trim(), scope: f.scope };
    if (days) body.expires_in_days = /^\d+$/.test(days) ? Number(days) : days;
    const out = await w.run(() => apiSend('POST', apiPath('/tokens'), body));
    if (out) {
      setF({ name: '', scope: 'read', expires_in_days: '90' });
      onCreated(out);
    }
  };
  return (
    <form aria-label="New token" onSubmit={submit} className="grid gap-3 border-b border-slate-100 px-4 py-3 sm:grid-cols-4 sm:items-end">
      <Field formId="token" label="Name" name="name" value={f.name} onChange={set('name')} error={fields.name} hint="what uses it, e.g. grafana" />
      <Field formId="token" label="Scope" name="scope" value={f.scope} onChange={set('scope')} error={fields.scope} options={[{ value: 'read', label: 'read' }, { value: 'write', label: 'write' }]} />
      <Field formId="token" label="Expires in (days)" name="expires_in_days" value={f.expires_in_days} onChange={set('expires_in_days')} error={fields.expires_in_days} hint="empty: never" />
      <div>
        <button type="submit" className={PRIMARY} disabled={w.busy || !f.name.trim()}>Create token</button>
      </div>
      <div className="sm:col-span-4"><FormError error={general} /></div>
    </form>
  );
}

export function Tokens() {
  const session = useSession();
  const query = useQuery();
  const navigate = useNavigate();
  const all = session.isAdmin && query.all === 'true';
  const allowed = session.signedIn || session.via === 'token';
  const res = useApi(allowed ? apiPath('/tokens', { all: all ? 'true' : '' }) : null, { admin: true });
  const [created, setCreated] = useState(null);
  const w = useWrite();
  const [rowId, setRowId] = useState(null);
  if (!allowed) return <NotAllowed title="API tokens" what="API tokens" />;
  const revoke = async (t) => {
    setRowId(t.id);
    if (await w.run(() => apiSend('DELETE', apiPath(`/tokens/${encodeURIComponent(t.id)}`)))) res.reload();
  };
  const tokens = res.data && Array.isArray(res.data.tokens) ? res.data.tokens : [];
  return (
    <div>
      <PageHeader
        title="API tokens"
        subtitle="Personal tokens for scripts and tools: sent as a bearer token, with your role, read-only or not."
        actions={session.isAdmin ? <Segmented label="Whose tokens" options={[{ value: 'own', label: 'Mine' }, { value: 'all', label: 'Everyone’s' }]} value={all ? 'all' : 'own'} onChange={(v) => navigate(withQuery('/tokens', { all: v === 'all' ? 'true' : '' }), { replace: true })} /> : null}
      />
      {created && created.token && (
        <div role="status" aria-label="New token" className="mb-6 rounded-lg border border-emerald-200 bg-emerald-50 p-4 text-sm text-emerald-900">
          <p className="font-medium">Token {created.name} created. Copy it now: it is not shown again.</p>
          <code className="mt-2 block select-all break-all rounded bg-white px-2 py-1 font-mono text-xs text-slate-900" data-token="">{created.token}</code>
          <button type="button" className={`${BUTTON} mt-2`} onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
      <Card title={all ? 'All tokens' : 'Your tokens'} bodyClass="">
        <NewToken onCreated={(t) => { setCreated(t); res.reload(); }} />
        <Async res={res} what="tokens" rows={3}>
          {() =>
            tokens.length ? (
              <table className="w-full text-sm">
                <caption className="sr-only">Tokens</caption>
                <thead>
                  <tr className="border-b border-slate-100">
                    <th className={TH}>Name</th><th className={TH}>Scope</th>{all && <th className={TH}>Owner</th>}<th className={TH}>Created</th><th className={TH}>Expires</th><th className={TH}>Last used</th><th className={TH}><span className="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {tokens.map((t) => (
                    <tr key={t.id} aria-label={`Token ${t.name}`} className={t.revoked_at ? 'text-slate-400' : ''}>
                      <td className={TD}>
                        <span className="font-medium">{t.name}</span>
                        {rowId === t.id && <FormError error={w.error} />}
                      </td>
                      <td className={TD}>{t.scope}</td>
                      {all && <td className={TD}>{t.owner || DASH}</td>}
                      <td className={TD} title={formatDateTime(t.created_at)}>{formatRelative(t.created_at)}</td>
                      <td className={TD}>{t.expires_at ? formatDateTime(t.expires_at) : 'never'}</td>
                      <td className={TD} title={formatDateTime(t.last_used_at)}>{t.last_used_at ? formatRelative(t.last_used_at) : 'never'}</td>
                      <td className={`${TD} text-right`}>
                        {t.revoked_at ? (
                          <span className="text-xs" title={formatDateTime(t.revoked_at)}>revoked {formatRelative(t.revoked_at)}</span>
                        ) : (
                          <button type="button" className={BUTTON} disabled={w.busy} onClick={() => revoke(t)}>Revoke</button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <div className="p-4"><EmptyState title="No tokens" /></div>
            )
          }
        </Async>
      </Card>
    </div>
  );
}

function Json({ value }) {
  if (value == null) return DASH;
  return <pre className="max-h-32 max-w-xs overflow-auto whitespace-pre-wrap break-all font-mono text-[11px] text-slate-600">{typeof value === 'string' ? value : JSON.stringify(value, null, 1)}</pre>;
}

export function Audit() {
  const session = useSession();
  const query = useQuery();
  const navigate = useNavigate();
  const q = { actor: (query.actor || '').trim(), action: (query.action || '').trim(), from: (query.from || '').trim(), to: (query.to || '').trim() };
  const [f, setF] = useState(q);
  const pager = useCursorPages(session.isAdmin ? JSON.stringify(q) : null, (cursor) => apiPath('/audit', { ...q, limit: 50, cursor }), { admin: true });
  if (!session.isAdmin) return <NotAllowed title="Audit log" what="the audit log" />;
  const entries = pager.data && Array.isArray(pager.data.entries) ? pager.data.entries : [];
  const input = 'mt-1 block w-40 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm';
  return (
    <div>
      <PageHeader title="Audit log" subtitle="Every change made by a maintainer or an admin: who, what, before and after, when and from where." />
      <form
        aria-label="Audit filters"
        className="mb-4 flex flex-wrap items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(withQuery('/audit', f), { replace: true });
        }}
      >
        {[['actor', 'Actor'], ['action', 'Action'], ['from', 'From (ISO time)'], ['to', 'To (ISO time)']].map(([k, label]) => (
          <label key={k} className="text-xs font-medium text-slate-600">
            {label}
            <input value={f[k]} onChange={(e) => setF({ ...f, [k]: e.target.value })} className={input} />
          </label>
        ))}
        <button type="submit" className={BUTTON}>Filter</button>
      </form>
      <Card title="Entries" bodyClass="">
        <Async res={pager} what="the audit log" rows={5}>
          {() =>
            entries.length ? (
              <div className="overflow-x-auto">
                <table className="w-full text-sm">
                  <caption className="sr-only">Audit log entries, newest first</caption>
                  <thead>
                    <tr className="border-b border-slate-100">
                      <th className={TH}>When</th><th className={TH}>Actor</th><th className={TH}>Action</th><th className={TH}>Target</th><th className={TH}>Before</th><th className={TH}>After</th><th className={TH}>From</th>
                    </tr>
                  </thead>
                  <tbody className="divide-y divide-slate-100 align-top">
                    {entries.map((e) => (
                      <tr key={e.id} aria-label={`Audit entry ${e.id}`}>
                        <td className={`${TD} whitespace-nowrap`} title={formatDateTime(e.at)}>{formatDateTime(e.at)}</td>
                        <td className={TD}>{e.actor || DASH}{e.actor_kind ? <span className="ml-1 text-xs text-slate-400">({e.actor_kind})</span> : null}</td>
                        <td className={`${TD} font-mono text-xs`}>{e.action}</td>
                        <td className={`${TD} break-all`}>{e.target || DASH}</td>
                        <td className={TD}><Json value={e.before} /></td>
                        <td className={TD}><Json value={e.after} /></td>
                        <td className={`${TD} font-mono text-xs`}>{e.remote_addr || DASH}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <div className="p-4"><EmptyState title="No entries" /></div>
            )
          }
        </Async>
        <Pager pager={pager} label="Audit pages" />
      </Card>
    </div>
  );
}
