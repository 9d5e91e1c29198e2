#!/usr/bin/env bash
# Puts cipulse-agent on PATH for the rest of a job; called by action.yml.
#
# A published release is preferred: the package for this runner's OS/arch is downloaded, its
# SHA-256 checked against the published checksum file (a mismatch is an error, never ignored),
# and it is kept in the runner's tool cache so later jobs on the runner skip the download.
# Without a release for this version (or with version "source"), the agent is built from the
# action's own source with the runner's compiler (Linux only).
#
# Which release: a tag (v1.2.3) names it. An action pinned by commit SHA
# (uses: cipulse/cipulse@<sha>) uses the release whose tag points at that commit, looked up with
# `git ls-remote --tags` on the action's repository; any other commit, or a branch, is built
# from source.
#
# On Windows and macOS runners (and any OS or architecture without a build) the agent is used
# when a release package exists for the platform; otherwise the script warns and exits 0 with
# an empty `agent` output, and action.yml skips the report: cipulse never fails the user's job
# for want of a build (the poller still records the run from the GitHub API).
#
# Environment (set by action.yml from its inputs and GitHub's variables):
#   CIPULSE_VERSION      release tag (v1.2.3), a commit SHA, a branch, or "source"
#   CIPULSE_RELEASE_URL  base URL of the release's assets (default: GitHub releases of the action)
#   CIPULSE_ACTION_GIT_URL  the action's git repository (default: GITHUB_SERVER_URL/REPOSITORY)
#   CIPULSE_SOURCE_DIR   the action's checkout (GITHUB_ACTION_PATH)
#   RUNNER_TOOL_CACHE, RUNNER_TEMP, RUNNER_OS, RUNNER_ARCH, GITHUB_PATH, GITHUB_OUTPUT
set -euo pipefail

version=${CIPULSE_VERSION:-source}
src=${CIPULSE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cache_root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}/tool-cache}
repository=${CIPULSE_ACTION_REPOSITORY:-cipulse/cipulse}

# No build for this platform: say so and let the job go on.
no_build() {
  echo "::warning::cipulse: $1; this job is not reported by the agent (the collector's GitHub poller still records the run)"
  [ -n "${GITHUB_OUTPUT:-}" ] && echo "agent=" >> "$GITHUB_OUTPUT"
  exit 0
}

case "${RUNNER_OS:-$(uname -s)}" in
  Linux|linux) os=linux ;;
  macOS|Darwin) os=darwin ;;
  Windows|MINGW*|MSYS*|CYGWIN*) os=windows ;;
  *) no_build "no cipulse-agent build for the runner OS ${RUNNER_OS:-$(uname -s)}" ;;
esac
case "${RUNNER_ARCH:-$(uname -m)}" in
  X64|x86_64|AMD64) arch=x64 ;;
  ARM64|aarch64|arm64) arch=arm64 ;;
  *) no_build "no cipulse-agent build for the runner architecture ${RUNNER_ARCH:-$(uname -m)}" ;;
esac
exe=cipulse-agent
[ "$os" = windows ] && exe=cipulse-agent.exe

# A commit SHA: the release tagged on exactly that commit, if any (highest version first).
if [[ "$version" =~ ^[0-9a-f]{40}$ ]]; then
  sha=$version
  version=source
  git_url=${CIPULSE_ACTION_GIT_URL:-${GITHUB_SERVER_URL:-https://github.com}/$repository}
  if tags=$(git ls-remote --tags "$git_url" 2>/dev/null); then
    # "<sha>\trefs/tags/v1.2.3" (lightweight) or "<sha>\trefs/tags/v1.2.3^{}" (annotated, peeled)
    tag=$(awk -v sha="$sha" '$1 == sha { t = $2; sub("^refs/tags/", "", t); sub("\\^\\{\\}$", "", t); print t }' \
            <<<"$tags" | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1 || true)
    if [ -n "$tag" ]; then
      version=$tag
      echo "cipulse: commit $sha is release $tag"
    else
      echo "cipulse: commit $sha is not a release's commit"
    fi
  else
    echo "cipulse: could not list the tags of $git_url"
  fi
elif [[ ! "$version" =~ ^v[0-9] ]]; then
  version=source  # a branch: only its source says what it is
fi

asset=cipulse-agent-$os-$arch.tar.gz
dir=$cache_root/cipulse-agent/$version/$os-$arch

publish() {
  [ -n "${GITHUB_PATH:-}" ] && echo "$1" >> "$GITHUB_PATH"
  [ -n "${GITHUB_OUTPUT:-}" ] && echo "agent=$1/$exe" >> "$GITHUB_OUTPUT"
  echo "cipulse: using $1/$exe ($2)"
}

# The tool cache's convention: a "<dir>.complete" marker once the directory is whole.
if [ "$version" != source ] && [ -f "$dir.complete" ] && [ -x "$dir/cipulse-agent/$exe" ]; then
  publish "$dir/cipulse-agent" "cached $version"
  exit 0
fi

if [ "$version" != source ]; then
  base=${CIPULSE_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/$repository/releases/download/$version}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if curl -fsSL --retry 3 -o "$tmp/$asset" "$base/$asset" &&
     curl -fsSL --retry 3 -o "$tmp/$asset.sha256" "$base/$asset.sha256"; then
    want=$(awk '{print $1; exit}' "$tmp/$asset.sha256")
    got=$(sha256sum "$tmp/$asset" | awk '{print $1}')
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
      echo "::error::cipulse: checksum mismatch for $asset (want ${want:-none}, got $got)"
      exit 1
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -C "$dir" -xzf "$tmp/$asset"
    touch "$dir.complete"
    publish "$dir/cipulse-agent" "release $version"
    exit 0
  fi
  [ "$os" = linux ] || no_build "no $asset published for $version"
  echo "cipulse: no $asset published for $version; building from source"
fi
[ "$os" = linux ] || no_build "no cipulse-agent build for $os-$arch at ${CIPULSE_VERSION:-source} (only Linux builds from source)"

# From source: the build needs gRPC, protobuf-c, libcurl and jansson headers.
pkgs="build-essential pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev libjansson-dev libexpat1-dev"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
build=${RUNNER_TEMP:-/tmp}/cipulse-agent-build
make -s -C "$src" BUILD="$build" "$build/cipulse-agent" >/dev/null
out=${RUNNER_TEMP:-/tmp}/cipulse-agent-bin
mkdir -p "$out"
install -m 0755 "$build/cipulse-agent" "$out/cipulse-agent"
publish "$out" "built from source"
