"""Merge rules with webhooks: out-of-order, duplicated and partial events end in the same rows as
the clean sequence; completed events without steps keep the steps; re-runs are new attempts."""
import copy
import json
import random

from harness import load_fixture
from ghutil import dump, post_webhook, register_repo, rows_from_payloads

REPO = "Codertocat/Hello-World"
RUN_ID = 2202229078


def lifecycle():
    """A consistent run of one job, as GitHub would send it, built from the real payloads:
    run requested, job queued, job in_progress, job completed, run in_progress, run completed."""
    done = load_fixture("workflow_job.completed.failure.with-organization.json")
    job = done["workflow_job"]
    base_run = load_fixture("workflow_run.completed.json")
    events = []

    def run_event(action, status, conclusion, updated):
        p = copy.deepcopy(base_run)
        p["action"] = action
        p["repository"] = copy.deepcopy(done["repository"])
        r = p["workflow_run"]
        r.update(id=RUN_ID, run_attempt=1, status=status, conclusion=conclusion,
                 updated_at=updated, name=job["workflow_name"], head_sha=job["head_sha"],
                 head_branch=job["head_branch"], created_at="2021-08-05T10:33:50Z",
                 run_started_at="2021-08-05T10:33:50Z")
        p["workflow"]["name"] = job["workflow_name"]
        return ("workflow_run", p)

    def job_event(action, mutate):
        p = copy.deepcopy(done)
        p["action"] = action
        mutate(p["workflow_job"])
        return ("workflow_job", p)

    def queued(j):
        j.update(status="queued", conclusion=None, started_at=j["created_at"],
                 completed_at=None, steps=[], runner_name=None, runner_id=None)

    def in_progress(j):
        j.update(status="in_progress", conclusion=None, completed_at=None)
        for s in j["steps"][3:]:
            s.update(status="queued", conclusion=None, started_at=None, completed_at=None)
        j["steps"][3].update(status="in_progress", started_at="2021-08-05T10:26:12.000Z")

    events.append(run_event("requested", "queued", None, "2021-08-05T10:33:50Z"))
    events.append(job_event("queued", queued))
    events.append(job_event("in_progress", in_progress))
    events.append(run_event("in_progress", "in_progress", None, "2021-08-05T10:34:58Z"))
    events.append(job_event("completed", lambda j: None))
    events.append(run_event("completed", "completed", "failure", "2021-08-05T10:38:20Z"))
    return events


def final_rows(events):
    """The rows the lifecycle must end in, from its last run and job payloads."""
    return rows_from_payloads([p for e, p in events if e == "workflow_run"][-1],
                              [[p for e, p in events if e == "workflow_job"][-1]])


def wipe(db):
    db.execute("TRUNCATE workflows, workflow_runs, jobs, steps, logs, webhook_deliveries CASCADE")


def send_all(collector, events):
    for event, payload in events:
        status, out = post_webhook(collector, event, payload)
        assert status == 200, out


def test_out_of_order_and_duplicates_end_in_the_clean_state(collector, db):
    register_repo(db, REPO)
    events = lifecycle()
    # The truth: the final payloads themselves, field by field (not the collector's own rows).
    clean = final_rows(events)
    assert clean["jobs"][0]["conclusion"] == "failure" and len(clean["steps"]) == 12
    send_all(collector, events)
    assert dump(db) == clean

    rng = random.Random(4)
    orders = [list(reversed(events))]
    for _ in range(12):
        o = events[:]
        rng.shuffle(o)
        orders.append(o)
    # Duplicated deliveries (GitHub redelivers) mixed in.
    orders.append(events + events[:3])
    for order in orders:
        wipe(db)
        send_all(collector, order)
        got = dump(db)
        assert got == clean, [(e, p["action"]) for e, p in order]


def test_late_in_progress_does_not_reopen_and_queued_does_not_move_started_at(collector, db):
    register_repo(db, REPO)
    events = dict(((e, p["action"]), p) for e, p in lifecycle())
    send_all(collector, [("workflow_job", events[("workflow_job", "completed")])])
    before = dump(db)
    send_all(collector, [("workflow_job", events[("workflow_job", "in_progress")]),
                         ("workflow_job", events[("workflow_job", "queued")])])
    assert dump(db) == before
    job = before["jobs"][0]
    # Queue time = started_at - created_at, from the job's own times.
    assert (job["started_at"] - job["created_at"]).total_seconds() == 60


