"""Helpers for the alerting tests: a recording receiver that stands in for Slack, Teams and
generic webhooks (and can answer 500, 429 with Retry-After, or hang), workflow_run payloads with
chosen conclusions, and waits on the notification outbox."""
import copy
import datetime
import json
import threading
import urllib.parse

import pytest

from ghutil import SECRET, post_webhook, register_repo
from harness import GitHubStandIn, load_fixture, wait_for

REPO_ID = 4242
REPO = "acme/widgets"
WORKFLOW_ID = 77


class Receiver:
    """HTTP stand-in for chat webhooks. `script` is a list of responses used in turn for each
    POST (then `default`): (status, headers) tuples, or "hang" to hold the request until
    release() is called. `bodies(path)` gives the JSON bodies received with a 2xx answer."""

    def __init__(self):
        self.standin = GitHubStandIn()
        self.url = self.standin.url
        self.lock = threading.Lock()
        self.script = {}
        self.default = (200, {})
        self.answered = []  # (path, status, body bytes, headers)
        self.gate = threading.Event()

    def respond(self, path, *responses):
        with self.lock:
            self.script[path] = list(responses)
        self.standin.route("POST", path, self._handle)

    def _handle(self, req):
        path = req["path"]
        with self.lock:
            queue = self.script.get(path) or []
            answer = queue.pop(0) if queue else self.default
        if answer == "hang":
            self.gate.wait(120)
            answer = (503, {})
        status, headers = answer
        with self.lock:
            self.answered.append((path, status, req["body"], req["headers"]))
        return status, headers, "ok" if status < 300 else "nope"

    def release(self):
        self.gate.set()

    def delivered(self, path):
        with self.lock:
            return [(b, h) for p, s, b, h in self.answered if p == path and 200 <= s < 300]

    def bodies(self, path):
        return [json.loads(b) for b, _ in self.delivered(path)]

    def attempts(self, path):
        with self.lock:
            return [s for p, s, _, _ in self.answered if p == path]

    def close(self):
        self.release()
        self.standin.close()


@pytest.fixture
def slack():
    """A Receiver with /slack answering 200 (import it into a test module as a fixture)."""
    r = Receiver()
    r.respond("/slack")
    yield r
    r.close()


def slack_env(slack, **extra):
    """Collector settings for a Slack channel on the stand-in (on 127.0.0.1: private targets
    must be allowed)."""
    e = {"CIPULSE_ALLOW_PRIVATE_TARGETS": "1", "CIPULSE_SLACK_WEBHOOK_URL": slack.url + "/slack"}
    e.update(extra)
    return e


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_payload(run_id, conclusion, branch="main", attempt=1, completed=None, repo_id=REPO_ID,
                full_name=REPO, default_branch="main", message="fix the widget", name="CI",
                actor="octocat", workflow_id=WORKFLOW_ID, sha=None):
    """A workflow_run.completed delivery for our repository."""
    p = copy.deepcopy(load_fixture("workflow_run.completed.json"))
    completed = completed or datetime.datetime.now(datetime.timezone.utc)
    started = completed - datetime.timedelta(minutes=3)
    repo = p["repository"]
    repo.update(id=repo_id, full_name=full_name, default_branch=default_branch,
                html_url="https://github.com/" + full_name, name=full_name.split("/")[1])
    p["workflow"].update(id=workflow_id, name=name, path=".github/workflows/ci.yml")
    r = p["workflow_run"]
    r.update(id=run_id, run_attempt=attempt, run_number=run_id % 100000, conclusion=conclusion,
             status="completed", head_branch=branch, head_sha=sha or ("%040x" % run_id),
             name=name, workflow_id=workflow_id, path=".github/workflows/ci.yml",
             created_at=iso(started), run_started_at=iso(started), updated_at=iso(completed),
             html_url="https://github.com/%s/actions/runs/%d" % (full_name, run_id))
    r["head_commit"]["message"] = message
    r["actor"]["login"] = actor
    r["repository"] = {"id": repo_id, "full_name": full_name}
    return p


def send_run(collector, payload):
    status, body = post_webhook(collector, "workflow_run", payload)
    assert status in (200, 202), (status, body)
    return body


def setup_repo(db):
    register_repo(db, REPO, repo_id=REPO_ID, secret=SECRET)


def outbox(db):
    return db.query("SELECT n.id, n.alert_id, c.name AS channel, n.event, n.state, n.attempts, "
                    "n.last_error, n.last_status FROM notifications n "
                    "JOIN notification_channels c ON c.id = n.channel_id ORDER BY n.id")


def wait_outbox_settled(db, timeout=60):
    """Waits until no message is pending (each was sent or given up); returns the outbox."""
    wait_for(lambda: db.scalar("SELECT count(*) FROM notifications WHERE state = 'pending'") == 0,
             timeout=timeout, what="the outbox to drain")
    return outbox(db)


def alerts(db):
    return db.query("SELECT id, kind, state, branch, run_id, run_count, resolved_run_id, "
                    "notified_at IS NOT NULL AS notified FROM alerts ORDER BY id")


METRICS_SCOPE = {"repo": REPO, "workflow": str(WORKFLOW_ID), "branch": "main"}


def metrics_for(c, details, scope=None):
    """GET /api/v1/metrics over the window a window rule's alert computed its figure for (its
    details' from and to), on our workflow's main branch unless scope says otherwise."""
    query = dict(scope or METRICS_SCOPE, **{"from": details["from"], "to": details["to"]})
    status, body = c.http("GET", "/api/v1/metrics?" + urllib.parse.urlencode(query),
                          headers=c.admin_headers())
    assert status == 200, body
    return body
