import { describe, expect, it } from 'vitest';
import { describeScope, describeTest, emptyRuleForm, fieldMessage, fieldOfParam, formToChannel, formToRule, formToSilence, ruleToForm } from './alerts.js';

describe('rule forms', () => {
  it('round-trips a rule through the form', () => {
    const rule = {
      id: 7, name: 'flaky-main', kind: 'flapping', severity: 'warning', repo: 'acme/api', workflow_id: 501,
      branch: 'main', channels: ['team-slack'], enabled: false, params: { failures: 3, runs: 5 },
    };
    const f = ruleToForm(rule);
    expect(f.failures).toBe('3');
    expect(f.workflowId).toBe('501');
    expect(formToRule(f)).toEqual({ ...rule, params: { failures: 3, runs: 5 } });
  });
  it('sends only the params of the chosen kind, numbers as numbers and the rest as typed', () => {
    const f = { ...emptyRuleForm(), name: ' r ', kind: 'regression', threshold: '1.5', window_s: '1d', failures: '3' };
    expect(formToRule(f)).toEqual({
      name: 'r', kind: 'regression', severity: 'critical', repo: null, workflow_id: null, branch: null,
      channels: [], enabled: true, params: { threshold: 1.5, window_s: '1d' },
    });
    const g = { ...emptyRuleForm(), name: 'f', conclusions: 'failure, timed_out', repeat_interval_s: '3600' };
    expect(formToRule(g).params).toEqual({ conclusions: ['failure', 'timed_out'], repeat_interval_s: 3600 });
    expect(formToRule({ ...emptyRuleForm(), kind: 'slow_build', stat: 'p95' }).params).toEqual({ stat: 'p95' });
  });
  it('starts a form from an odd rule without throwing', () => {
    expect(ruleToForm({ kind: 'nonsense', params: null }).kind).toBe('failure');
    expect(ruleToForm(null).name).toBe('');
  });
});

describe('fieldOfParam', () => {
  it("finds the form field of the API's param", () => {
    expect(fieldOfParam('rules[0].params.threshold')).toBe('threshold');
    expect(fieldOfParam('rules[12].name')).toBe('name');
    expect(fieldOfParam('rules[0].params')).toBe('params');
    expect(fieldOfParam('rules[0]')).toBe('entry');
    expect(fieldOfParam('channels[1].target')).toBe('target');
    expect(fieldOfParam('until')).toBe('until');
    expect(fieldOfParam('body')).toBe(null);
    expect(fieldOfParam(null)).toBe(null);
  });
  it('drops the parameter prefix from the message shown beside the field', () => {
    expect(fieldMessage('parameter "rules[0].params.threshold": threshold out of range')).toBe('threshold out of range');
    expect(fieldMessage('no such rule')).toBe('no such rule');
  });
});

describe('channel and silence bodies', () => {
  it('leaves a blank target out (the stored one is kept) and sends a secret only for webhooks', () => {
    expect(formToChannel({ name: 'ops', kind: 'slack', target: ' ', secret: 'x'.repeat(20), enabled: true })).toEqual({ name: 'ops', kind: 'slack', enabled: true });
    expect(formToChannel({ name: 'hook', kind: 'webhook', target: 'https://h/x', secret: 's'.repeat(16), enabled: false }))
      .toEqual({ name: 'hook', kind: 'webhook', target: 'https://h/x', secret: 's'.repeat(16), enabled: false });
  });
  it('sends until as UTC and keeps what is not a time as typed', () => {
    const local = '2030-01-02T03:04';
    const body = formToSilence({ repo: 'acme/api', workflowId: '', branch: ' main ', kind: 'failure', until: local, comment: '' });
    expect(body).toEqual({ repo: 'acme/api', branch: 'main', kind: 'failure', until: new Date(local).toISOString().replace('.000Z', 'Z') });
    expect(formToSilence({ repo: '', workflowId: '5', branch: '', kind: '', until: 'soon', comment: 'deploy' }))
      .toEqual({ workflow_id: 5, until: 'soon', comment: 'deploy' });
  });
});

describe('words', () => {
  it('describes scopes and test results', () => {
    expect(describeScope({})).toBe('every repository');
    expect(describeScope({ repo: 'acme/api', workflow: 501, branch: 'main', kind: 'slow_build' })).toBe('acme/api, workflow 501, branch main, slow build alerts');
    expect(describeTest({ delivered: true, status: 200 })).toBe('Delivered (receiver status 200)');
    expect(describeTest({ delivered: false, status: 500, error: 'HTTP 500' })).toBe('Not delivered (receiver status 500): HTTP 500');
    expect(describeTest({ delivered: false, status: null, error: 'timed out' })).toBe('Not delivered: timed out');
  });
});