def test_completed_without_steps_keeps_the_steps(collector, db):
    register_repo(db, REPO)
    events = dict(((e, p["action"]), p) for e, p in lifecycle())
    done = events[("workflow_job", "completed")]
    send_all(collector, [("workflow_job", done)])
    steps = dump(db)["steps"]
    bare = copy.deepcopy(done)
    bare["workflow_job"]["steps"] = []
    bare["workflow_job"]["conclusion"] = "failure"
    send_all(collector, [("workflow_job", bare)])
    assert dump(db)["steps"] == steps
    # And steps reported as null: the same.
    bare["workflow_job"]["steps"] = None
    send_all(collector, [("workflow_job", bare)])
    assert dump(db)["steps"] == steps


def test_rerun_is_a_new_attempt(collector, db):
    register_repo(db, REPO)
    events = lifecycle()
    send_all(collector, events)
    first = dump(db)
    rerun = []
    for event, payload in events:
        p = json.loads(json.dumps(payload))
        if event == "workflow_run":
            p["workflow_run"]["run_attempt"] = 2
            p["workflow_run"]["updated_at"] = p["workflow_run"]["updated_at"].replace("T10", "T11")
            if p["workflow_run"]["conclusion"]:
                p["workflow_run"]["conclusion"] = "success"
        else:
            p["workflow_job"]["run_attempt"] = 2
            p["workflow_job"]["id"] += 1
            if p["workflow_job"]["conclusion"]:
                p["workflow_job"]["conclusion"] = "success"
        rerun.append((event, p))
    send_all(collector, rerun)
    runs = db.query("SELECT run_attempt, status, conclusion FROM workflow_runs "
                    "WHERE run_id = %s ORDER BY run_attempt", (RUN_ID,))
    assert runs == [{"run_attempt": 1, "status": "completed", "conclusion": "failure"},
                    {"run_attempt": 2, "status": "completed", "conclusion": "success"}]
    jobs = db.query("SELECT run_attempt, conclusion FROM jobs ORDER BY run_attempt")
    assert jobs == [{"run_attempt": 1, "conclusion": "failure"},
                    {"run_attempt": 2, "conclusion": "success"}]
    # Both attempts, field by field, as their own payloads say.
    one, two = final_rows(events), final_rows(rerun)
    assert two["workflows"] == one["workflows"]
    assert dump(db) == {k: one[k] + two[k] if k != "workflows" else one[k] for k in one}
    # The first attempt is untouched.
    after = dump(db)
    assert [r for r in after["workflow_runs"] if r["run_attempt"] == 1] == first["workflow_runs"]
    assert [j for j in after["jobs"] if j["run_attempt"] == 1] == first["jobs"]


def test_recreated_workflow_file_takes_over_its_path(collector, db):
    """A workflow file deleted and created again gets a new workflow id at the same path. Its runs
    are stored (no 400 from the path index); the path belongs to the newer workflow, and a late
    delivery of the older workflow does not take it back."""
    register_repo(db, REPO)
    events = lifecycle()
    send_all(collector, events)
    old_id = [p for e, p in events if e == "workflow_run"][-1]["workflow"]["id"]
    newer = []
    for event, payload in events:
        if event != "workflow_run":
            continue
        p = json.loads(json.dumps(payload))
        p["workflow_run"]["id"] = RUN_ID + 1
        p["workflow_run"]["workflow_id"] = old_id + 1000
        p["workflow"]["id"] = old_id + 1000
        newer.append((event, p))
    send_all(collector, newer)
    path = newer[-1][1]["workflow"]["path"]
    rows = db.query("SELECT id, path FROM workflows ORDER BY id")
    assert rows == [{"id": old_id, "path": None}, {"id": old_id + 1000, "path": path}]
    runs = db.query("SELECT run_id, workflow_id FROM workflow_runs ORDER BY run_id")
    assert runs == [{"run_id": RUN_ID, "workflow_id": old_id},
                    {"run_id": RUN_ID + 1, "workflow_id": old_id + 1000}]
    # A late delivery for the older workflow: stored, and the path stays with the newer one.
    late = json.loads(json.dumps(events[-1][1]))
    late["workflow_run"]["updated_at"] = "2021-08-05T10:39:00Z"
    status, out = post_webhook(collector, "workflow_run", late)
    assert status == 200, out
    assert db.query("SELECT id, path FROM workflows ORDER BY id") == rows
