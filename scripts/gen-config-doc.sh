#!/bin/sh
# Regenerates README.md's configuration reference from cipulsed's own option table.
set -eu
cd "$(dirname "$0")/.."
make -s build/cipulsed  # current sources: an old binary would write a stale table
tmp=$(mktemp)
build/cipulsed config-doc > "$tmp"
awk -v doc="$tmp" '
  /<!-- config:begin -->/ { print; while ((getline line < doc) > 0) print line; skip = 1; next }
  /<!-- config:end -->/ { skip = 0 }
  !skip' README.md > README.md.new
mv README.md.new README.md
rm -f "$tmp"
