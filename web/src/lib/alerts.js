// Pure logic of the alerting forms: rule, channel and silence forms to API bodies and back, and
// which form field an API 400 is about. The API checks every value; the forms send what the
// user typed (numbers as numbers when they are numbers) so that its messages are the ones shown.

export const RULE_KINDS = ['failure', 'flapping', 'regression', 'slow_build'];
export const SEVERITIES = ['critical', 'warning', 'info'];
export const CHANNEL_KINDS = ['slack', 'teams', 'email', 'webhook'];

/** The params fields each kind of rule reads (docs/openapi.yaml, AlertRule.params). */
export const PARAMS_BY_KIND = {
  failure: ['conclusions', 'repeat_interval_s'],
  flapping: ['failures', 'runs', 'minutes'],
  regression: ['threshold', 'window_s', 'min_runs'],
  slow_build: ['threshold', 'window_s', 'stat'],
};

const PARAM_KEYS = ['conclusions', 'repeat_interval_s', 'failures', 'runs', 'minutes', 'threshold', 'window_s', 'min_runs', 'stat'];

/** An empty rule form. */
export function emptyRuleForm() {
  const f = { id: null, name: '', kind: 'failure', severity: 'critical', repo: '', workflowId: '', branch: '', channels: [], enabled: true };
  for (const k of PARAM_KEYS) f[k] = '';
  return f;
}

/** The form for a rule as GET /api/v1/settings/alerts lists it. */
export function ruleToForm(rule) {
  const f = emptyRuleForm();
  const r = rule || {};
  const p = r.params && typeof r.params === 'object' ? r.params : {};
  f.id = r.id ?? null;
  f.name = r.name || '';
  f.kind = RULE_KINDS.includes(r.kind) ? r.kind : 'failure';
  f.severity = SEVERITIES.includes(r.severity) ? r.severity : 'critical';
  f.repo = r.repo || '';
  f.workflowId = r.workflow_id == null ? '' : String(r.workflow_id);
  f.branch = r.branch || '';
  f.channels = Array.isArray(r.channels) ? r.channels.map(String) : [];
  f.enabled = r.enabled !== false;
  for (const k of PARAM_KEYS) {
    const v = p[k];
    if (v == null) continue;
    f[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return f;
}

// "42" -> 42; anything else that is not blank stays the text typed, for the API to refuse.
function numberOrText(text) {
  const t = String(text).trim();
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  return t;
}

/** The rule as POST /api/v1/settings/alerts takes it (`rules[i]`), from a form. */
export function formToRule(form) {
  const out = { name: form.name.trim(), kind: form.kind, severity: form.severity };
  if (form.id != null) out.id = form.id;
  out.repo = form.repo.trim() || null;
  out.workflow_id = form.workflowId.trim() === '' ? null : numberOrText(form.workflowId);
  out.branch = form.branch.trim() || null;
  out.channels = [...form.channels];
  out.enabled = !!form.enabled;
  const params = {};
  for (const k of PARAMS_BY_KIND[form.kind] || []) {
    const v = String(form[k] ?? '').trim();
    if (v === '') continue;
    if (k === 'conclusions') params[k] = v.split(/[\s,]+/).filter(Boolean);
    else if (k === 'stat') params[k] = v;
    else params[k] = numberOrText(v);
  }
  out.params = params;
  return out;
}

/**
 * The form field an API error is about, from its `param`: "rules[0].params.threshold" ->
 * "threshold", "rules[0].name" -> "name", "channels[0].target" -> "target", "until" -> "until".
 * Null when it names no field of one entry ("body", "rules").
 */
export function fieldOfParam(param) {
  if (typeof param !== 'string' || !param) return null;
  const m = /^(?:rules|channels)\[\d+\](?:\.(.+))?$/.exec(param);
  const rest = m ? m[1] : param;
  if (!rest || rest === 'body' || rest === 'rules' || rest === 'channels') return m ? 'entry' : null;
  const parts = rest.split('.');
  return parts[parts.length - 1];
}

/** An API 400 message as shown beside its field: without the 'parameter "X": ' prefix. */
export function fieldMessage(message) {
  return String(message || '').replace(/^parameter "[^"]*": /, '');
}

/** Which form field (camelCase as in the forms) an API field name is shown beside. */
export function formField(apiField) {
  if (apiField === 'workflow_id') return 'workflowId';
  return apiField;
}

/** The channel as POST /api/v1/settings/alerts takes it; a blank target or secret keeps the stored one. */
export function formToChannel(form) {
  const out = { name: form.name.trim(), kind: form.kind, enabled: !!form.enabled };
  if (form.target.trim()) out.target = form.target.trim();
  if (form.kind === 'webhook' && form.secret.trim()) out.secret = form.secret.trim();
  return out;
}

/**
 * The body of POST /api/v1/silences. `until` is a datetime-local value ("2026-12-02T21:30"),
 * read as the browser's local time and sent as UTC ISO 8601; a value that is no time is sent
 * as typed so that the API says what is wrong with it.
 */
export function formToSilence(form) {
  const out = {};
  if (form.repo.trim()) out.repo = form.repo.trim();
  if (form.workflowId.trim()) out.workflow_id = numberOrText(form.workflowId);
  if (form.branch.trim()) out.branch = form.branch.trim();
  if (form.kind) out.kind = form.kind;
  const until = String(form.until || '').trim();
  const ms = until ? new Date(until).getTime() : NaN;
  out.until = Number.isFinite(ms) ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : until;
  if (form.comment.trim()) out.comment = form.comment.trim();
  return out;
}

/** What a silence (or a rule) covers, in words. */
export function describeScope({ repo, workflow, branch, kind }) {
  const parts = [repo ? repo : 'every repository'];
  if (workflow != null && workflow !== '') parts.push(`workflow ${workflow}`);
  if (branch) parts.push(`branch ${branch}`);
  if (kind) parts.push(`${String(kind).replace(/_/g, ' ')} alerts`);
  return parts.join(', ');
}

/** The outcome of a test message (POST /api/v1/settings/alerts/test) in words. */
export function describeTest(reply) {
  if (!reply) return '';
  // HTTP for chat and webhook channels, the SMTP reply code for e-mail.
  const status = typeof reply.status === 'number' ? ` (receiver status ${reply.status})` : '';
  if (reply.delivered) return `Delivered${status}`;
  return `Not delivered${status}${reply.error ? `: ${reply.error}` : ''}`;
}
