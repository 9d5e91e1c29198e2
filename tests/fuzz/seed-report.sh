#!/bin/sh
# Writes the seed corpus of fuzz_report into DIR: real report streams (header, jobs with steps,
# log tails in several chunks) and a few broken ones, built with the integration tests'
# independent encoder (tests/integration/pbwire.py), each message length-prefixed (2 bytes LE).
set -eu
dir=${1:?usage: seed-report.sh DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
PYTHONPATH="$root/tests/integration" /usr/bin/python3 - "$dir" <<'PY'
import os, struct, sys
import pbwire
from ingest_env import make_report

out = sys.argv[1]

def write(name, chunks):
    with open(os.path.join(out, name), "wb") as f:
        for c in chunks:
            f.write(struct.pack("<H", len(c)) + c)

write("small", make_report(42, "octo/widgets", 1, jobs=1, steps=2, log_bytes=40))
write("chunked", make_report(42, "octo/widgets", 2, jobs=2, steps=3, log_bytes=300,
                             log_chunk=64))
write("admin-other-repo", make_report(7, "someone/else", 3, jobs=1, steps=1))
good = make_report(42, "octo/widgets", 4, jobs=1, steps=1, log_bytes=10)
write("job-first", [good[1], good[0]])
write("seq-gap", good[:2] + [pbwire.chunk_log(job_id=401, step_number=1, seq=1, text="x")])
write("nul-text", good[:2] + [pbwire.chunk_log(job_id=401, text=b"a\0b")])
write("header-only", good[:1])
cases = [{"suite": "s", "class_name": "C", "name": "t%d" % i, "duration_us": 10 * i,
          "result": 1 + i % 4, "message": "assert %d == 0" % i if i % 4 == 1 else "",
          "retries": i % 2} for i in range(6)]
write("tests", good + [pbwire.chunk_tests(job_id=401, cases=cases),
                       pbwire.chunk_tests(job_id=401, cases=cases[:2], truncated=True)])
write("tests-other-job", good + [pbwire.chunk_tests(job_id=999, cases=cases[:1])])
write("newer-kind", good[:2] + [pbwire._key(15, 2) + pbwire.varint(2) + b"\x08\x01"])
PY
