"""Tenant isolation (issue 9, section 1): one repository's credentials never touch another's data.

Three repositories are registered through the API: alpha and target (GitHub's ids learnt from
their own agents' first reports) and pending (registered, id not known yet). Each credential
(a repository's ingest token or webhook secret, the organisation secret CIPULSE_WEBHOOK_SECRET,
an admin token, the poller reading one repository from GitHub) sends payloads that name another
repository: its id, its name, both, a new id with another's name, a new id with the pending
repository's name, keys spelled with JSON escapes and duplicate keys or fields. Each is refused
(PERMISSION_DENIED / 403; 400 or 401 where the forgery is caught earlier) with the database
exactly as before, and afterwards every repository's own agent and webhooks still work, and the
pending repository can still be claimed by its own agent.
"""
import copy
import itertools
import json

import grpc
import pytest

import pbwire
from ghutil import FakeGitHub, post_webhook
from harness import GitHubStandIn, collector_on_a_new_database, load_fixture, prepared_database
from ingest_env import make_report, report_status

ALPHA, ALPHA_ID = "acme/alpha", 1001
TARGET, TARGET_ID = "acme/target", 1003
PENDING = "acme/pending"  # registered by name: a provisional id until GitHub's is learnt
NEW_ID = 4004  # an id no repository has
ORG_SECRET = "org-secret-for-the-tenancy-tests"
GH_TOKEN = "ghs_tenancy_test_token_0123456789"
TABLES = ("repositories", "api_tokens", "workflows", "workflow_runs", "jobs", "steps", "logs",
          "reports", "webhook_deliveries")

_run_ids = itertools.count(70001)


def repo_obj(repo_id, name):
    return {"id": repo_id, "name": name.split("/")[1], "full_name": name,
            "html_url": "https://github.com/" + name, "private": False}


def dump_all(db):
    """Every row of every table a write could touch, as text: equal means unchanged. One
    statement (one connection, one snapshot): a connection a table cost more than the rows."""
    rows = db.query(" UNION ALL ".join(
        "SELECT '%s' AS t, COALESCE((SELECT array_agg(x::text ORDER BY x::text) FROM %s x), '{}')"
        " AS x" % (t, t) for t in TABLES))
    return {r["t"]: r["x"] for r in rows}


class Tenants:
    """The three repositories and their credentials, through a collector on a test's database.
    register() writes them (once per module: each test's database is a copy of the result)."""

    def __init__(self, collector, db, creds=None, admin=None):
        self.col = collector
        self.db = db
        self.creds = dict(creds or {})
        self.admin = admin

    def register(self):
        for name in (ALPHA, TARGET, PENDING):
            status, out = self.col.http("POST", "/api/v1/repos", {"full_name": name},
                                        headers=self.col.admin_headers())
            assert status == 201, out
            self.creds[name] = out
        self.admin = self.col.create_token(None, kind="admin")
        # The first report of each repository's own agent teaches GitHub's id.
        self.agent_reports(ALPHA, ALPHA_ID)
        self.agent_reports(TARGET, TARGET_ID)
        assert self.names() == [(PENDING, True), (ALPHA, ALPHA_ID), (TARGET, TARGET_ID)]
        # Known default branches: the poller reads a repository's own one from GitHub only while
        # it is unknown, so a forged poll below must change no column of any repository.
        self.db.execute("UPDATE repositories SET default_branch = 'main'")
        return self.creds, self.admin

    def names(self):
        """Repositories as (full_name, id); a provisional id shows as True."""
        rows = self.db.query("SELECT id, full_name FROM repositories ORDER BY id")
        return [(r["full_name"], True if r["id"] < 0 else r["id"]) for r in rows]

    def token(self, name):
        return self.creds[name]["ingest_token"]

    def secret(self, name):
        return self.creds[name]["webhook_secret"]

    def agent_reports(self, name, repo_id):
        run_id = next(_run_ids)
        code, details = report_status(self.col.grpc_addr, make_report(repo_id, name, run_id,
                                                                      jobs=1, steps=1),
                                      self.token(name))
        assert code == grpc.StatusCode.OK, (name, code, details)
        assert self.db.scalar("SELECT repo_id FROM workflow_runs WHERE run_id = %s",
                              (run_id,)) == repo_id

    def webhook_works(self, name, repo_id):
        payload = load_fixture("workflow_job.queued.json")
        payload["repository"] = repo_obj(repo_id, name)
        payload["workflow_job"]["id"] = job_id = next(_run_ids)
        status, out = post_webhook(self.col, "workflow_job", payload, secret=self.secret(name))
        assert (status, out.get("status")) == (200, "stored"), (name, status, out)
        assert self.db.scalar("SELECT repo_id FROM jobs WHERE job_id = %s", (job_id,)) == repo_id

    def everyone_still_works(self):
        assert self.names() == [(PENDING, True), (ALPHA, ALPHA_ID), (TARGET, TARGET_ID)]
        for name, repo_id in ((ALPHA, ALPHA_ID), (TARGET, TARGET_ID)):
            self.agent_reports(name, repo_id)
            self.webhook_works(name, repo_id)
        # The pending repository is still free for its own agent to claim.
        self.agent_reports(PENDING, NEW_ID)
        self.webhook_works(PENDING, NEW_ID)
        assert self.names() == [(ALPHA, ALPHA_ID), (TARGET, TARGET_ID), (PENDING, NEW_ID)]


