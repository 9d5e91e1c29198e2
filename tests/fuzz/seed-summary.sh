#!/bin/sh
# Writes the seed corpus of fuzz_summary into DIR: Summary replies built with the integration
# tests' independent encoder (tests/integration/pbwire.py), hostile names included.
set -eu
dir=${1:?usage: seed-summary.sh DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
PYTHONPATH="$root/tests/integration" /usr/bin/python3 - "$dir" <<'PY'
import os, sys
from pbwire import SUMMARY_REPLY, encode

out = sys.argv[1]
step = {"number": 1, "name": "Run | <script>", "duration_ms": 20000, "p50_ms": 10000,
        "p95_ms": 12000, "samples": 12}
test = {"test_id": "ab12", "suite": "s", "class_name": "C`x`", "name": "t_[1]",
        "message": "assert <b> == 2\nmore", "flaky": True, "new_failure": False}
group = {"fingerprint": "00ff", "title": "error: *x*", "runs": 3, "repositories": 2,
         "first_seen": 1764547200000}
replies = {
    "empty": {},
    "steps": {"steps": [step, dict(step, number=2, samples=0)], "default_branch": "main"},
    "all": {"steps": [step], "failed_tests": [test] * 12, "failed_tests_total": 40,
            "failure_group": group, "job_url": "https://ci.example.com/runs/9?attempt=1&job=7",
            "default_branch": "ma|in"},
    "badurl": {"job_url": "javascript:alert(1)/runs/1", "failure_group": group},
}
for name, reply in replies.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(encode(SUMMARY_REPLY, reply))
PY
