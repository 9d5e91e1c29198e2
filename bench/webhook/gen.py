"""Writes the wrk data file for bench/webhook/webhook.lua: N workflow_job payloads built from the
real fixture (each its own job id, 12 steps), and their X-Hub-Signature-256 for SECRET."""
import hashlib
import hmac
import json
import sys

fixture, secret, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
base = json.load(open(fixture))


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


bodies, sigs = [], []
for i in range(n):
    p = json.loads(json.dumps(base))
    p["workflow_job"]["id"] = 10_000_000 + i
    p["workflow_job"]["run_id"] = 20_000_000 + i // 4  # four jobs per run
    body = json.dumps(p, separators=(",", ":"))
    bodies.append(body)
    sigs.append("sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest())
with open(out, "w") as f:
    f.write("return { bodies = {\n")
    f.write(",\n".join(lua_str(b) for b in bodies))
    f.write("},\nsigs = {\n")
    f.write(",\n".join(lua_str(s) for s in sigs))
    f.write("} }\n")
print("%d bodies, %d bytes each" % (n, len(bodies[0])))
