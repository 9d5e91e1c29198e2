#!/usr/bin/env bash
# `make fuzz FUZZ_SECONDS=N`: builds every libFuzzer target tests/fuzz/fuzz_NAME.c with clang
# (-fsanitize=fuzzer,address,undefined) into build-fuzz/ and runs each for N seconds.
#
#   scripts/fuzz.sh [SECONDS] [NAME...]     e.g. scripts/fuzz.sh 60 report
#   scripts/fuzz.sh --replay [NAME...]      runs each target once over its seed corpus and
#                                           fails on any crash (a step of scripts/test.sh)
#
# Each target links against the collector, agent and common sources compiled here with clang
# (as archives, so a target pulls in only what it uses). Corpus of NAME: build-fuzz/corpus/NAME,
# seeded from tests/fuzz/corpus/NAME/ (committed files) and tests/fuzz/seed-NAME.sh DIR (a
# generator), when they exist. Crashes are written to build-fuzz/crashes/NAME/; the script fails
# if any target finds one.
set -euo pipefail
cd "$(dirname "$0")/.."
replay=0
if [ "${1:-}" = --replay ]; then
  replay=1
  shift
  seconds=0
else
  seconds=${1:-20}
  shift || true
fi
out=build-fuzz
CC=${FUZZ_CC:-clang}
jobs=$(nproc 2>/dev/null || echo 2)

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (make deps)" >&2; exit 1; }

# Generated sources (protobuf-c, embedded migrations) come from the Makefile's own rules.
gen=(gen/cipulse/v1/report.pb-c.c gen/cipulse/v1/collector.pb-c.c gen/grpc/health/v1/health.pb-c.c
     gen/migrations.c)
make -s BUILD=$out "${gen[@]/#/$out/}"

# shellcheck disable=SC2207
pkg_cflags=($(pkg-config --cflags grpc libprotobuf-c libpq libcurl openssl libmicrohttpd jansson \
  2>/dev/null))
CFLAGS=(-g -O1 -std=c11 -fno-strict-aliasing -pthread -D_GNU_SOURCE -DCIPULSE_FUZZ
        -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
        -Icommon -Icollector -Iagent -I$out/gen "${pkg_cflags[@]}")
LIBS=(-lexpat -lgrpc -lgpr -lprotobuf-c -lpq -lcurl -lssl -lcrypto -lmicrohttpd -ljansson -lz -largon2 -lm -pthread)

# Compiles a list of sources into objects under $out/obj and archives them as $1.
archive() {
  local lib=$1
  shift
  local objs=() pids=() src obj
  for src in "$@"; do
    obj=$out/obj/${src%.c}.o
    mkdir -p "$(dirname "$obj")"
    objs+=("$obj")
    if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find common collector agent \
        -name '*.h' -newer "$obj" -print -quit)" ]; then
      "$CC" "${CFLAGS[@]}" -w -c -o "$obj" "$src" &
      pids+=($!)
      if [ "${#pids[@]}" -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
  rm -f "$lib"
  ar rcs "$lib" "${objs[@]}"
}

shopt -s nullglob
archive $out/libcollector.a $(ls collector/*.c collector/*/*.c | grep -v '^collector/main\.c$') $out/gen/migrations.c
archive $out/libagent.a $(ls agent/*.c 2>/dev/null | grep -v '^agent/main\.c$' || true)
archive $out/libcommon.a common/*.c $out/gen/cipulse/v1/*.pb-c.c $out/gen/grpc/health/v1/*.pb-c.c

targets=()
if [ $# -gt 0 ]; then
  for n in "$@"; do targets+=("tests/fuzz/fuzz_$n.c"); done
else
  targets=(tests/fuzz/fuzz_*.c)
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz: no targets in tests/fuzz/" >&2; exit 1; }

status=0
for src in "${targets[@]}"; do
  name=$(basename "$src" .c)
  name=${name#fuzz_}
  bin=$out/fuzz_$name
  "$CC" "${CFLAGS[@]/fuzzer-no-link/fuzzer}" -Werror -Wall -Wextra -Wno-unused-parameter \
    -o "$bin" "$src" $out/libcollector.a $out/libagent.a $out/libcommon.a "${LIBS[@]}"
  if [ "$replay" = 1 ]; then
    # The seeds only (committed files and the generator), each run once: libFuzzer runs the
    # files named on its command line and exits non-zero on the first crash or leak.
    seeds=$out/seeds/$name
    rm -rf "$seeds"
    mkdir -p "$seeds"
    if [ -d "tests/fuzz/corpus/$name" ]; then cp "tests/fuzz/corpus/$name"/* "$seeds"/ 2>/dev/null || true; fi
    if [ -x "tests/fuzz/seed-$name.sh" ]; then "tests/fuzz/seed-$name.sh" "$seeds"; fi
    files=("$seeds"/*)
    [ "${#files[@]}" -gt 0 ] || { echo "fuzz: $name has no seed inputs" >&2; status=1; continue; }
    if ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
        LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
        "$bin" -rss_limit_mb=2048 -timeout=10 "${files[@]}" >"$out/replay_$name.log" 2>&1; then
      echo "fuzz replay: $name, ${#files[@]} seed inputs: ok"
    else
      echo "fuzz replay: $name FAILED (log: $out/replay_$name.log)"
      tail -n 40 "$out/replay_$name.log"
      status=1
    fi
    continue
  fi
  echo "=== fuzz: $name (${seconds}s) ==="
  corpus=$out/corpus/$name
  crashes=$out/crashes/$name
  mkdir -p "$corpus" "$crashes"
  if [ -d "tests/fuzz/corpus/$name" ]; then cp -n "tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true; fi
  if [ -x "tests/fuzz/seed-$name.sh" ]; then "tests/fuzz/seed-$name.sh" "$corpus"; fi
  if ! ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
      LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
      "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$crashes/" "$corpus" 2>"$out/fuzz_$name.log"; then
    echo "fuzz: $name FAILED (log: $out/fuzz_$name.log, inputs: $crashes/)"
    tail -n 40 "$out/fuzz_$name.log"
    status=1
  else
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|#[0-9]+.*DONE' \
      "$out/fuzz_$name.log" | tail -n 3 || true
  fi
done
exit $status
