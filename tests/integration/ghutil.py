"""Helpers for the webhook and poller tests: signed deliveries, repository registration, dumps of
the pipeline tables, and a fake GitHub REST API (runs, jobs, pagination, ETags, rate limits)
served by the harness's GitHubStandIn."""
import copy
import datetime
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid

from harness import load_fixture

SECRET = "It's a Secret to Everybody"


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(collector, event, payload, secret=SECRET, delivery=None, signature=None,
                 content_type="application/json", raw=None, headers=None):
    """Sends one delivery; returns (status, parsed body). `raw` overrides the body bytes."""
    body = raw if raw is not None else json.dumps(payload).encode()
    hdrs = {"Content-Type": content_type, "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "User-Agent": "GitHub-Hookshot/test"}
    if signature is not None:
        hdrs["X-Hub-Signature-256"] = signature
    elif secret is not None:
        hdrs["X-Hub-Signature-256"] = sign(secret, body)
    hdrs.update(headers or {})
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    req = urllib.request.Request(collector.http_url + "/webhook/github", data=body, method="POST",
                                 headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw_out = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw_out = e.code, e.read()
    try:
        return status, json.loads(raw_out)
    except ValueError:
        return status, raw_out.decode("utf-8", "replace")


def register_repo(db, full_name, repo_id=None, secret=SECRET, token=None):
    """Registers a repository the way the API does (provisional id unless repo_id is given)."""
    if repo_id is None:
        db.execute("INSERT INTO repositories (id, full_name, webhook_secret, github_token) "
                   "VALUES (-nextval('repositories_provisional_id_seq'), %s, %s, %s)",
                   (full_name, secret, token))
    else:
        db.execute("INSERT INTO repositories (id, full_name, webhook_secret, github_token) "
                   "VALUES (%s, %s, %s, %s)", (repo_id, full_name, secret, token))


def event_of(fixture_name):
    return fixture_name.split(".", 1)[0]


def dump(db, repo_id=None):
    """The pipeline rows as plain data, without bookkeeping columns (sources, inserted_at)."""
    where = "" if repo_id is None else " WHERE repo_id = %d" % int(repo_id)
    out = {}
    out["workflow_runs"] = db.query(
        "SELECT repo_id, run_id, run_attempt, workflow_id, run_number, name, event, status, "
        "conclusion, head_branch, head_sha, actor, html_url, created_at, run_started_at, "
        "updated_at, completed_at FROM workflow_runs%s ORDER BY repo_id, run_id, run_attempt"
        % where)
    out["jobs"] = db.query(
        "SELECT repo_id, job_id, run_id, run_attempt, name, status, conclusion, created_at, "
        "started_at, completed_at, runner_name, runner_os, runner_arch, labels, html_url "
        "FROM jobs%s ORDER BY repo_id, job_id" % where)
    out["steps"] = db.query(
        "SELECT repo_id, job_id, number, name, status, conclusion, started_at, completed_at "
        "FROM steps%s ORDER BY repo_id, job_id, number" % where)
    out["workflows"] = db.query(
        "SELECT repo_id, id, name, path FROM workflows%s ORDER BY repo_id, id"
        % where.replace("repo_id", "repo_id"))
    return out


def ts(s):
    """A GitHub timestamp as an aware datetime (None stays None)."""
    return None if s is None else datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def rows_from_payloads(run_payload, job_payloads):
    """The rows that the final state of a run must leave, in dump()'s shape, computed from the
    GitHub payloads themselves (not from the collector): the run's last workflow_run payload and
    the last workflow_job payload of each job."""
    repo = run_payload["repository"]
    r = run_payload["workflow_run"]
    wf = run_payload["workflow"]
    out = {"workflow_runs": [{
        "repo_id": repo["id"], "run_id": r["id"], "run_attempt": r["run_attempt"],
        "workflow_id": r["workflow_id"], "run_number": r["run_number"], "name": r["name"],
        "event": r["event"], "status": r["status"], "conclusion": r["conclusion"],
        "head_branch": r["head_branch"], "head_sha": r["head_sha"], "actor": r["actor"]["login"],
        "html_url": r["html_url"], "created_at": ts(r["created_at"]),
        "run_started_at": ts(r["run_started_at"]), "updated_at": ts(r["updated_at"]),
        "completed_at": ts(r["updated_at"]) if r["status"] == "completed" else None}],
        "jobs": [], "steps": [],
        "workflows": [{"repo_id": repo["id"], "id": wf["id"], "name": wf["name"],
                       "path": wf["path"]}]}
    for p in job_payloads:
        j = p["workflow_job"]
        out["jobs"].append({
            "repo_id": repo["id"], "job_id": j["id"], "run_id": j["run_id"],
            "run_attempt": j["run_attempt"], "name": j["name"], "status": j["status"],
            "conclusion": j["conclusion"], "created_at": ts(j["created_at"]),
            # GitHub fills started_at with created_at until a runner picks the job up.
            "started_at": None if j["status"] in ("queued", "waiting") else ts(j["started_at"]),
            "completed_at": ts(j["completed_at"]), "runner_name": j["runner_name"],
            "runner_os": j.get("runner_os"), "runner_arch": j.get("runner_arch"),
            "labels": j["labels"], "html_url": j["html_url"]})
        out["steps"] += [{"repo_id": repo["id"], "job_id": j["id"], "number": st["number"],
                          "name": st["name"], "status": st["status"],
                          "conclusion": st["conclusion"], "started_at": ts(st["started_at"]),
                          "completed_at": ts(st["completed_at"])}
                         for st in sorted(j["steps"] or [], key=lambda st: st["number"])]
    out["jobs"].sort(key=lambda x: (x["repo_id"], x["job_id"]))
    out["steps"].sort(key=lambda x: (x["repo_id"], x["job_id"], x["number"]))
    return out


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    """A GitHub REST API for the poller: runs and their jobs per repository.

    Serves GET /repos/{o}/{r}/actions/runs (newest first, per_page/page, Link rel="next",
    ETag/If-None-Match -> 304, ?created=>=DATE filter), /actions/runs/{id},
    /actions/runs/{id}/attempts/{n} and /actions/runs/{id}/attempts/{n}/jobs. Rate limit: every
    non-304 answer spends one of `remaining`; at 0 answers 403 with X-RateLimit-Remaining: 0.
    """

    def __init__(self, standin, full_name, repo_id, limit=5000):
        self.standin = standin
        self.full_name = full_name
        self.repo_id = repo_id
        self.runs = {}   # (run_id, attempt) -> run object
        self.jobs = {}   # (run_id, attempt) -> [job objects]
        self.limit = limit
        self.remaining = limit
        self.reset = 4102444800  # far future: tests set it when they need a reset
        self.lock = threading.Lock()
        self.served = []  # paths answered with 200
        self.fail_after = None  # answer 500 to every request after this many 200s
        self.delay = 0.0  # seconds each answer takes
        self.gate = None  # a threading.Event: answers wait until it is set
        self.window = 0  # > 0: the rate limit resets every `window` seconds
        # With reset None, the first answer starts the window (reset = then + window), so a
        # test's window does not run out while a loaded machine is still starting the poll.
        # App mode (ghapp.FakeGitHubApp.guard): auth(req) -> None to answer, or the refusal;
        # budget() -> (limit, remaining, reset) of the installation, for the rate-limit headers.
        self.auth = None
        self.budget = None
        base = "/repos/%s/actions/runs" % full_name
        self.base = base
        standin.route("GET", base, self._runs)
        standin.route("GET", "/repos/%s" % full_name, self._repo)
        self._routes_for_runs()

    def _routes_for_runs(self):
        for (run_id, attempt) in list(self.runs):
            self.standin.route("GET", "%s/%d" % (self.base, run_id), self._run)
            self.standin.route("GET", "%s/%d/attempts/%d" % (self.base, run_id, attempt),
                               self._attempt)
            self.standin.route("GET", "%s/%d/attempts/%d/jobs" % (self.base, run_id, attempt),
                               self._jobs)

    def _repo(self, req):
        denied = self.auth(req) if self.auth else None
        return denied or (200, {}, dict(self.repository(), default_branch="main"))

    def repository(self):
        return {"id": self.repo_id, "full_name": self.full_name,
                "html_url": "https://github.com/" + self.full_name}

    def add_run(self, run_id, attempt=1, status="completed", conclusion="success", created=None,
                jobs=None, workflow_id=1001, path=".github/workflows/ci.yml", name="CI",
                run_number=None, head_sha="a" * 40, branch="main"):
        created = created or "2024-05-01T10:00:00Z"
        run = {"id": run_id, "run_attempt": attempt, "name": name, "workflow_id": workflow_id,
               "path": path, "run_number": run_number or run_id % 100000, "event": "push",
               "status": status, "conclusion": conclusion, "head_branch": branch,
               "head_sha": head_sha, "html_url": "https://github.com/%s/actions/runs/%d"
               % (self.full_name, run_id), "created_at": created, "run_started_at": created,
               "updated_at": created, "actor": {"login": "octocat"},
               "repository": self.repository()}
        with self.lock:
            self.runs[(run_id, attempt)] = run
            self.jobs[(run_id, attempt)] = jobs if jobs is not None else []
        self._routes_for_runs()
        return run

    @staticmethod
    def make_job(job_id, run_id, attempt=1, status="completed", conclusion="success",
                 created="2024-05-01T10:00:00Z", started="2024-05-01T10:00:30Z",
                 completed="2024-05-01T10:05:00Z", steps=3, name=None):
        st = []
        for n in range(1, steps + 1):
            st.append({"name": "step %d" % n, "status": status if status != "queued" else "queued",
                       "conclusion": conclusion if status == "completed" else None,
                       "number": n, "started_at": started if status != "queued" else None,
                       "completed_at": completed if status == "completed" else None})
        return {"id": job_id, "run_id": run_id, "run_attempt": attempt,
                "name": name or "job-%d" % job_id, "status": status,
                "conclusion": conclusion if status == "completed" else None,
                "created_at": created, "started_at": started if status != "queued" else created,
                "completed_at": completed if status == "completed" else None,
                "head_sha": "a" * 40, "head_branch": "main", "workflow_name": "CI",
                "runner_name": "runner-1" if status != "queued" else None,
                "labels": ["ubuntu-latest"], "steps": st,
                "html_url": "https://github.com/x/y/runs/%d" % job_id}

    # ---- rate limit and bookkeeping ----
    def _spend(self, req, etag, body):
        status, headers, out = self._spend_own(req, etag, body)
        if self.budget and "X-RateLimit-Remaining" in headers:
            limit, remaining, reset = self.budget()
            headers.update({"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining,
                            "X-RateLimit-Reset": reset})
        return status, headers, out

    def _spend_own(self, req, etag, body):
        if self.gate is not None:
            self.gate.wait(60)
        if self.delay:
            time.sleep(self.delay)
        denied = self.auth(req) if self.auth else None
        if denied:
            return denied
        with self.lock:
            if self.reset is None:
                self.reset = int(time.time()) + self.window
            if self.window and time.time() >= self.reset:
                self.remaining = self.limit
                self.reset = int(time.time()) + self.window
            if self.fail_after is not None and len(self.served) >= self.fail_after:
                return 500, {}, {"message": "Server Error"}
            if req["headers"].get("if-none-match") == etag:
                return 304, {"ETag": etag, "X-RateLimit-Limit": self.limit,
                             "X-RateLimit-Remaining": self.remaining,
                             "X-RateLimit-Reset": self.reset}, b""
            if self.remaining <= 0:
                return 403, {"X-RateLimit-Limit": self.limit, "X-RateLimit-Remaining": 0,
                             "X-RateLimit-Reset": self.reset},\
                    {"message": "API rate limit exceeded"}
            self.remaining -= 1
            self.served.append(req["path"])
            return 200, {"ETag": etag, "X-RateLimit-Limit": self.limit,
                         "X-RateLimit-Remaining": self.remaining,
                         "X-RateLimit-Reset": self.reset}, body

    @staticmethod
    def _query(path):
        q = {}
        if "?" in path:
            for kv in path.split("?", 1)[1].split("&"):
                k, _, v = kv.partition("=")
                q[k] = urllib.request.unquote(v)
        return q

    def _runs(self, req):
        q = self._query(req["path"])
        per_page = int(q.get("per_page", 30))
        page = int(q.get("page", 1))
        with self.lock:
            latest = {}
            for (rid, att), run in self.runs.items():
                if rid not in latest or att > latest[rid]["run_attempt"]:
                    latest[rid] = run
            runs = sorted(latest.values(), key=lambda r: (r["created_at"], r["id"]), reverse=True)
        created = q.get("created", "")
        if created.startswith(">="):
            since = created[2:]
            runs = [r for r in runs if r["created_at"] >= since]
        elif ".." in created:
            since, until = created.split("..", 1)
            runs = [r for r in runs if since <= r["created_at"] <= until]
        chunk = runs[(page - 1) * per_page: page * per_page]
        body = {"total_count": len(runs), "workflow_runs": copy.deepcopy(chunk)}
        etag = '"%s"' % hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
        status, headers, out = self._spend(req, etag, body)
        if status == 200 and page * per_page < len(runs):
            base = req["path"].split("?", 1)[0]
            rest = "&".join("%s=%s" % (k, urllib.request.quote(v, safe=""))
                            for k, v in q.items() if k != "page")
            headers["Link"] = '<%s%s?%s&page=%d>; rel="next", <%s%s?%s&page=%d>; rel="last"' % (
                self.standin.url, base, rest, page + 1, self.standin.url, base, rest,
                (len(runs) + per_page - 1) // per_page)
        return status, headers, out

    def _split(self, path):
        parts = path.split("?", 1)[0].split("/")
        run_id = int(parts[6])
        attempt = int(parts[8]) if len(parts) > 8 else None
        return run_id, attempt

    def _run(self, req):
        run_id, _ = self._split(req["path"])
        with self.lock:
            cands = [r for (rid, _), r in self.runs.items() if rid == run_id]
        if not cands:
            return 404, {}, {"message": "Not Found"}
        run = max(cands, key=lambda r: r["run_attempt"])
        return self._spend(req, '"run-%d-%s"' % (run_id, hash(json.dumps(run, sort_keys=True))),
                           run)

    def _attempt(self, req):
        run_id, attempt = self._split(req["path"])
        with self.lock:
            run = self.runs.get((run_id, attempt))
        if not run:
            return 404, {}, {"message": "Not Found"}
        return self._spend(req, '"att-%d-%d-%s"' % (run_id, attempt,
                                                    hash(json.dumps(run, sort_keys=True))), run)

    def _jobs(self, req):
        run_id, attempt = self._split(req["path"])
        q = self._query(req["path"])
        per_page = int(q.get("per_page", 30))
        page = int(q.get("page", 1))
        with self.lock:
            jobs = copy.deepcopy(self.jobs.get((run_id, attempt), []))
        chunk = jobs[(page - 1) * per_page: page * per_page]
        body = {"total_count": len(jobs), "jobs": chunk}
        etag = '"%s"' % hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
        status, headers, out = self._spend(req, etag, body)
        if status == 200 and page * per_page < len(jobs):
            base = req["path"].split("?", 1)[0]
            headers["Link"] = '<%s%s?per_page=%d&page=%d>; rel="next"' % (
                self.standin.url, base, per_page, page + 1)
        return status, headers, out


def fixture_payload(name):
    return load_fixture(name)