def collector_env(github):
    return {"CIPULSE_WEBHOOK_SECRET": ORG_SECRET, "CIPULSE_GITHUB_API_URL": github.url,
            "CIPULSE_GITHUB_TOKEN": GH_TOKEN}


@pytest.fixture(scope="module")
def registered(pg_cluster):
    """(template database, credentials, admin token): the repositories registered and claimed
    once; each test's database is a copy (seconds of registrations and reports a test saved)."""
    github = GitHubStandIn()
    try:
        with prepared_database(pg_cluster, lambda db, col: Tenants(col, db).register(),
                               env=collector_env(github)) as (name, (creds, admin)):
            yield name, creds, admin
    finally:
        github.close()


@pytest.fixture
def tenants(pg_cluster, registered, github):
    name, creds, admin = registered
    with collector_on_a_new_database(pg_cluster, env=collector_env(github),
                                     template=name) as (db, col):
        t = Tenants(col, db, creds, admin)
        assert t.names() == [(PENDING, True), (ALPHA, ALPHA_ID), (TARGET, TARGET_ID)]
        yield t


def refused_unchanged(t, send):
    """Sends a forgery with send(); returns its outcome after checking that nothing changed."""
    before = dump_all(t.db)
    outcome = send()
    after = dump_all(t.db)
    for table in TABLES:
        assert after[table] == before[table], "%s changed by a refused write" % table
    return outcome


# ---- gRPC reports -------------------------------------------------------------------------------

def with_repeated_fields(chunks, **fields):
    """The report with the fields repeated at the end of the header's `repository` message:
    protobuf keeps the last value of a repeated scalar field (a duplicate key of the wire
    format), so the first value is not the one decoded."""
    _, i = pbwire.read_varint(chunks[0], 0)
    ln, i = pbwire.read_varint(chunks[0], i)
    header, out, i = chunks[0][i:i + ln], b"", 0
    while i < len(header):
        start = i
        key, i = pbwire.read_varint(header, i)
        if key & 7 == 0:
            _, i = pbwire.read_varint(header, i)
            out += header[start:i]
            continue
        n, i = pbwire.read_varint(header, i)
        body, i = header[i:i + n], i + n
        if key >> 3 == pbwire.HEADER["repository"][0]:
            body += pbwire.encode(pbwire.REPOSITORY, fields)
        out += pbwire.varint(key) + pbwire.varint(len(body)) + body
    return [b"\x0a" + pbwire.varint(len(out)) + out] + chunks[1:]


