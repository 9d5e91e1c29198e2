#!/usr/bin/env bash
# Seeds the fuzz_query corpus (scripts/fuzz.sh): the first byte picks the decoder (0 query string,
# 1 path/id, 2 cursor, 3-4 window), the rest is its text.
set -euo pipefail
dir=${1:?corpus dir}
mkdir -p "$dir"
seed() { printf "$1" >"$dir/seed-$2"; }
seed '\000limit=50&cursor=cnVuc3wxfDI&q=caf%%C3%%A9+au%%20lait' q1
seed '\000from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00.5%%2B02:00&&window=24h' q2
seed '\000limit=1&limit=2&%%ff=%%zz&q=%%00' q3
seed '\001octo/hello.js/runs' p1
seed '\001123456789012345678' p2
seed '\002cnVuc3wxNzE0MDAwMDAwMTIzNDU2fDk4NzY1' c1
seed '\0037d\n-\n-' w1
seed '\003-\n2024-01-01T00:00:00Z\n2024-03-01T12:00:00+05:30' w2
