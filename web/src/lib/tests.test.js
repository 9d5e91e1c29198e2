import { describe, expect, it } from 'vitest';
import { groupStory, resultStrip, runJobHref, sinceText, testLabel, testState, testsQuery, trendBars } from './tests.js';
import { normFailureDetail, normFailureGroup, normJob, normTest, normTestRun } from '../model.js';

// 2026-12-03 is a Thursday.
const NOW = Date.parse('2026-12-03T12:00:00Z');

describe('test results view-model', () => {
  it('cleans the tests page query into API parameters', () => {
    expect(testsQuery({})).toEqual({ repo: '', workflow: '', branch: '', flaky: '', failing: '', sort: 'flakiness', window: '7d' });
    expect(testsQuery({ repo: ' acme/api ', workflow: '42', branch: 'main', flaky: 'true', failing: 'yes', sort: 'duration', window: '30d' })).toEqual({
      repo: 'acme/api', workflow: '42', branch: 'main', flaky: 'true', failing: '', sort: 'duration', window: '30d',
    });
    // Unknown values fall back instead of reaching the API.
    expect(testsQuery({ workflow: '4; drop', sort: 'name', window: '1y' })).toMatchObject({ workflow: '', sort: 'flakiness', window: '7d' });
  });

  it('labels states, with unknown ones readable', () => {
    expect(testState('flaky')).toEqual({ label: 'Flaky', tone: 'amber' });
    expect(testState('new_failure').tone).toBe('red');
    expect(testState('already_failing').label).toBe('Failing');
    expect(testState('quarantined')).toEqual({ label: 'quarantined', tone: 'gray' });
  });

  it('names a test by class and name', () => {
    expect(testLabel(normTest({ class_name: 'tests.test_x.TestA', name: 'test_b' }))).toBe('tests.test_x.TestA › test_b');
    expect(testLabel(normTest({ name: 'test_b' }))).toBe('test_b');
  });

  it('draws the result strip oldest first, linking each run job', () => {
    const history = [
      { run_id: 3, run_attempt: 1, job_id: 30, result: 'passed' },
      { run_id: 2, run_attempt: 2, job_id: 21, result: 'passed', head_branch: 'main' },
      { run_id: 2, run_attempt: 1, job_id: 20, result: 'failed', head_branch: 'main' },
    ].map(normTestRun);
    const strip = resultStrip(history);
    expect(strip.map((c) => c.label)).toEqual(['failed', 'passed', 'passed']);
    expect(strip[0].tone).toBe('red');
    expect(strip[1].title).toBe('passed · run 2 attempt 2 · main');
    expect(resultStrip(history, 2).map((c) => c.runId)).toEqual([2, 3]);
    expect(runJobHref(2, 2, 21)).toBe('/runs/2?attempt=2&job=21');
    expect(runJobHref(3, 1, null)).toBe('/runs/3');
  });

  it('tells since when a failure group is seen, in UTC days', () => {
    expect(sinceText('2026-12-03T01:00:00Z', NOW)).toBe('since today');
    expect(sinceText('2026-12-02T23:59:00Z', NOW)).toBe('since yesterday');
    expect(sinceText('2026-12-01T08:00:00Z', NOW)).toBe('since Tuesday');
    expect(sinceText('2026-11-26T08:00:00Z', NOW)).toBe('since 26 Nov');
    expect(sinceText('2025-11-26T08:00:00Z', NOW)).toBe('since 26 Nov 2025');
    expect(sinceText(null, NOW)).toBe('');
  });

  it('tells a failure group story', () => {
    const g = normFailureGroup({ fingerprint: 'ab', runs: 37, repositories: 5, first_seen: '2026-12-01T08:00:00Z' });
    expect(groupStory(g, NOW)).toBe('seen in 37 runs in 5 repositories since Tuesday');
    expect(groupStory(normFailureGroup({ fingerprint: 'ab', runs: 1, repositories: 1, first_seen: '2026-12-03T08:00:00Z' }), NOW)).toBe('seen in 1 run in 1 repository since today');
    // The list's groups may carry only the names of the repositories.
    expect(normFailureGroup({ fingerprint: 'x', repos: ['a/b', 'c/d'] }).repositories).toBe(2);
  });

  it('fills a trend with one bar per day, zero where nothing failed', () => {
    const { bars, max } = trendBars([{ day: '2026-12-01', runs: 4 }, { day: '2026-12-03T00:00:00Z', runs: 2 }, { day: 'bad', runs: 9 }], 4, NOW);
    expect(bars).toEqual([
      { day: '2026-11-30', runs: 0 },
      { day: '2026-12-01', runs: 4 },
      { day: '2026-12-02', runs: 0 },
      { day: '2026-12-03', runs: 2 },
    ]);
    expect(max).toBe(4);
    expect(trendBars([], 3, NOW).max).toBe(1);
  });

  it('reads a job of the run detail with its tests, failed tests and failure group', () => {
    const j = normJob({
      job_id: 7, name: 'test',
      tests: { total: 10, passed: 8, failed: 2, skipped: 0 },
      failed_tests: [{ id: 'aa', suite: 's', class_name: 'C', name: 'n', message: 'boom', flaky: true, new_failure: false }],
      failure_group: { fingerprint: 'ff', title: 'AssertionError', runs: 3, repositories: 2, first_seen: '2026-12-01T00:00:00Z' },
    });
    expect(j.tests).toEqual({ total: 10, passed: 8, failed: 2, skipped: 0 });
    expect(j.failedTests).toEqual([{ id: 'aa', suite: 's', className: 'C', name: 'n', message: 'boom', flaky: true, newFailure: false }]);
    expect(j.failureGroup).toMatchObject({ fingerprint: 'ff', runs: 3, repositories: 2 });
    const bare = normJob({ job_id: 8, failure_group: null });
    expect(bare.tests).toBeNull();
    expect(bare.failedTests).toEqual([]);
    expect(bare.failureGroup).toBeNull();
  });

  it('reads a failure group detail', () => {
    const d = normFailureDetail({ failure: { fingerprint: 'ff', runs: 2 }, lines: ['E   AssertionError: <N> != <N>'], runs: [{ repo: 'a/b', run_id: 5, run_attempt: 1, job_id: 9 }] });
    expect(d.group.fingerprint).toBe('ff');
    expect(d.lines).toEqual(['E   AssertionError: <N> != <N>']);
    expect(d.runs[0]).toMatchObject({ repo: 'a/b', runId: 5, jobId: 9 });
  });
});