# (credential, payload id, payload name, repository fields repeated after the first or None)
GRPC_CASES = {
    "repo-token own-id other-name": (ALPHA, ALPHA_ID, TARGET, None),
    "repo-token other-id own-name": (ALPHA, TARGET_ID, ALPHA, None),
    "repo-token other-id other-name": (ALPHA, TARGET_ID, TARGET, None),
    "repo-token new-id other-name": (ALPHA, NEW_ID, TARGET, None),
    "repo-token provisional-other": (ALPHA, NEW_ID, PENDING, None),
    "repo-token duplicate-field id": (ALPHA, ALPHA_ID, ALPHA, {"id": TARGET_ID}),
    "repo-token duplicate-field name": (ALPHA, ALPHA_ID, ALPHA, {"full_name": TARGET}),
    "pending-token other-id own-name": (PENDING, TARGET_ID, PENDING, None),
    "pending-token new-id other-name": (PENDING, NEW_ID, TARGET, None),
    "pending-token other-id other-name": (PENDING, TARGET_ID, TARGET, None),
    "pending-token duplicate-field name": (PENDING, NEW_ID, PENDING, {"full_name": ALPHA}),
    "admin-token rename onto other": ("admin", ALPHA_ID, TARGET, None),
    "admin-token new-id other-name": ("admin", NEW_ID, TARGET, None),
    "admin-token provisional-other": ("admin", NEW_ID, PENDING, None),
}


@pytest.mark.parametrize("case", sorted(GRPC_CASES))
def test_grpc_report_for_another_repository_is_refused(tenants, case):
    cred, repo_id, name, more = GRPC_CASES[case]
    chunks = make_report(repo_id, name, next(_run_ids), jobs=1, steps=1)
    if more:
        chunks = with_repeated_fields(chunks, **more)
    token = tenants.admin if cred == "admin" else tenants.token(cred)
    code, details = refused_unchanged(
        tenants, lambda: report_status(tenants.col.grpc_addr, chunks, token))
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
    tenants.everyone_still_works()


# ---- webhooks -----------------------------------------------------------------------------------

def forged_body(repository_json):
    """A signed-looking workflow_job delivery whose repository object is given as JSON text."""
    payload = load_fixture("workflow_job.queued.json")
    payload["workflow_job"]["id"] = next(_run_ids)
    payload["repository"] = "@REPO@"
    return json.dumps(payload).replace('"@REPO@"', repository_json).encode()


def repo_json(repo_id, name, id_key='"id"', name_key='"full_name"', extra=""):
    return ('{%s: %d, "name": "%s", %s: "%s", "html_url": "https://github.com/%s"%s}'
            % (id_key, repo_id, name.split("/")[1], name_key, name, name, extra))


# (signing secret, repository JSON, statuses that count as refused)
DENIED = (403,)
WEBHOOK_CASES = {
    "repo-secret own-id other-name": (ALPHA, repo_json(ALPHA_ID, TARGET), DENIED),
    "repo-secret other-id own-name": (ALPHA, repo_json(TARGET_ID, ALPHA), DENIED),
    # Nothing in these payloads points at alpha, whose secret signed them: its secret is
    # never tried, the signature matches no secret that is.
    "repo-secret other-id other-name": (ALPHA, repo_json(TARGET_ID, TARGET), (401,)),
    "repo-secret new-id other-name": (ALPHA, repo_json(NEW_ID, TARGET), (401,)),
    "repo-secret provisional-other": (ALPHA, repo_json(NEW_ID, PENDING), (401,)),
    "repo-secret escaped id key": (ALPHA, repo_json(TARGET_ID, ALPHA, id_key='"\\u0069d"'),
                                   DENIED),
    "repo-secret escaped name key": (ALPHA, repo_json(ALPHA_ID, TARGET,
                                                      name_key='"full\\u005fname"'), DENIED),
    "repo-secret duplicate id key": (ALPHA, repo_json(ALPHA_ID, ALPHA,
                                                      extra=', "id": %d' % TARGET_ID),
                                     (400, 403)),
    "repo-secret duplicate name key": (ALPHA, repo_json(ALPHA_ID, ALPHA,
                                                        extra=', "full_name": "%s"' % TARGET),
                                       (400, 403)),
    "pending-secret other-id own-name": (PENDING, repo_json(TARGET_ID, PENDING), DENIED),
    "pending-secret new-id other-name": (PENDING, repo_json(NEW_ID, TARGET), (401,)),
    "pending-secret escaped id key": (PENDING, repo_json(TARGET_ID, PENDING,
                                                         id_key='"\\u0069d"'), DENIED),
    "org-secret rename onto other": ("org", repo_json(ALPHA_ID, TARGET), DENIED),
    "org-secret new-id other-name": ("org", repo_json(NEW_ID, TARGET), DENIED),
    "org-secret provisional-other": ("org", repo_json(NEW_ID, PENDING), DENIED),
    "org-secret escaped id key": ("org", repo_json(TARGET_ID, ALPHA, id_key='"\\u0069d"'),
                                  DENIED),
    "org-secret duplicate id key": ("org", repo_json(ALPHA_ID, ALPHA,
                                                     extra=', "id": %d' % TARGET_ID),
                                    (400, 403)),
}


