"""A tiny protobuf encoder/decoder for the cipulse wire contract, written from the .proto files.

Debian ships no protoc for Python, and an independent encoder is what a contract test wants
anyway: if the C side and this file disagree, one of them misread report.proto.

    chunk_header(report_id="r1", repository={"id": 1, "full_name": "o/r"}, run={...})
    chunk_job(id=5, name="build", steps=[{"number": 1, "name": "checkout"}])
    chunk_log(job_id=5, step_number=1, seq=0, text="hello", last=True)
"""

# name -> (field number, type); type is a scalar kind or ("msg", schema) / ("rep", type).
REPOSITORY = {"id": (1, "int64"), "full_name": (2, "string"), "server_url": (3, "string"),
              "default_branch": (4, "string")}
WORKFLOW = {"id": (1, "int64"), "name": (2, "string"), "path": (3, "string")}
RUN = {
    "id": (1, "int64"), "attempt": (2, "int32"), "number": (3, "int64"),
    "event": (4, "string"), "head_branch": (5, "string"), "head_sha": (6, "string"),
    "actor": (7, "string"), "html_url": (8, "string"), "status": (9, "string"),
    "conclusion": (10, "string"), "created_at": (11, "int64"),
    "run_started_at": (12, "int64"), "updated_at": (13, "int64"),
    "head_message": (14, "string"),
}
HEADER = {
    "report_id": (1, "string"), "agent_version": (2, "string"), "mode": (3, "int32"),
    "sent_at": (4, "int64"), "repository": (5, ("msg", REPOSITORY)),
    "workflow": (6, ("msg", WORKFLOW)), "run": (7, ("msg", RUN)),
}
STEP = {
    "number": (1, "int32"), "name": (2, "string"), "status": (3, "string"),
    "conclusion": (4, "string"), "started_at": (5, "int64"), "completed_at": (6, "int64"),
}
JOB = {
    "id": (1, "int64"), "name": (2, "string"), "status": (3, "string"),
    "conclusion": (4, "string"), "created_at": (5, "int64"), "started_at": (6, "int64"),
    "completed_at": (7, "int64"), "runner_name": (8, "string"),
    "labels": (9, ("rep", "string")), "html_url": (10, "string"),
    "steps": (11, ("rep", ("msg", STEP))), "runner_os": (12, "string"),
    "runner_arch": (13, "string"),
}
LOG = {
    "job_id": (1, "int64"), "step_number": (2, "int32"), "seq": (3, "int32"),
    "text": (4, "string"), "last": (5, "bool"), "original_size": (6, "int64"),
    "truncated": (7, "bool"), "exit_code": (8, "int32"), "has_exit_code": (9, "bool"),
}
TEST_CASE = {
    "suite": (1, "string"), "class_name": (2, "string"), "name": (3, "string"),
    "file": (4, "string"), "duration_us": (5, "int64"), "result": (6, "int32"),
    "message": (7, "string"), "retries": (8, "int32"),
}
TEST_BATCH = {"job_id": (1, "int64"), "cases": (2, ("rep", ("msg", TEST_CASE))),
              "truncated": (3, "bool")}
PASSED, FAILED, ERROR, SKIPPED = 1, 2, 3, 4  # TestResult
CHUNK = {"header": (1, ("msg", HEADER)), "job": (2, ("msg", JOB)), "log": (3, ("msg", LOG)),
         "tests": (4, ("msg", TEST_BATCH))}
ACK = {"report_id": (1, "string"), "duplicate": (2, "bool"), "jobs": (3, "int32"),
       "steps": (4, "int32"), "logs": (5, "int32"), "tests": (6, "int32")}
HEALTH_REQ = {"service": (1, "string")}
HEALTH_RESP = {"status": (1, "int32")}

SERVING, NOT_SERVING, SERVICE_UNKNOWN = 1, 2, 3

