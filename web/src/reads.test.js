import { describe, expect, it } from 'vitest';
import { apiPath, firstReads, matchPath, reads, repoPath, workflowWindow } from './reads.js';

describe('reads', () => {
  it('builds API paths without empty parameters', () => {
    expect(apiPath('/repos', { limit: 50, cursor: null })).toBe('/api/v1/repos?limit=50');
    expect(apiPath('/metrics', { repo: 'a/b', branch: '' })).toBe('/api/v1/metrics?repo=a%2Fb');
    expect(repoPath('o w/n?x')).toBe('o%20w/n%3Fx');
  });

  it('matches route patterns segment by segment', () => {
    expect(matchPath('/runs/:runId', '/runs/42/')).toEqual({ runId: '42' });
    expect(matchPath('/runs/:runId', '/runs/42/x')).toBeNull();
    expect(matchPath('/repos/:owner/:name', '/repos/a%20b/c')).toEqual({ owner: 'a b', name: 'c' });
    expect(matchPath('/repos/:owner/:name', '/repos/%E0%A4%A/c')).toBeNull();
  });

  it('an unknown workflow window is 7 days', () => {
    expect(workflowWindow({ window: '30d' })).toBe('30d');
    expect(workflowWindow({ window: '1y' })).toBe('7d');
    expect(workflowWindow({})).toBe('7d');
  });

  // The early start must ask for exactly what the pages ask for, or its answers go unused.
  it('the first reads of the overview, a workflow and a run are the pages\' own addresses', () => {
    expect(firstReads('/', '')).toEqual(['/api/v1/repos?limit=50', '/api/v1/alerts?state=open&limit=100']);
    expect(firstReads('/', '')).toEqual([reads.repos(null), reads.openAlerts()]);
    expect(firstReads('/repos/org%201/r/workflows/101', '?window=30d&branch=main')).toEqual([
      '/api/v1/repos/org%201/r/workflows?limit=100',
      '/api/v1/metrics?repo=org+1%2Fr&workflow=101&window=30d&branch=main',
      '/api/v1/repos/org%201/r/runs?workflow=101&branch=main&limit=10',
    ]);
    expect(firstReads('/repos/o/r/workflows/7', '?window=bad')).toEqual([
      '/api/v1/repos/o/r/workflows?limit=100',
      '/api/v1/metrics?repo=o%2Fr&workflow=7&window=7d',
      '/api/v1/repos/o/r/runs?workflow=7&limit=10',
    ]);
    // The run with the failed jobs' steps only; the job asked for (job=5) is not a filter here.
    expect(firstReads('/runs/12', '?attempt=2&job=5')).toEqual(['/api/v1/runs/12?attempt=2&steps=failed']);
    expect(firstReads('/runs/12', '')).toEqual(['/api/v1/runs/12?steps=failed']);
  });

  it("a job's steps are read with the run's address, that job alone", () => {
    expect(reads.runJob(12, 2, 77)).toBe('/api/v1/runs/12?attempt=2&job=77');
  });

  it('other pages start nothing early', () => {
    for (const p of ['/alerts', '/search', '/repos/o/r', '/tests', '/signin', '/users', '/nowhere']) expect(firstReads(p, '')).toEqual([]);
  });
});
