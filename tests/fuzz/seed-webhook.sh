#!/bin/sh
# Writes the seed corpus of fuzz_webhook into DIR: every GitHub fixture, prefixed with the byte
# that selects its event (0 workflow_job, 1 workflow_run, 2 ping).
set -eu
dir=${1:?usage: seed-webhook.sh DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
for f in "$root"/tests/fixtures/github/webhooks/*.json; do
  name=$(basename "$f")
  case $name in
    workflow_job.*) b='\000' ;;
    workflow_run.*) b='\001' ;;
    *) b='\002' ;;
  esac
  { printf "$b"; cat "$f"; } > "$dir/$name"
done