@pytest.mark.parametrize("case", sorted(WEBHOOK_CASES))
def test_webhook_for_another_repository_is_refused(tenants, case):
    cred, repository, statuses = WEBHOOK_CASES[case]
    body = forged_body(repository)
    secret = ORG_SECRET if cred == "org" else tenants.secret(cred)
    status, out = refused_unchanged(
        tenants, lambda: post_webhook(tenants.col, "workflow_job", None, raw=body, secret=secret))
    assert status in statuses, (status, out)
    assert out["error"]["code"] and secret not in json.dumps(out)
    tenants.everyone_still_works()


def test_org_secret_still_writes_to_any_repository(tenants):
    """What the organisation secret is for: every repository, under its own id and name."""
    for name, repo_id in ((ALPHA, ALPHA_ID), (TARGET, TARGET_ID)):
        payload = load_fixture("workflow_job.queued.json")
        payload["repository"] = repo_obj(repo_id, name)
        payload["workflow_job"]["id"] = job_id = next(_run_ids)
        status, out = post_webhook(tenants.col, "workflow_job", payload, secret=ORG_SECRET)
        assert status == 200, out
        assert tenants.db.scalar("SELECT repo_id FROM jobs WHERE job_id = %s",
                                 (job_id,)) == repo_id


def test_rename_with_matching_id_to_a_free_name(tenants):
    """GitHub renamed alpha: its own credentials carry the new name with the same id."""
    payload = load_fixture("workflow_job.queued.json")
    payload["repository"] = repo_obj(ALPHA_ID, "acme/alpha-renamed")
    status, out = post_webhook(tenants.col, "workflow_job", payload, secret=tenants.secret(ALPHA))
    assert status == 200, out
    assert tenants.db.scalar("SELECT full_name FROM repositories WHERE id = %s",
                             (ALPHA_ID,)) == "acme/alpha-renamed"
    code, details = report_status(tenants.col.grpc_addr,
                                  make_report(ALPHA_ID, "acme/alpha-again", next(_run_ids)),
                                  tenants.token(ALPHA))
    assert code == grpc.StatusCode.OK, details
    assert tenants.db.scalar("SELECT full_name FROM repositories WHERE id = %s",
                             (ALPHA_ID,)) == "acme/alpha-again"


# ---- poller -------------------------------------------------------------------------------------

# (repository polled, what GitHub's answer says the run's repository is)
POLLER_CASES = {
    "alpha own-id other-name": (ALPHA, ALPHA_ID, TARGET),
    "alpha other-id own-name": (ALPHA, TARGET_ID, ALPHA),
    "alpha other-id other-name": (ALPHA, TARGET_ID, TARGET),
    "pending other-id other-name": (PENDING, TARGET_ID, TARGET),
    "pending other-id own-name": (PENDING, TARGET_ID, PENDING),
    "pending new-id other-name": (PENDING, NEW_ID, ALPHA),
}


@pytest.mark.parametrize("case", sorted(POLLER_CASES))
def test_poller_input_for_another_repository_is_refused(tenants, github, case):
    polled, repo_id, name = POLLER_CASES[case]
    fake = FakeGitHub(github, polled, repo_id)
    run_id = next(_run_ids)
    run = fake.add_run(run_id, jobs=[FakeGitHub.make_job(run_id * 10, run_id)])
    with fake.lock:
        run["repository"] = copy.deepcopy(repo_obj(repo_id, name))

    def poll():
        return tenants.col.http("POST", "/api/v1/poll/run", {"repo": polled},
                                headers=tenants.col.admin_headers(), timeout=120)

    status, out = refused_unchanged(tenants, poll)
    assert status == 200, out  # the poll itself ran: the run was read and skipped
    assert fake.served, "the poller never read the runs"
    tenants.everyone_still_works()
