// Form pieces of the alerting page: labelled fields that show the API's message for them, the
// admin-token bar that writes need, and a hook that runs one write at a time.
import { createContext, useCallback, useContext, useState } from 'react';
import { getAdminToken, setAdminToken } from '../api.js';
import { fieldMessage, fieldOfParam, formField } from '../lib/alerts.js';
import { useSession } from '../session.jsx';

export const INPUT = 'mt-1 block w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm text-slate-900 shadow-sm focus:border-sky-500 focus:outline-none aria-[invalid=true]:border-rose-500';
export const BUTTON = 'rounded-md border border-slate-300 bg-white px-2.5 py-1 text-xs font-medium text-slate-700 shadow-sm hover:bg-slate-50 disabled:cursor-not-allowed disabled:opacity-50';
export const PRIMARY = 'rounded-md bg-slate-900 px-3 py-1.5 text-xs font-medium text-white shadow-sm hover:bg-slate-700 disabled:cursor-not-allowed disabled:opacity-50';

/**
 * Runs writes one at a time: {busy, error, run, reset}. `run(fn)` resolves to fn's result, or
 * to undefined when it failed (the ApiError is then in `error`).
 */
export function useWrite() {
  const [st, setSt] = useState({ busy: false, error: null });
  const run = useCallback(async (fn) => {
    setSt({ busy: true, error: null });
    try {
      const out = await fn();
      setSt({ busy: false, error: null });
      return out;
    } catch (error) {
      setSt({ busy: false, error });
      return undefined;
    }
  }, []);
  const reset = useCallback(() => setSt({ busy: false, error: null }), []);
  return { ...st, run, reset };
}

/**
 * Splits a write's error between the form's fields: {fields: {name: message}, general}. An error
 * about a field the form shows goes beside it; anything else is shown for the form as a whole.
 */
export function splitError(error, shown) {
  if (!error) return { fields: {}, general: null };
  const f = formField(fieldOfParam(error.param));
  if (error.status === 400 && f && shown.includes(f)) return { fields: { [f]: fieldMessage(error.message) }, general: null };
  return { fields: {}, general: error };
}

export function FieldError({ id, name, message }) {
  if (!message) return null;
  return (
    <p id={id} className="mt-1 text-xs text-rose-700" data-field-error={name}>
      {message}
    </p>
  );
}

/** A labelled input (or select, with `options`) with the API's message for it below. */
export function Field({ label, name, value, onChange, error, hint, options, type = 'text', className = '', formId, ...rest }) {
  const errId = `${formId}-${name}-error`;
  const common = {
    value,
    onChange: (e) => onChange(e.target.value),
    'aria-invalid': error ? true : undefined,
    'aria-describedby': error ? errId : undefined,
    className: INPUT,
    ...rest,
  };
  return (
    <div className={className}>
      <label className="block text-xs font-medium text-slate-600">
        {label}
        {options ? (
          <select {...common}>
            {options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        ) : (
          <input type={type} autoComplete="off" {...common} />
        )}
      </label>
      {hint && !error && <p className="mt-1 text-xs text-slate-400">{hint}</p>}
      <FieldError id={errId} name={name} message={error} />
    </div>
  );
}

/** An error about the form as a whole (not one field), with what to do about a refused token. */
export function FormError({ error }) {
  const session = useSession();
  if (!error) return null;
  const auth = error.status === 401 || error.status === 403 || error.code === 'no_admin_token';
  const signedIn = session && session.signedIn && !getAdminToken();
  return (
    <div role="alert" className="mt-3 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-xs text-rose-800">
      {error.message}
      {error.status ? ` (HTTP ${error.status})` : ''}
      {auth && (signedIn ? <span className="block">Your role may not do this, or your session has ended: sign in again.</span> : <span className="block">Enter the collector&apos;s admin token at the top of this page.</span>)}
    </div>
  );
}

/** A form's submit and cancel buttons, and its error that is about no one field. */
export function FormActions({ label, disabled, onCancel, error, className = '' }) {
  return (
    <>
      <div className={`flex items-center gap-2 ${className}`}>
        <button type="submit" className={PRIMARY} disabled={disabled}>
          {label}
        </button>
        <button type="button" className={BUTTON} onClick={onCancel}>
          Cancel
        </button>
      </div>
      <div className={className}>
        <FormError error={error} />
      </div>
    </>
  );
}

/**
 * True where the signed-in user's role may not write: write controls are then not shown at all
 * (without a session they are shown disabled, with the admin token form).
 */
export const HideWrites = createContext(false);

/** A write control's button: not rendered where writes are hidden (HideWrites). */
export function WriteButton({ children, className = BUTTON, ...rest }) {
  if (useContext(HideWrites)) return null;
  return (
    <button type="button" className={className} {...rest}>
      {children}
    </button>
  );
}

/** Says why write controls are off when no admin token is saved. */
export function ReadOnlyNote({ canWrite, what }) {
  const hidden = useContext(HideWrites);
  if (canWrite || hidden) return null;
  return <p className="border-b border-amber-100 bg-amber-50 px-4 py-2 text-xs text-amber-800">Read-only: {what} need the admin token (see the top of this page).</p>;
}

/**
 * The admin token for writes, kept in this browser like the read token. `onChange(token)` is
 * told when it is saved or forgotten.
 */
export function AdminTokenBar({ token, onChange }) {
  const [value, setValue] = useState('');
  if (token) {
    return (
      <div className="mb-6 flex flex-wrap items-center gap-3 rounded-lg border border-slate-200 bg-white px-4 py-2 text-sm text-slate-600 shadow-sm" role="region" aria-label="Admin token">
        <span>Admin token saved in this browser: rules, channels, silences and acks can be changed.</span>
        <button
          type="button"
          className={BUTTON}
          onClick={() => {
            setAdminToken('');
            onChange('');
          }}
        >
          Forget the admin token
        </button>
      </div>
    );
  }
  return (
    <form
      className="mb-6 flex flex-wrap items-end gap-3 rounded-lg border border-amber-200 bg-amber-50 px-4 py-3 text-sm text-amber-900"
      aria-label="Admin token"
      onSubmit={(e) => {
        e.preventDefault();
        const t = value.trim();
        setAdminToken(t);
        setValue('');
        onChange(getAdminToken() || t);
      }}
    >
      <p className="basis-full">Viewing only. Changing rules, channels and silences or acknowledging alerts needs the collector&apos;s admin token (CIPULSE_ADMIN_TOKEN).</p>
      <label className="text-xs font-medium">
        Admin token
        <input type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} className={`${INPUT} w-72`} />
      </label>
      <button type="submit" disabled={!value.trim()} className={PRIMARY}>
        Use admin token
      </button>
      <span className="text-xs text-amber-700">Kept in this browser only.</span>
    </form>
  );
}
