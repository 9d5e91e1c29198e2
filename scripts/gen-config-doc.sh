#!/bin/sh
# Regenerates what is written from cipulsed's own option table: README.md's configuration
# reference (`cipulsed config-doc`) and the settings in deploy/.env.example (`cipulsed
# config-env`), each between its begin/end markers.
set -eu
cd "$(dirname "$0")/.."
make -s build/cipulsed  # current sources: an old binary would write a stale table

# replace FILE BEGIN-MARKER END-MARKER CONTENT-FILE
replace() {
  awk -v doc="$4" -v begin="$2" -v end="$3" '
    index($0, begin) { print; while ((getline line < doc) > 0) print line; skip = 1; next }
    index($0, end) { skip = 0 }
    !skip' "$1" > "$1.new"
  mv "$1.new" "$1"
}

tmp=$(mktemp)
build/cipulsed config-doc > "$tmp"
replace README.md "<!-- config:begin -->" "<!-- config:end -->" "$tmp"
build/cipulsed config-env > "$tmp"
replace deploy/.env.example "# config:begin" "# config:end" "$tmp"
rm -f "$tmp"
