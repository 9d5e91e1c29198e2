#!/usr/bin/env bash
# Installs cipulse-agent on a self-hosted GitHub Actions runner as its job-completed hook, so
# that every job the runner finishes is reported, with no change to any workflow.
#
#   install.sh --runner-dir DIR --collector HOST:PORT --token TOKEN
#              [--binary PATH | --package FILE.tar.gz | --version vX.Y.Z [--release-url URL]]
#              [--github-token TOKEN] [--tls]
#   install.sh --runner-dir DIR --uninstall [--purge]
#
# What it does (idempotent: running it again gives the same result):
#   DIR/cipulse/bin/cipulse-agent     the agent (a local build, or a release package)
#   DIR/cipulse/agent.env             its settings (mode 0600: it holds the tokens)
#   DIR/cipulse/job-completed.sh      the hook; runs a hook set before cipulse, then the agent
#   DIR/.env                          ACTIONS_RUNNER_HOOK_JOB_COMPLETED=DIR/cipulse/job-completed.sh
# The runner reads .env when it starts: restart the runner service afterwards.
# --uninstall restores the previous hook (if any) and removes DIR/cipulse (the spool only with
# --purge).
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "install.sh: $*" >&2; exit 1; }

runner_dir="" collector="" token="" binary="" package="" version="" release_url=""
github_token="" tls=0 uninstall=0 purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runner-dir) runner_dir=${2:?}; shift 2 ;;
    --collector) collector=${2:?}; shift 2 ;;
    --token) token=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    --package) package=${2:?}; shift 2 ;;
    --version) version=${2:?}; shift 2 ;;
    --release-url) release_url=${2:?}; shift 2 ;;
    --github-token) github_token=${2:?}; shift 2 ;;
    --tls) tls=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown argument $1" >&2; usage ;;
  esac
done

[ -n "$runner_dir" ] || die "--runner-dir is required"
runner_dir=$(cd "$runner_dir" 2>/dev/null && pwd) || die "no such directory: $runner_dir"
# A runner install has these; refuse to write into something else.
[ -f "$runner_dir/config.sh" ] && [ -f "$runner_dir/run.sh" ] ||
  die "$runner_dir does not look like a runner install (no config.sh/run.sh)"

home=$runner_dir/cipulse
hook=$home/job-completed.sh
envfile=$runner_dir/.env
key=ACTIONS_RUNNER_HOOK_JOB_COMPLETED

# The value of KEY in .env, or nothing.
current_hook() { [ -f "$envfile" ] && sed -n "s/^$key=//p" "$envfile" | tail -1 || true; }

# Writes .env without any KEY line, plus KEY=$1 when given; atomically, keeping the mode.
set_hook() {
  local tmp
  tmp=$(mktemp "$runner_dir/.env.XXXXXX")
  [ -f "$envfile" ] && { grep -v "^$key=" "$envfile" || true; } > "$tmp"
  [ -n "$1" ] && echo "$key=$1" >> "$tmp"
  [ -f "$envfile" ] && chmod --reference="$envfile" "$tmp"
  mv "$tmp" "$envfile"
}

if [ "$uninstall" = 1 ]; then
  previous=""
  [ -f "$home/previous-hook" ] && previous=$(cat "$home/previous-hook")
  if [ "$(current_hook)" = "$hook" ]; then
    set_hook "$previous"
  fi
  if [ "$purge" = 1 ]; then
    rm -rf "$home"
  else
    find "$home" -mindepth 1 -maxdepth 1 ! -name spool -exec rm -rf {} + 2>/dev/null || true
    rmdir "$home" 2>/dev/null || true
  fi
  echo "cipulse: uninstalled from $runner_dir; restart the runner service"
  exit 0
fi

[ -n "$collector" ] || die "--collector is required"
mkdir -p "$home/bin" "$home/spool"
chmod 0700 "$home"

# The agent: a local build, a release package (checksum checked), or a release download.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$version" ] && [ -z "$package" ] && [ -z "$binary" ]; then
  arch=$(uname -m); case "$arch" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; esac
  asset=cipulse-agent-linux-$arch.tar.gz
  base=${release_url:-https://github.com/cipulse/cipulse/releases/download/$version}
  curl -fsSL -o "$tmp/$asset" "$base/$asset" || die "could not download $base/$asset"
  curl -fsSL -o "$tmp/$asset.sha256" "$base/$asset.sha256" || die "could not download the checksum"
  package=$tmp/$asset
fi
if [ -n "$package" ]; then
  if [ -f "$package.sha256" ]; then
    want=$(awk '{print $1; exit}' "$package.sha256")
    [ "$want" = "$(sha256sum "$package" | awk '{print $1}')" ] || die "checksum mismatch for $package"
  fi
  tar -C "$tmp" -xzf "$package"
  rm -rf "$home/bin"
  mkdir -p "$home/bin"
  cp -R "$tmp/cipulse-agent/." "$home/bin/"
elif [ -n "$binary" ]; then
  [ -x "$binary" ] || die "not an executable: $binary"
  install -m 0755 "$binary" "$home/bin/cipulse-agent.new"
  mv "$home/bin/cipulse-agent.new" "$home/bin/cipulse-agent"
elif [ ! -x "$home/bin/cipulse-agent" ]; then
  die "give --binary, --package or --version"
fi
"$home/bin/cipulse-agent" --help >/dev/null || die "the installed agent does not run"

# Settings, quoted for the shell; the file holds tokens, so only the owner may read it.
(
  umask 077
  {
    printf 'CIPULSE_COLLECTOR=%q\n' "$collector"
    printf 'CIPULSE_TOKEN=%q\n' "$token"
    printf 'CIPULSE_TLS=%q\n' "$tls"
    printf 'CIPULSE_SPOOL_DIR=%q\n' "$home/spool"
    [ -n "$github_token" ] && printf 'CIPULSE_GITHUB_TOKEN=%q\n' "$github_token"
    true
  } > "$home/agent.env.new"
  mv "$home/agent.env.new" "$home/agent.env"
)

# Keep a hook that was there before cipulse, and run it first.
existing=$(current_hook)
if [ -n "$existing" ] && [ "$existing" != "$hook" ]; then
  printf '%s\n' "$existing" > "$home/previous-hook"
fi

cat > "$hook.new" <<'HOOK'
#!/usr/bin/env bash
# cipulse job-completed hook (written by deploy/runner/install.sh; edits are overwritten).
# Reports the job that just finished. Never fails the job: the agent spools what it cannot send.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
status=0
if [ -f "$here/previous-hook" ]; then
  previous=$(cat "$here/previous-hook")
  [ -x "$previous" ] && { "$previous" || status=$?; }
fi
set -a
# shellcheck disable=SC1091
. "$here/agent.env"
set +a
"$here/bin/cipulse-agent" hook || true
exit "$status"
HOOK
chmod 0755 "$hook.new"
mv "$hook.new" "$hook"
set_hook "$hook"
echo "cipulse: installed in $home; $key set in $envfile; restart the runner service"
