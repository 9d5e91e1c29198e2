#!/usr/bin/env bash
# Installs cipulsed as a systemd service from a source tree (after `make all` and
# `scripts/build-web.sh`); CIPULSED_BINARY and CIPULSE_WEB_DIST name other builds:
#
#   sudo deploy/systemd/install.sh [--prefix /usr/local] [--start]
#
#   PREFIX/bin/cipulsed                    the collector
#   PREFIX/share/cipulse/web/              the web dashboard (web/dist), CIPULSE_WEB_DIR
#   /etc/systemd/system/cipulsed.service   the hardened unit (ExecStart follows --prefix)
#   /etc/cipulse/cipulsed.env              settings (mode 0600, owned by root: it holds the
#                                          secrets; a random admin token); written once, never
#                                          overwritten
# Then edit /etc/cipulse/cipulsed.env (database URL, GitHub token, ...) and run
#   systemctl enable --now cipulsed
# (--start enables and restarts it when the env file already existed). Idempotent; DESTDIR works as
# with make install (then nothing is started). The runner hook is deploy/runner/install.sh.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "install.sh: $*" >&2; exit 1; }

prefix=/usr/local start=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?}; shift 2 ;;
    --start) start=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path" ;; esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
destdir=${DESTDIR:-}

# What to install: a source tree's build, or a release archive's layout.
binary=${CIPULSED_BINARY:-}
web=${CIPULSE_WEB_DIST:-}
for b in "$binary" "$root/build/cipulsed" "$root/bin/cipulsed"; do
  [ -n "$b" ] && [ -x "$b" ] && { binary=$b; break; }
done
for w in "$web" "$root/web/dist"; do
  [ -n "$w" ] && [ -f "$w/index.html" ] && { web=$w; break; }
done
[ -n "$binary" ] && [ -x "$binary" ] || \
  die "no cipulsed binary: run 'make all' first (or set CIPULSED_BINARY)"
[ -n "$web" ] && [ -f "$web/index.html" ] || \
  die "no built web app: run 'scripts/build-web.sh' first (or set CIPULSE_WEB_DIST)"
"$binary" version >/dev/null || die "$binary does not run on this machine"

bindir="$destdir$prefix/bin"
webdir="$prefix/share/cipulse/web"
unitdir="$destdir/etc/systemd/system"
etcdir="$destdir/etc/cipulse"

install -d -m 0755 "$bindir" "$unitdir" "$destdir$webdir"
install -m 0755 "$binary" "$bindir/cipulsed"
# Replace the web app as a whole, so no file of an older build lingers.
rm -rf "$destdir$webdir.new"
cp -R "$web" "$destdir$webdir.new"
chmod -R u=rwX,go=rX "$destdir$webdir.new"
rm -rf "$destdir$webdir"
mv "$destdir$webdir.new" "$destdir$webdir"

sed -e "s#^ExecStart=/usr/local/bin/cipulsed #ExecStart=$prefix/bin/cipulsed #" \
  "$here/cipulsed.service" > "$unitdir/cipulsed.service.tmp"
chmod 0644 "$unitdir/cipulsed.service.tmp"
mv "$unitdir/cipulsed.service.tmp" "$unitdir/cipulsed.service"

install -d -m 0755 "$etcdir"
env_existed=1
if [ ! -e "$etcdir/cipulsed.env" ]; then
  env_existed=0
  umask 077
  # A fresh admin token, never a placeholder that would work.
  admin_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  sed -e "s#^CIPULSE_WEB_DIR=.*#CIPULSE_WEB_DIR=$webdir#" \
    -e "s#^CIPULSE_ADMIN_TOKEN=.*#CIPULSE_ADMIN_TOKEN=$admin_token#" \
    "$here/cipulsed.env" > "$etcdir/cipulsed.env"
  chmod 0600 "$etcdir/cipulsed.env"
fi

echo "installed $("$bindir/cipulsed" version) to $bindir, the web app to $destdir$webdir"
if [ -n "$destdir" ] || ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
  echo "not started (DESTDIR set or no systemd running)"
  exit 0
fi
systemctl daemon-reload
if [ "$env_existed" = 0 ]; then
  echo "edit /etc/cipulse/cipulsed.env (database URL, ...), then: systemctl enable --now cipulsed"
elif [ "$start" = 1 ]; then
  systemctl enable cipulsed
  systemctl restart cipulsed
else
  echo "to (re)start: systemctl restart cipulsed"
fi
