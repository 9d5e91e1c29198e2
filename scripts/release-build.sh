#!/usr/bin/env bash
# Builds the release package of cipulse-agent for this machine's OS/arch:
#   dist/cipulse-agent-<os>-<arch>.tar.gz      cipulse-agent/{cipulse-agent,lib/*.so*}
#   dist/cipulse-agent-<os>-<arch>.tar.gz.sha256
#
# Why not one static binary: Debian's libcurl.a needs static builds of nghttp2, libpsl, zstd,
# libssh2, librtmp, OpenLDAP and Kerberos, which Debian does not ship. So the package is
# self-contained instead: gRPC, abseil, protobuf-c and jansson are linked in (the Makefile's
# AGENT_STATIC, when their static libraries are installed), and the binary finds the
# shared libraries it still needs (libcurl, loaded for GitHub API calls through a proxy, and its
# dependencies; OpenSSL;
# gRPC and jansson too without AGENT_STATIC) in lib/ next to it (RPATH
# $ORIGIN/lib); only glibc comes from the system, and the script checks that no file needs a
# glibc newer than MAX_GLIBC (2.35: Ubuntu 22.04, the oldest GitHub-hosted Ubuntu runner).
#
#   scripts/release-build.sh [OUT_DIR]     (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
MAX_GLIBC=${MAX_GLIBC:-2.35}
BUILD=${BUILD:-build-release}

os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
name=cipulse-agent-$os-$arch

# DT_RPATH (--disable-new-dtags), unlike DT_RUNPATH, also applies to the libraries' own
# dependencies (libcurl -> libnghttp2, ...), so the whole tree is found in lib/.
rm -f "$BUILD/cipulse-agent"
make -s BUILD="$BUILD" CFLAGS="-O2 -g0" \
  LDFLAGS='-Wl,-rpath,\$$ORIGIN/lib -Wl,--disable-new-dtags -Wl,--as-needed' \
  "$BUILD/cipulse-agent" >/dev/null

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/cipulse-agent/lib" "$out"
install -m 0755 "$BUILD/cipulse-agent" "$stage/cipulse-agent/cipulse-agent"
strip "$stage/cipulse-agent/cipulse-agent"

# Every shared library the binary loads, except glibc's own and the C++ runtime (every Ubuntu
# runner has those; Debian's libstdc++ would pull in a glibc newer than Ubuntu 22.04's).
is_glibc() {
  case "$(basename "$1")" in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libresolv.so.*) return 0 ;;
    libstdc++.so.*|libgcc_s.so.*) return 0 ;;
  esac
  return 1
}
# libcurl is loaded when the GitHub API is first called (dlopen, agent/github.c), so ldd does
# not list it: it and its dependencies are bundled too.
curl_lib=$(${CC:-cc} -print-file-name=libcurl.so.4)
[ -f "$curl_lib" ] || { echo "release-build: libcurl.so.4 not found" >&2; exit 1; }
{ echo "$curl_lib"; ldd "$curl_lib" "$BUILD/cipulse-agent" | awk '/=> \// {print $3}'; } |
  sort -u | while read -r lib; do
  is_glibc "$lib" && continue
  cp -L "$lib" "$stage/cipulse-agent/lib/"
done
strip --strip-unneeded "$stage"/cipulse-agent/lib/*.so* 2>/dev/null || true

# Every library but glibc and the C++ runtime must resolve inside the package.
outside=$(LD_TRACE_LOADED_OBJECTS=1 "$stage/cipulse-agent/cipulse-agent" | awk '/=> \// {print $3}' |
  while read -r lib; do is_glibc "$lib" || case "$lib" in "$stage"/*) ;; *) echo "$lib" ;; esac; done)
if [ -n "$outside" ]; then
  echo "release-build: libraries resolved outside the package: $outside" >&2
  exit 1
fi
# The same for what the agent loads later: a report whose GitHub API call loads libcurl (only
# calls through a proxy need it: http_proxy; the API, the proxy and the collector unreachable
# at once, the report spooled into a throwaway directory); the dynamic loader names each
# library it initialises.
probe=$(mktemp -d)
loaded=$(env -i GITHUB_REPOSITORY=o/r GITHUB_RUN_ID=1 GITHUB_API_URL=http://127.0.0.1:1 \
  http_proxy=http://127.0.0.1:1 no_proxy=127.0.0.1 \
  CIPULSE_COLLECTOR=127.0.0.1:1 CIPULSE_TIME_BUDGET=0s CIPULSE_SEND_BUDGET=0s \
  CIPULSE_SPOOL_DIR="$probe" CIPULSE_LOG_LEVEL=error LD_DEBUG=libs \
  "$stage/cipulse-agent/cipulse-agent" report 2>&1 >/dev/null | awk '/calling init: \// {print $NF}')
rm -rf "$probe"
echo "$loaded" | grep -q '/libcurl\.so\.4$' || {
  echo "release-build: the packaged agent did not load libcurl: $loaded" >&2; exit 1; }
outside=$(echo "$loaded" | while read -r lib; do
  is_glibc "$lib" || case "$lib" in "$stage"/*) ;; *) echo "$lib" ;; esac; done)
if [ -n "$outside" ]; then
  echo "release-build: libraries loaded from outside the package: $outside" >&2
  exit 1
fi

# Portability check: the newest glibc symbol version any file needs.
need=$(for f in "$stage"/cipulse-agent/cipulse-agent "$stage"/cipulse-agent/lib/*; do
         objdump -T "$f" | awk '/GLIBC_[0-9]/ && !/\*ABS\*/ {print}' | grep -o 'GLIBC_[0-9.]*' || true
       done | sed 's/GLIBC_//' | sort -uV | tail -1)
if [ "$(printf '%s\n%s\n' "$need" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
  echo "release-build: needs glibc $need, newer than $MAX_GLIBC" >&2
  exit 1
fi

# And no newer C++ runtime than Ubuntu 22.04's (GCC 12: GLIBCXX_3.4.30).
MAX_GLIBCXX=${MAX_GLIBCXX:-3.4.30}
needxx=$(for f in "$stage"/cipulse-agent/cipulse-agent "$stage"/cipulse-agent/lib/*; do
           objdump -T "$f" | grep -o '(GLIBCXX_[0-9.]*)' || true
         done | tr -d '()' | sed 's/GLIBCXX_//' | sort -uV | tail -1)
if [ -n "$needxx" ] && [ "$(printf '%s\n%s\n' "$needxx" "$MAX_GLIBCXX" | sort -V | tail -1)" != "$MAX_GLIBCXX" ]; then
  echo "release-build: needs libstdc++ GLIBCXX_$needxx, newer than $MAX_GLIBCXX" >&2
  exit 1
fi

# The package must run from its own directory with no dev packages: check it does.
"$stage/cipulse-agent/cipulse-agent" --help >/dev/null

tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" cipulse-agent
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
bin_size=$(stat -c %s "$stage/cipulse-agent/cipulse-agent")
pkg_size=$(du -sb "$stage/cipulse-agent" | cut -f1)
tar_size=$(stat -c %s "$out/$name.tar.gz")
nlibs=$(ls "$stage/cipulse-agent/lib" | wc -l)
echo "release-build: $out/$name.tar.gz"
echo "  binary ${bin_size} bytes; with $nlibs bundled libraries ${pkg_size} bytes; archive ${tar_size} bytes"
echo "  needs from the system: glibc >= $need, libstdc++ GLIBCXX_${needxx:-none}, libgcc_s"