# collector.proto: Summary (the job summary).
SUMMARY_REQ = {"repository_id": (1, "int64"), "run_id": (2, "int64"), "run_attempt": (3, "int32"),
               "job_id": (4, "int64")}
STEP_BASELINE = {"number": (1, "int32"), "name": (2, "string"), "duration_ms": (3, "int64"),
                 "p50_ms": (4, "int64"), "p95_ms": (5, "int64"), "samples": (6, "int32")}
FAILED_TEST = {"test_id": (1, "string"), "suite": (2, "string"), "class_name": (3, "string"),
               "name": (4, "string"), "message": (5, "string"), "flaky": (6, "bool"),
               "new_failure": (7, "bool")}
FAILURE_GROUP = {"fingerprint": (1, "string"), "title": (2, "string"), "runs": (3, "int64"),
                 "repositories": (4, "int32"), "first_seen": (5, "int64")}
SUMMARY_REPLY = {"steps": (1, ("rep", ("msg", STEP_BASELINE))),
                 "failed_tests": (2, ("rep", ("msg", FAILED_TEST))),
                 "failed_tests_total": (3, "int32"),
                 "failure_group": (4, ("msg", FAILURE_GROUP)), "job_url": (5, "string"),
                 "default_branch": (6, "string")}


def varint(n):
    n &= (1 << 64) - 1  # negative ints are 10-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num, wire):
    return varint((num << 3) | wire)


def _field(num, kind, value):
    if isinstance(kind, tuple) and kind[0] == "rep":
        return b"".join(_field(num, kind[1], v) for v in value)
    if isinstance(kind, tuple) and kind[0] == "msg":
        body = encode(kind[1], value)
        return _key(num, 2) + varint(len(body)) + body
    if kind == "string":
        raw = value if isinstance(value, (bytes, bytearray)) else value.encode("utf-8")
        return _key(num, 2) + varint(len(raw)) + bytes(raw)
    if kind == "bool":
        return _key(num, 0) + varint(1 if value else 0)
    return _key(num, 0) + varint(int(value))


def encode(schema, values):
    """Encodes a dict by schema; strings may be bytes (to send invalid UTF-8 on purpose)."""
    out = bytearray()
    for name, value in values.items():
        num, kind = schema[name]
        out += _field(num, kind, value)
    return bytes(out)


def chunk_header(**header):
    return encode(CHUNK, {"header": header})


def chunk_job(**job):
    return encode(CHUNK, {"job": job})


def chunk_log(**log):
    return encode(CHUNK, {"log": log})


def chunk_tests(**batch):
    return encode(CHUNK, {"tests": batch})


def read_varint(buf, i):
    """The varint at buf[i]: (value, index after it)."""
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def fields(buf):
    """Raw fields of one message: list of (number, wire type, value)."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 2:
            ln, i = read_varint(buf, i)
            v, i = bytes(buf[i:i + ln]), i + ln
        elif wire == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError("bad wire type %d" % wire)
        out.append((num, wire, v))
    return out


def _value(kind, v, strict):
    if isinstance(kind, tuple):  # ("msg", schema)
        return decode(kind[1], v, strict)
    if kind == "string":
        return v.decode("utf-8")  # strict UTF-8: the C side must never send anything else
    if kind == "bool":
        return bool(v)
    if kind in ("int64", "int32"):
        return v - (1 << 64) if v >= 1 << 63 else v
    return v


def decode(schema, buf, strict=False):
    """Decodes a message by schema, nested messages and repeated fields included. Unknown
    fields are skipped, or with strict=True refused (ValueError)."""
    names = {num: (name, kind) for name, (num, kind) in schema.items()}
    out = {}
    for num, _wire, v in fields(buf):
        if num not in names:
            if strict:
                raise ValueError("unknown field %d" % num)
            continue
        name, kind = names[num]
        if isinstance(kind, tuple) and kind[0] == "rep":
            out.setdefault(name, []).append(_value(kind[1], v, strict))
        else:
            out[name] = _value(kind, v, strict)
    return out
