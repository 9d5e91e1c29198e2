import { describe, expect, it } from 'vitest';
import { normJob, normRepo, normRun, normRunDetail, normSearchHit, pooledSuccessRate, splitRepo } from './model.js';

describe('model', () => {
  it('pools success rates by the design definition', () => {
    const repos = [
      normRepo({ full_name: 'a/b', by_conclusion: { success: 8, failure: 1, cancelled: 5 } }),
      normRepo({ full_name: 'c/d', by_conclusion: { success: 1, timed_out: 1, skipped: 3 } }),
    ];
    expect(pooledSuccessRate(repos)).toBeCloseTo(9 / 11);
    expect(pooledSuccessRate([normRepo({ full_name: 'e/f', by_conclusion: { cancelled: 2 } })])).toBeNull();
    expect(pooledSuccessRate([])).toBeNull();
  });

  it('reads whether a repository is retired', () => {
    const r = normRepo({ full_name: 'a/b', retired: true, retired_at: '2024-05-01T10:00:00Z' });
    expect([r.retired, r.retiredAt]).toEqual([true, '2024-05-01T10:00:00Z']);
    expect([normRepo({ full_name: 'a/b', retired: false, retired_at: null }).retired, normRepo({ full_name: 'a/b' }).retired]).toEqual([false, false]);
  });

  it('reads runs, computing a duration only when the API has none', () => {
    const r = normRun({ run_id: 5, run_attempt: 2, run_started_at: '2024-01-01T00:00:00Z', completed_at: '2024-01-01T00:02:00Z', status: 'completed' });
    expect(r.runId).toBe(5);
    expect(r.attempt).toBe(2);
    expect(r.duration).toBe(120);
    expect(normRun({ run_id: 5, duration_s: 7 }).duration).toBe(7);
    expect(normRun(null)).toBeNull();
  });

  it('sorts steps and attempts', () => {
    const d = normRunDetail({
      run_id: 1, run_attempt: 2, repo: 'a/b',
      attempts: [{ run_attempt: 2 }, { run_attempt: 1 }],
      jobs: [{ job_id: 9, steps: [{ number: 2 }, { number: 1 }], has_logs: false }],
    });
    expect(d.repo).toBe('a/b');
    expect(d.attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(d.jobs[0].steps.map((s) => s.number)).toEqual([1, 2]);
    expect(d.jobs[0].hasLogs).toBe(false);
    expect(normJob({ job_id: 1 }).hasLogs).toBeNull();
  });

  it('tells steps left out of the answer (null) from none reported ([])', () => {
    expect(normJob({ job_id: 1 }).steps).toBeNull();
    expect(normJob({ job_id: 1, steps: [] }).steps).toEqual([]);
  });

  it('reads search hits with their lines', () => {
    const h = normSearchHit({ repo: 'a/b', job_id: 3, step_number: 4, run_id: 5, run_attempt: 1, lines: [{ line: 7, text: 'x' }] });
    expect(h.lines).toEqual([{ line: 7, text: 'x' }]);
    expect(normSearchHit({ lines: 'nope' }).lines).toEqual([]);
  });

  it('splits repository names', () => {
    expect(splitRepo('a/b')).toEqual(['a', 'b']);
    expect(splitRepo('nope')).toEqual([null, null]);
  });
});
