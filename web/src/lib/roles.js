// Who may do what in the dashboard, from the signed-in user's role (GET /api/v1/session) or, in
// the pasted-token mode, from the saved admin token. The collector checks every request anyway;
// this only decides which controls the page shows.
export const ROLES = ['viewer', 'maintainer', 'admin'];

const RANK = { viewer: 1, maintainer: 2, admin: 3 };

/**
 * {role, via, canManageAlerts, isAdmin, hideWrites}. `via` is "session", "token" or null (no
 * one known: reads with the read token or none). A signed-in user's controls beyond their role
 * are hidden (`hideWrites`); without a session the alerting page keeps showing them disabled,
 * with the admin token form, as before sign-in existed.
 */
export function accessOf({ user, adminToken } = {}) {
  let role = null;
  let via = null;
  if (adminToken) {
    role = 'admin';
    via = 'token';
  } else if (user && RANK[user.role]) {
    role = user.role;
    via = 'session';
  }
  const rank = RANK[role] || 0;
  return {
    role,
    via,
    canManageAlerts: rank >= RANK.maintainer,
    isAdmin: rank >= RANK.admin,
    signedIn: !!(user && user.username),
    hideWrites: via === 'session' && rank < RANK.maintainer,
  };
}

/** `next` (after signing in) when it is a path of this app, never another origin; else "/". */
export function safeNext(next) {
  return typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/';
}
