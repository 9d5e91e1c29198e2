#!/usr/bin/env bash
# Builds the web dashboard into web/dist (served by the collector: CIPULSE_WEB_DIR=$PWD/web/dist).
#
#   scripts/build-web.sh          npm ci when node_modules is not current, then vite build when
#                                 a source is newer than web/dist
#   scripts/build-web.sh --force  always reinstall and rebuild
#
# Idempotent and quiet when there is nothing to do. Needs Node.js 20+ and npm (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../web"

force=0
[ "${1:-}" = "--force" ] && force=1

command -v npm >/dev/null 2>&1 || { echo "build-web: npm not found (scripts/deps.sh installs it)" >&2; exit 1; }

# node_modules is current when it was installed from exactly this lock file.
stamp=node_modules/.cipulse-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$force" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "build-web: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

# Rebuild only when something that goes into the bundle changed since the last build.
if [ "$force" = 0 ] && [ -f dist/index.html ] &&
   [ -z "$(find src public index.html vite.config.js package-lock.json -newer dist/index.html -print -quit 2>/dev/null)" ]; then
  echo "build-web: web/dist is up to date"
  exit 0
fi
echo "build-web: vite build"
npx --no-install vite build --logLevel warn
echo "build-web: built $(cd dist && find . -type f | wc -l) files into web/dist"
