"""The schema stays distributable by repository (docs/scaling.md, Citus): every primary key,
unique constraint or index and foreign key of a table that holds pipeline data includes repo_id,
so that each of them can be enforced on one shard. The tables that are not distributed by
repository are listed below with the reason, and the plan for each on Citus; a new table must
either key by repo_id or be added here (and to docs/scaling.md) on purpose."""

# Reference tables: small, written rarely, copied to every Citus node (create_reference_table);
# distributed tables may hold foreign keys to them.
REFERENCE = {
    "repositories": "the repository itself: its id is the distribution value",
    "api_tokens": "a token is looked up by its hash before its repository is known",
    "notification_channels": "configuration, a handful of rows",
    "alert_rules": "configuration; scoped rules (repo_id NULL) apply to every repository",
    "silences": "configuration; a silence may span every repository",
    "schema_migrations": "migration bookkeeping",
    "cluster_leases": "which collector leads; one row per duty",
    "failure_groups": "one row per distinct error, shared by every repository on purpose "
                      "(failure groups span repositories); written once per new fingerprint",
    "users": "accounts: looked up by name or session before any repository is involved",
    "sessions": "looked up by the cookie's hash on every signed-in request; belongs to users",
    "github_installations": "GitHub App installations: one per organisation, above the "
                            "repositories they hold (repositories.installation_id)",
}
# Kept on the coordinator (local tables): looked up by a key that arrives before the
# repository is known, or cluster-wide queues that the alerting sweep reads across repositories.
LOCAL = {
    "webhook_deliveries": "de-duplicated by X-GitHub-Delivery before the payload is parsed "
                          "(ping events have no repository)",
    "reports": "de-duplicated by the agent's report id before the report is parsed",
    "alerts": "opened once per condition key across the cluster (alerts_open_idx); a few rows "
              "per failing workflow",
    "notifications": "the outbox, claimed across repositories with FOR UPDATE SKIP LOCKED",
    "alert_runs": "belongs to alerts (foreign key to alerts.id)",
    "audit_log": "who changed what, across repositories and settings; read by time and actor",
    "login_failures": "sign-in failure counts per address and account, before any user or "
                      "repository is known",
    "github_signin_states": "GitHub sign-ins under way, found by the state's hash before any "
                            "user or repository is known; rows live 10 minutes",
    "visibility_cache": "a user's readable repositories (an id array), looked up by the user "
                        "before any repository is read",
    "rollup_changes": "the buckets of the rollup each transaction changed, across repositories: "
                      "the all-repository cache asks what changed since its snapshot (sql/022)",
    "rollup_changes_horizon": "one row: how far rollup_changes is kept",
}


def keys(db):
    """(table, kind, name, columns, referenced table, referenced columns) of every primary,
    unique and foreign key, and of every unique index that is not a constraint's."""
    rows = db.query("""
        SELECT c.conrelid::regclass::text AS tbl, c.contype AS kind, c.conname AS name,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY u(k, o)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.k
                     ORDER BY u.o) AS cols,
               c.confrelid::regclass::text AS ref,
               ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY u(k, o)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.k
                     ORDER BY u.o) AS refcols
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')
        UNION ALL
        SELECT i.indrelid::regclass::text, 'i', ic.relname::text,
               ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY u(k, o)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.k
                     ORDER BY u.o),
               '-', '{}'
          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_namespace n ON n.oid = ic.relnamespace
         WHERE n.nspname = 'public' AND i.indisunique
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""")
    return rows


def distributed_tables(db):
    tables = {r["relname"] for r in db.query(
        "SELECT c.relname::text AS relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")}
    # The lists stay true: every table named exists.
    assert set(REFERENCE) | set(LOCAL) <= tables, (set(REFERENCE) | set(LOCAL)) - tables
    return tables - set(REFERENCE) - set(LOCAL)


def violations(db):
    """What breaks the rule: tables without a NOT NULL repo_id, keys without repo_id, foreign
    keys between distributed tables that do not match repo_id with repo_id."""
    distributed = distributed_tables(db)
    bad = []
    for t in sorted(distributed):
        notnull = db.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = %s::regclass "
                            "AND attname = 'repo_id'", (t,))
        if notnull is not True:
            bad.append("%s: no NOT NULL repo_id column" % t)
    for k in keys(db):
        if k["tbl"] not in distributed:
            continue
        if "repo_id" not in k["cols"]:
            bad.append("%s: %s %s%r" % (k["tbl"], k["kind"], k["name"], k["cols"]))
        elif k["kind"] == "f" and k["ref"] not in REFERENCE:
            # Between distributed tables, both sides on the same repository (co-located).
            pos = k["cols"].index("repo_id")
            if k["refcols"][pos] != "repo_id":
                bad.append("%s: %s %s%r -> %s%r" % (k["tbl"], k["kind"], k["name"], k["cols"],
                                                     k["ref"], k["refcols"]))
    return bad


def test_every_key_of_a_distributed_table_includes_repo_id(collector, db):
    assert {"workflows", "workflow_runs", "jobs", "steps", "logs"} <= distributed_tables(db)
    assert violations(db) == [], "add repo_id to these keys, or list the table above (and in "\
        "docs/scaling.md) with a reason"


def test_the_check_finds_a_key_without_repo_id(collector, db):
    """The check can fail: a table keyed by run id alone, and a foreign key from a distributed
    table that does not go through repo_id, are both found."""
    db.execute("CREATE TABLE run_notes (repo_id bigint NOT NULL, run_id bigint PRIMARY KEY)")
    db.execute("CREATE TABLE job_tags (repo_id bigint NOT NULL, job_id bigint NOT NULL, "
               "tag text, PRIMARY KEY (repo_id, job_id, tag), "
               "FOREIGN KEY (repo_id, job_id) REFERENCES jobs (job_id, repo_id))")
    bad = violations(db)
    assert any(b.startswith("run_notes: p ") for b in bad), bad
    assert any(b.startswith("job_tags: f ") for b in bad), bad
    assert len(bad) == 2, bad
