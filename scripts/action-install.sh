#!/usr/bin/env bash
# Puts cipulse-agent on PATH for the rest of a job; called by action.yml.
#
# A published release is preferred: the package for this runner's OS/arch is downloaded, its
# SHA-256 checked against the published checksum file (a mismatch is an error, never ignored),
# and it is kept in the runner's tool cache so later jobs on the runner skip the download.
# Without a release for this version (or with version "source"), the agent is built from the
# action's own source with the runner's compiler.
#
# Environment (set by action.yml from its inputs and GitHub's variables):
#   CIPULSE_VERSION      release tag (v1.2.3), or "source"
#   CIPULSE_RELEASE_URL  base URL of the release's assets (default: GitHub releases of the action)
#   CIPULSE_SOURCE_DIR   the action's checkout (GITHUB_ACTION_PATH)
#   RUNNER_TOOL_CACHE, RUNNER_TEMP, RUNNER_OS, RUNNER_ARCH, GITHUB_PATH, GITHUB_OUTPUT
set -euo pipefail

version=${CIPULSE_VERSION:-source}
src=${CIPULSE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cache_root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}/tool-cache}
case "${RUNNER_OS:-$(uname -s)}" in
  Linux|linux) os=linux ;;
  macOS|Darwin) os=darwin ;;
  *) echo "::error::cipulse: unsupported runner OS ${RUNNER_OS:-}"; exit 1 ;;
esac
case "${RUNNER_ARCH:-$(uname -m)}" in
  X64|x86_64) arch=x64 ;;
  ARM64|aarch64|arm64) arch=arm64 ;;
  *) echo "::error::cipulse: unsupported runner architecture ${RUNNER_ARCH:-}"; exit 1 ;;
esac
asset=cipulse-agent-$os-$arch.tar.gz
dir=$cache_root/cipulse-agent/$version/$arch

publish() {
  [ -n "${GITHUB_PATH:-}" ] && echo "$1" >> "$GITHUB_PATH"
  [ -n "${GITHUB_OUTPUT:-}" ] && echo "agent=$1/cipulse-agent" >> "$GITHUB_OUTPUT"
  echo "cipulse: using $1/cipulse-agent ($2)"
}

# The tool cache's convention: a "<dir>.complete" marker once the directory is whole.
if [ "$version" != source ] && [ -f "$dir.complete" ] && [ -x "$dir/cipulse-agent/cipulse-agent" ]; then
  publish "$dir/cipulse-agent" "cached $version"
  exit 0
fi

if [ "$version" != source ]; then
  base=${CIPULSE_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/${CIPULSE_ACTION_REPOSITORY:-cipulse/cipulse}/releases/download/$version}
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
  echo "cipulse: no $asset published for $version; building from source"
fi

# From source: the build needs gRPC, protobuf-c, libcurl and jansson headers.
pkgs="build-essential pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev libjansson-dev"
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
