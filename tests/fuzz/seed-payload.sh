#!/bin/sh
# Writes the seed corpus of fuzz_payload into DIR: every GitHub webhook fixture as it is.
set -eu
dir=${1:?usage: seed-payload.sh DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
cp "$root"/tests/fixtures/github/webhooks/*.json "$dir/"
