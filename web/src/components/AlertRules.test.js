import { describe, expect, it } from 'vitest';
import { describeRule } from './AlertRules.jsx';

describe('describeRule', () => {
  it('says what each kind of rule fires on', () => {
    expect(describeRule('failure', {})).toBe('a run concludes with failure');
    expect(describeRule('flapping', { failures: 3, runs: 5 })).toBe('3 runs fail within 5 runs');
    expect(describeRule('flapping', { failures: 3, minutes: 60 })).toBe('3 runs fail within 60 minutes');
    expect(describeRule('regression', { threshold: 0.8, window_s: 86400 })).toBe('the success rate is below 80% over 1 day');
    expect(describeRule('slow_build', { threshold: 600, window_s: 3600 })).toBe('the average duration is above 10m 00s over 1 hour');
  });
  it('copes with missing or odd parameters', () => {
    expect(describeRule('slow_build', { threshold: 'x' })).toBe('the average duration is above \u2014');
    expect(describeRule('flapping', null)).toBe('several runs fail within a short span');
    expect(describeRule('something_new', {})).toBe('Something new');
  });
});
