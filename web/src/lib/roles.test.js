import { describe, expect, it } from 'vitest';
import { accessOf, safeNext } from './roles.js';

describe('roles', () => {
  it('shows a signed-in viewer no write controls', () => {
    const a = accessOf({ user: { username: 'v', role: 'viewer' } });
    expect(a).toMatchObject({ role: 'viewer', via: 'session', canManageAlerts: false, isAdmin: false, signedIn: true, hideWrites: true });
  });

  it('lets a maintainer manage alerting but not accounts', () => {
    expect(accessOf({ user: { username: 'm', role: 'maintainer' } })).toMatchObject({ canManageAlerts: true, isAdmin: false, hideWrites: false });
  });

  it('treats an admin, and the pasted admin token, as admin', () => {
    expect(accessOf({ user: { username: 'a', role: 'admin' } })).toMatchObject({ isAdmin: true, via: 'session' });
    expect(accessOf({ user: { username: 'v', role: 'viewer' } , adminToken: 't' })).toMatchObject({ isAdmin: true, via: 'token', hideWrites: false });
  });

  it('keeps the token mode when nobody is signed in: controls shown, disabled', () => {
    expect(accessOf({})).toMatchObject({ role: null, via: null, canManageAlerts: false, signedIn: false, hideWrites: false });
    expect(accessOf({ user: { username: 'x', role: 'root' } })).toMatchObject({ role: null, canManageAlerts: false });
  });

  it('goes back only to paths of this app after signing in', () => {
    expect(safeNext('/alerts?state=open')).toBe('/alerts?state=open');
    expect(safeNext('//evil.example/x')).toBe('/');
    expect(safeNext('/\\evil.example')).toBe('/');
    expect(safeNext('https://evil.example/')).toBe('/');
    expect(safeNext(undefined)).toBe('/');
  });
});
