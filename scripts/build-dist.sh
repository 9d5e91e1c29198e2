#!/usr/bin/env bash
# Builds everything cipulse ships into one tree, the same way everywhere: the container image's
# build stage (deploy/docker/Dockerfile.collector) runs exactly this, the release workflow
# builds the image from that Dockerfile, and tests/integration/test_images.py runs it here.
#
#   scripts/build-dist.sh DESTDIR
#
# DESTDIR receives:
#   usr/local/bin/cipulsed                         the collector (make, BUILD=build-release)
#   usr/share/cipulse/web/                         the dashboard (scripts/build-web.sh)
#   usr/share/cipulse/sql/                         the migrations (also embedded in cipulsed)
#   usr/share/cipulse/agent/cipulse-agent-<os>-<arch>.tar.gz[.sha256]
#                                                  the agent package (scripts/release-build.sh)
#
# Needs the Debian build packages (scripts/deps.sh) and Node.js 20+ with npm.
# JOBS (default: all cores) and BUILD (default build-release) can be set from outside.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:?usage: scripts/build-dist.sh DESTDIR}
case "$dest" in /*) ;; *) dest=$PWD/$dest ;; esac
export BUILD=${BUILD:-build-release}
jobs=${JOBS:-$(nproc)}

echo "build-dist: collector"
make -s -j"$jobs" BUILD="$BUILD" "$BUILD/cipulsed"

echo "build-dist: agent package"
agent_out=$(mktemp -d)
trap 'rm -rf "$agent_out"' EXIT
scripts/release-build.sh "$agent_out"

echo "build-dist: web app"
scripts/build-web.sh

install -d "$dest/usr/local/bin" "$dest/usr/share/cipulse/web" "$dest/usr/share/cipulse/sql" \
  "$dest/usr/share/cipulse/agent"
install -m 0755 "$BUILD/cipulsed" "$dest/usr/local/bin/cipulsed"
strip "$dest/usr/local/bin/cipulsed"
cp -R web/dist/. "$dest/usr/share/cipulse/web/"
install -m 0644 sql/[0-9]*.sql "$dest/usr/share/cipulse/sql/"
install -m 0644 "$agent_out"/cipulse-agent-*.tar.gz* "$dest/usr/share/cipulse/agent/"

# What was built must run: the collector answers --version, the dashboard has its index.
"$dest/usr/local/bin/cipulsed" --version
test -f "$dest/usr/share/cipulse/web/index.html"
echo "build-dist: done in $dest"
