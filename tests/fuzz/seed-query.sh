#!/usr/bin/env bash
# Seeds the fuzz_query corpus (scripts/fuzz.sh): the first byte picks the decoder (0 query string,
# 1 path/id, 2 cursor round trip, 3 cursor of every list kind, 4 cursor fields to encode, 5-6
# window), the rest is its text.
set -euo pipefail
dir=${1:?corpus dir}
mkdir -p "$dir"
seed() { printf "$1" >"$dir/seed-$2"; }
b64() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
cursor() { printf '\003%s' "$(b64 "$1")" >"$dir/seed-$2"; }
seed '\000limit=50&cursor=cnVuc3wxfDI&q=caf%%C3%%A9+au%%20lait' q1
seed '\000from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00.5%%2B02:00&&window=24h' q2
seed '\000limit=1&limit=2&%%ff=%%zz&q=%%00' q3
seed '\001octo/hello.js/runs' p1
seed '\001123456789012345678' p2
seed '\002cnVuc3wxNzE0MDAwMDAwMTIzNDU2fDk4NzY1' c1
seed '\0057d\n-\n-' w1
seed '\005-\n2024-01-01T00:00:00Z\n2024-03-01T12:00:00+05:30' w2
cursor 'runs|1714000000123456|98765' k-runs
cursor 'runs|-1000000|5' k-runs-before-1970
cursor 'runs|99999999999999999|1' k-runs-far
cursor 'logs|1|99999999999999' k-logs-step-overflow
cursor 'logs|7|0' k-logs
cursor 'wf|-9223372036854775808' k-wf-min
cursor 'repos|acme/target (-7)' k-repos-renamed
cursor 'repos|acme/pipe%7Cx%25y' k-repos-escaped
cursor 'repos|50%off' k-repos-bad-escape
cursor 'alerts|42' k-alerts
printf '\004acme/pipe|x\n100%%\n%%7C' >"$dir/seed-e-odd"
printf '\004%s\n1' "$(head -c 190 /dev/zero | tr '\0' l)" >"$dir/seed-e-long"
